//! The site's own private keys under `[outbox] keys` (issue 15: keys never
//! travel): `<line>/key.pem` (the one the service uses), `<line>/next/
//! key.pem` (its staged successor), `<line>/old/<stamp>.pem` (the keys
//! replaced). PKCS#8 PEM (RFC 5958), ECDSA P-256 or P-384 made by ring
//! through rcgen, mode 0600 in directories of mode 0700, each written
//! atomically (temporary file, fsync, rename). A key file that group or
//! others may read is refused (65), the rule certdrop-core's keymode
//! states for every key the project reads.
//!
//! The promotion (a next key whose certificate is published becomes the
//! key) is a step of the service's deployment (src/csr/promote.rs); here
//! are its file operations: a key written with its date kept, and the
//! retirement of the replaced key to old/ once the new pair is served.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use certdrop_core::atomic::{self, MODE_SECRET, MODE_SECRET_DIR};
use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::keymode;
use rcgen::{KeyPair, PublicKeyData};

use crate::config::outbox::{KeyKind, Outbox};
use crate::input;

/// One key file, loaded.
pub struct Key {
    /// Where it is.
    pub path: PathBuf,
    /// The key pair (rcgen, ring).
    pub pair: KeyPair,
    /// Its type, if one `csr` makes.
    pub kind: Option<KeyKind>,
    /// DER of its SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
    pub spki: Vec<u8>,
    /// How long ago it was made (its file's modification time).
    pub age: Duration,
}

impl Key {
    /// SHA-256 of the SPKI: the TLSA 3 1 1 data, the outbox's `spki`.
    pub fn digest(&self) -> [u8; 32] {
        certdrop_core::certinfo::spki_sha256(&self.spki)
    }
}

/// A bad key file (65): `<file>: <why>`.
fn bad(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::data(format!("{}: {why}", path.display()))
}

/// Read the key at `path`; `None` if there is none. A file open to group
/// or others is refused before it is read (65), as is one that is not an
/// unencrypted PKCS#8 key ring can use.
pub fn load(path: &Path) -> Result<Option<Key>> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::unreadable(path, "cannot read", &e)),
    };
    keymode::check(path, &meta, None)?;
    let bytes = input::local(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(path, "not PEM text"))?;
    let pair = KeyPair::from_pem(text).map_err(|e| {
        bad(
            path,
            format!("not an unencrypted PKCS#8 key (BEGIN PRIVATE KEY) ring can use: {e}"),
        )
    })?;
    let age = meta
        .modified()
        .ok()
        .and_then(|m| SystemTime::now().duration_since(m).ok())
        .unwrap_or_default();
    Ok(Some(Key {
        path: path.to_path_buf(),
        kind: kind_of(&pair),
        spki: pair.subject_public_key_info(),
        pair,
        age,
    }))
}

fn kind_of(pair: &KeyPair) -> Option<KeyKind> {
    [KeyKind::P256, KeyKind::P384]
        .into_iter()
        .find(|k| pair.algorithm() == k.algorithm())
}

/// Make a new key of `kind` at `path` (its directories made 0700 up to
/// `keys`), written atomically with mode 0600.
pub fn make(keys: &Path, path: &Path, kind: KeyKind) -> Result<Key> {
    let pair = KeyPair::generate_for(kind.algorithm())
        .map_err(|e| Error::software(format!("{}: cannot make a key: {e}", path.display())))?;
    let pem = pair.serialize_pem();
    secret_dirs(keys, path)
        .map_err(|e| Error::cantcreat(path, "cannot create its directory", &e))?;
    atomic::write(path, pem.as_bytes(), MODE_SECRET)
        .map_err(|e| Error::cantcreat(path, "cannot write", &e))?;
    Ok(Key {
        path: path.to_path_buf(),
        kind: Some(kind),
        spki: pair.subject_public_key_info(),
        pair,
        age: Duration::ZERO,
    })
}

/// Every directory from `keys` down to `file`'s parent, mode 0700.
fn secret_dirs(keys: &Path, file: &Path) -> io::Result<()> {
    let parent = file.parent().unwrap_or(keys);
    atomic::ensure_dir(keys, MODE_SECRET_DIR)?;
    let mut dir = keys.to_path_buf();
    for part in parent
        .strip_prefix(keys)
        .unwrap_or(Path::new(""))
        .components()
    {
        dir.push(part);
        atomic::ensure_dir(&dir, MODE_SECRET_DIR)?;
    }
    Ok(())
}

/// Retire the key a delivered promotion replaced: `kept` (the copy of it
/// made before key.pem was overwritten, `next/previous.pem`) is renamed to
/// `old/<stamp>.pem` (0600, in a 0700 directory), then `next/key.pem`,
/// now key.pem, is removed, leaving `next/` empty. Returns where the old
/// key went (`None` when a crash between the two steps already moved it).
/// A crash before the rename leaves the promotion to finish at the next
/// delivery; after it, `next/key.pem` is the key.pem already in service.
pub fn retire(outbox: &Outbox, line: &str, kept: &Path) -> Result<Option<PathBuf>> {
    let next = outbox.next_key(line);
    let old_dir = outbox.old_keys(line);
    let mut moved = None;
    if std::fs::symlink_metadata(kept).is_ok() {
        let made = |e: io::Error| Error::cantcreat(&old_dir, "cannot create", &e);
        secret_dirs(&outbox.keys, &old_dir.join("key.pem")).map_err(made)?;
        // Never over an earlier old key: a second one in the same second
        // gets `<stamp>-001.pem`.
        let stamp = clock::stamp(clock::now());
        let old = (0..1000)
            .map(|n| match n {
                0 => old_dir.join(format!("{stamp}.pem")),
                n => old_dir.join(format!("{stamp}-{n:03}.pem")),
            })
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .ok_or_else(|| {
                Error::cantcreat(
                    &old_dir,
                    "cannot create",
                    &io::ErrorKind::AlreadyExists.into(),
                )
            })?;
        atomic::rename(kept, &old)
            .and_then(|()| atomic::sync_parent(kept))
            .map_err(|e| Error::cantcreat(&old, "cannot move the previous key", &e))?;
        moved = Some(old);
    }
    atomic::remove(&next).map_err(|e| Error::cantcreat(&next, "cannot remove", &e))?;
    Ok(moved)
}

/// Write `bytes` to `to` as a key (0600, atomically) dated `modified`, so
/// that a key put back keeps the age max_key_age is counted from.
pub fn write_dated(to: &Path, bytes: &[u8], modified: Option<SystemTime>) -> Result<()> {
    atomic::write(to, bytes, MODE_SECRET).map_err(|e| Error::cantcreat(to, "cannot write", &e))?;
    if let Some(t) = modified {
        // Only the age: a failure costs an early next key, never the key.
        let _ = std::fs::File::open(to).and_then(|f| f.set_modified(t));
    }
    Ok(())
}
