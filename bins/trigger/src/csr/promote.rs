//! `run`'s side of a staged key rollover across sites (issue 15): when
//! the certificate a `[[csr]]` line publishes (pub/<line>, as the trigger
//! verified it against allowed_signers) is for the staged next key
//! (keys/<line>/next/key.pem), that key becomes keys/<line>/key.pem as a
//! step of the service's deployment (src/deploy.rs), so that the
//! certificate and the key the service reads never disagree:
//!
//! - the files are judged with the next key standing for key.pem;
//! - key.pem is overwritten with the next key only after the key it holds
//!   is kept, durably, as `next/previous.pem`; `next/key.pem` stays;
//! - a failed pre-flight or a rollback puts the kept key back when the
//!   certificates the service reads go back too (they were installed by
//!   this run); otherwise those certificates are the next key's (the
//!   judge checked the pair) and key.pem stays with them;
//! - only once the new pair is served (the post-flight) is the previous
//!   key retired to `old/<stamp>.pem` and `next/` left empty.
//!
//! When is key.pem written? A service without `install` reads its
//! certificate from pub/ directly, a pair of which the trigger holds only
//! one half: the pull switched the certificate already, so key.pem follows
//! it at once, before the files are discovered (`nginx -T` loads the pair
//! and refuses a mismatch) and judged; the window left is from the pull's
//! switch to this run. A service with `install` gets it after its
//! install, just before its pre-flight. A crash anywhere leaves `next/key.pem` and the kept
//! key, and the next run (finding key.pem already the next key) finishes
//! the promotion. A certificate for neither key promotes nothing: the
//! key check refuses it as before (65).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use certdrop_core::certinfo;
use certdrop_core::error::{Error, Result};

use crate::config::outbox::Outbox;
use crate::config::Service;
use crate::csr::keys;
use crate::ctx::Ctx;
use crate::keymatch::{self, PublicKey};
use crate::manifest::Verified;
use crate::material::Overrides;

/// Files the published line may carry the leaf in, first found wins.
const LEAF_FILES: [&str; 2] = ["cert.pem", "fullchain.pem"];
/// The key a promotion replaces, kept beside the next key until retired.
const KEPT: &str = "previous.pem";

/// A staged next key whose certificate the line publishes.
pub struct Promotion {
    /// The line's outbox settings (where its keys are).
    outbox: Outbox,
    /// The line.
    line: String,
    /// `keys/<line>/key.pem`.
    pub key: PathBuf,
    /// `keys/<line>/next/key.pem`.
    pub next: PathBuf,
    /// `keys/<line>/next/previous.pem`.
    kept: PathBuf,
    /// The next key's bytes.
    bytes: Vec<u8>,
    /// Whether key.pem already is the next key (a run that wrote it did
    /// not finish).
    pub in_place: bool,
    /// Whether the service reads the certificate from pub/ directly (it
    /// has no `install`): then key.pem follows it before the files are
    /// discovered and judged, and is never put back.
    pub early: bool,
}

/// The promotion `svc`'s line is due for, if any: its next key's
/// certificate is the published one.
pub fn staged(ctx: &Ctx, svc: &Service, line: Option<&Verified>) -> Result<Option<Promotion>> {
    let (Some(outbox), Some(name), Some(line)) = (&ctx.config.outbox, &svc.line, line) else {
        return Ok(None);
    };
    if outbox.line(name).is_none() {
        return Ok(None);
    }
    let next = outbox.next_key(name);
    if std::fs::symlink_metadata(&next).is_err() {
        return Ok(None);
    }
    // What cannot be read here is the key check's to report, in its words.
    let Some(leaf) = published_leaf(line) else {
        return Ok(None);
    };
    let Some(staged) = keys::load(&next)? else {
        return Ok(None);
    };
    if !same(&staged.spki, &leaf) {
        return Ok(None);
    }
    let bytes = std::fs::read(&next).map_err(|e| Error::unreadable(&next, "cannot read", &e))?;
    let key = outbox.key(name);
    let in_place = std::fs::read(&key).is_ok_and(|b| b == bytes);
    // Without `install` the service reads the line's files where pub/
    // has them (only its key is ours to switch).
    let early = svc.install.is_empty();
    Ok(Some(Promotion {
        outbox: outbox.clone(),
        line: name.clone(),
        kept: next.with_file_name(KEPT),
        key,
        next,
        bytes,
        in_place,
        early,
    }))
}

impl Promotion {
    /// key.pem as it will be: the judge reads this instead of the file.
    pub fn overrides(&self) -> Overrides {
        Overrides::from([(self.key.clone(), self.bytes.clone())])
    }

    /// Make the next key key.pem: keep the key it holds (with its date) as
    /// `next/previous.pem` first, durably, then write key.pem. Nothing to
    /// do when key.pem already is the next key (its kept copy stays).
    pub fn put(&self) -> Result<()> {
        if std::fs::read(&self.key).is_ok_and(|b| b == self.bytes) {
            return Ok(());
        }
        let current = std::fs::read(&self.key)
            .map_err(|e| Error::unreadable(&self.key, "cannot read", &e))?;
        keys::write_dated(&self.kept, &current, modified(&self.key))?;
        keys::write_dated(&self.key, &self.bytes, None)
    }

    /// Put the kept key back as key.pem (with its date) and forget it.
    /// Without a kept key there is nothing to put back.
    pub fn undo(&self) -> Result<()> {
        let old = match std::fs::read(&self.kept) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::unreadable(&self.kept, "cannot read", &e)),
        };
        keys::write_dated(&self.key, &old, modified(&self.kept))?;
        certdrop_core::atomic::remove(&self.kept)
            .map_err(|e| Error::cantcreat(&self.kept, "cannot remove", &e))
    }

    /// The new pair is served: retire the previous key to old/, empty
    /// next/. Returns where the previous key went.
    pub fn retire(&self) -> Result<Option<PathBuf>> {
        keys::retire(&self.outbox, &self.line, &self.kept)
    }
}

/// A file's modification time, if it can be read.
fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The public key of the line's leaf, if a file of it holds one.
fn published_leaf(line: &Verified) -> Option<PublicKey> {
    let bytes = LEAF_FILES
        .iter()
        .find(|f| line.dir.join(f).exists())
        .and_then(|f| line.read(f).ok())?;
    let der = pem::parse_many(&bytes)
        .ok()?
        .into_iter()
        .find(|b| b.tag() == "CERTIFICATE")?
        .into_contents();
    let leaf = certinfo::parse_der(&der).ok()?;
    keymatch::from_spki(&leaf.spki).ok()
}

/// Whether `spki` (a key's SubjectPublicKeyInfo DER) is `leaf`'s key.
fn same(spki: &[u8], leaf: &PublicKey) -> bool {
    keymatch::from_spki(spki).is_ok_and(|k| k == *leaf)
}
