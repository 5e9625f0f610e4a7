//! The certificate store (DESIGN.md, "Certificate store"). Public material
//! and secrets live in separate trees so a jail can mount one without the
//! other:
//!
//! ```text
//! certs/<line>            -> .v/<line>.<stamp>   (symlink, switched atomically)
//! certs/.v/<line>.<stamp>/cert.pem chain.pem fullchain.pem pubkey.pem next/pubkey.pem
//! keys/<line>/key.pem  keys/<line>/next/key.pem     (0600, dirs 0700)
//! archive/<line>/<stamp>/...                        (rotating backups, 0700)
//! ```
//!
//! A new set of files becomes visible all at once: it is written into a new
//! version directory, which the line's symlink is then renamed onto. A
//! reader that opens `certs/<line>/cert.pem` and `certs/<line>/fullchain.pem`
//! sees one version or the other, never a mix; a crash leaves the old set.
//! A version can also be staged first and switched on later
//! ([`Store::stage`], [`Store::activate`]), so that a key can be promoted
//! between the two (certdrop-issue's commit).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::atomic::{self, Durability, MODE_PUBLIC, MODE_PUBLIC_DIR, MODE_SECRET, MODE_SECRET_DIR};
use crate::versions::{self, unique_name};

/// Leaf certificate file.
pub const CERT: &str = "cert.pem";
/// Intermediates file.
pub const CHAIN: &str = "chain.pem";
/// Leaf followed by intermediates.
pub const FULLCHAIN: &str = "fullchain.pem";
/// The leaf's public key (SubjectPublicKeyInfo, PEM).
pub const PUBKEY: &str = "pubkey.pem";
/// Private key file in `keys/<line>/`.
pub const KEY: &str = "key.pem";
/// Subdirectory for the staged next key.
pub const NEXT: &str = "next";
/// Subdirectory for the retiring previous key after a rollover: its TLSA
/// record stays until the services serve the new certificate.
pub const PREV: &str = "prev";
/// Directory of versions inside `certs/` (the layout of core::versions).
pub const VERSIONS: &str = versions::DIR;
/// Versions of a line kept besides the current one, for readers in flight.
const KEEP_VERSIONS: usize = 1;

/// The public files of one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    /// Leaf certificate, PEM.
    pub cert: Vec<u8>,
    /// Intermediates, PEM.
    pub chain: Vec<u8>,
    /// Leaf and intermediates, PEM.
    pub fullchain: Vec<u8>,
    /// Public key, PEM.
    pub pubkey: Vec<u8>,
}

impl CertFiles {
    /// Create `dir` with `dir_mode` and write the four files into it.
    fn write_into(&self, dir: &Path, dir_mode: u32, mode: u32, d: Durability) -> io::Result<()> {
        fs::create_dir(dir)?;
        fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(dir_mode))?;
        self.write_files(dir, mode, d)
    }

    /// Write the four files into the existing `dir`.
    fn write_files(&self, dir: &Path, mode: u32, d: Durability) -> io::Result<()> {
        for (file, data) in [
            (CERT, &self.cert),
            (CHAIN, &self.chain),
            (FULLCHAIN, &self.fullchain),
            (PUBKEY, &self.pubkey),
        ] {
            atomic::write_with(&dir.join(file), data, mode, None, d)?;
        }
        Ok(())
    }

    /// Whether these are the files of one certificate, whole: none empty,
    /// the fullchain the leaf followed by the chain, the public key a PEM
    /// block. A set a crash tore (a file empty or cut short) is not.
    pub fn is_whole(&self) -> bool {
        let pem = |b: &[u8]| b.starts_with(b"-----BEGIN ") && b.ends_with(b"-----\n");
        pem(&self.cert)
            && pem(&self.pubkey)
            && (self.chain.is_empty() || pem(&self.chain))
            && self.fullchain.len() == self.cert.len() + self.chain.len()
            && self.fullchain.starts_with(&self.cert)
            && self.fullchain.ends_with(&self.chain)
    }
}

/// A backup written by [`Store::archive_grouped`], not yet under its name.
#[derive(Debug)]
pub struct Backup {
    tmp: PathBuf,
    dest: PathBuf,
    /// The files and directories to make durable before [`Store::archive_finish`].
    pub paths: Vec<PathBuf>,
}

/// The three trees of the store.
#[derive(Debug, Clone)]
pub struct Store {
    /// Public tree, shared read-only with other jails.
    pub certs: PathBuf,
    /// Secret tree, never shared.
    pub keys: PathBuf,
    /// Rotating backups (holds keys: as secret as `keys/`).
    pub archive: PathBuf,
    /// Backups kept per line.
    pub keep: usize,
}

impl Store {
    /// `certs/<line>`.
    pub fn line_dir(&self, line: &str) -> PathBuf {
        self.certs.join(line)
    }

    /// `certs/<line>/<file>`.
    pub fn cert_path(&self, line: &str, file: &str) -> PathBuf {
        self.line_dir(line).join(file)
    }

    /// `certs/<line>/next/pubkey.pem`.
    pub fn next_pub_path(&self, line: &str) -> PathBuf {
        self.line_dir(line).join(NEXT).join(PUBKEY)
    }

    /// `certs/<line>/prev/pubkey.pem`.
    pub fn prev_pub_path(&self, line: &str) -> PathBuf {
        self.line_dir(line).join(PREV).join(PUBKEY)
    }

    /// The retiring previous key's public half, if the line has one.
    pub fn read_prev_pub(&self, line: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.prev_pub_path(line)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `keys/<line>`.
    pub fn key_dir(&self, line: &str) -> PathBuf {
        self.keys.join(line)
    }

    /// `keys/<line>/key.pem`.
    pub fn key_path(&self, line: &str) -> PathBuf {
        self.key_dir(line).join(KEY)
    }

    /// `keys/<line>/next/key.pem`.
    pub fn next_key_path(&self, line: &str) -> PathBuf {
        self.key_dir(line).join(NEXT).join(KEY)
    }

    /// Create the trees with their modes.
    pub fn ensure(&self) -> io::Result<()> {
        atomic::ensure_dir(&self.certs, MODE_PUBLIC_DIR)?;
        atomic::ensure_dir(&self.certs.join(VERSIONS), MODE_PUBLIC_DIR)?;
        atomic::ensure_dir(&self.keys, MODE_SECRET_DIR)?;
        atomic::ensure_dir(&self.archive, MODE_SECRET_DIR)
    }

    /// The current public files of a line, if it has a certificate.
    pub fn read_current(&self, line: &str) -> io::Result<Option<CertFiles>> {
        let dir = self.line_dir(line);
        let read = |name: &str| fs::read(dir.join(name));
        match read(CERT) {
            Ok(cert) => Ok(Some(CertFiles {
                cert,
                chain: read(CHAIN)?,
                fullchain: read(FULLCHAIN)?,
                pubkey: read(PUBKEY)?,
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The staged next public key of a line, if any.
    pub fn read_next_pub(&self, line: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.next_pub_path(line)) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Make `files` (or, if `None`, the current files), `next_pub` and
    /// `prev_pub` the line's visible set, all at once: [`Store::stage`]
    /// then [`Store::activate`].
    pub fn publish(
        &self,
        line: &str,
        files: Option<&CertFiles>,
        next_pub: Option<&[u8]>,
        prev_pub: Option<&[u8]>,
    ) -> io::Result<()> {
        let name = self.stage(line, files, next_pub, prev_pub)?;
        self.activate(line, &name)
    }

    /// Write `files` (or, if `None`, the current files), `next_pub` and
    /// `prev_pub` as a new version of the line, durably, without showing
    /// it; returns its name for [`Store::activate`]. Until then it is an
    /// orphan: no reader sees it, it never counts as a version, and the
    /// next writer removes it (core::versions). The caller holds the lock.
    pub fn stage(
        &self,
        line: &str,
        files: Option<&CertFiles>,
        next_pub: Option<&[u8]>,
        prev_pub: Option<&[u8]>,
    ) -> io::Result<String> {
        self.stage_with(line, files, next_pub, prev_pub, Durability::Durable)
            .map(|(name, _)| name)
    }

    /// [`Store::stage`] without a single fsync: returns the version's name
    /// and every file and directory the caller must make durable
    /// ([`atomic::sync_group`], one pass for many lines) before it calls
    /// [`Store::activate_grouped`].
    pub fn stage_grouped(
        &self,
        line: &str,
        files: &CertFiles,
        next_pub: Option<&[u8]>,
        prev_pub: Option<&[u8]>,
    ) -> io::Result<(String, Vec<PathBuf>)> {
        self.stage_with(line, Some(files), next_pub, prev_pub, Durability::Whole)
    }

    fn stage_with(
        &self,
        line: &str,
        files: Option<&CertFiles>,
        next_pub: Option<&[u8]>,
        prev_pub: Option<&[u8]>,
        d: Durability,
    ) -> io::Result<(String, Vec<PathBuf>)> {
        let current;
        let files = match files {
            Some(f) => f,
            None => {
                current = self.read_current(line)?.ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no current certificate")
                })?;
                &current
            }
        };
        let mut paths = Vec::new();
        let durable = d == Durability::Durable;
        let name = versions::prepare_with(&self.certs, line, MODE_PUBLIC_DIR, durable, |dir| {
            files.write_files(dir, MODE_PUBLIC, d)?;
            for file in [CERT, CHAIN, FULLCHAIN, PUBKEY] {
                paths.push(dir.join(file));
            }
            for (sub, key) in [(NEXT, next_pub), (PREV, prev_pub)] {
                if let Some(key) = key {
                    let sub_dir = dir.join(sub);
                    fs::create_dir(&sub_dir)?;
                    fs::set_permissions(&sub_dir, fs::Permissions::from_mode(MODE_PUBLIC_DIR))?;
                    atomic::write_with(&sub_dir.join(PUBKEY), key, MODE_PUBLIC, None, d)?;
                    paths.push(sub_dir.join(PUBKEY));
                    paths.push(sub_dir);
                }
            }
            paths.push(dir.to_path_buf());
            Ok(())
        })?;
        paths.push(self.certs.join(VERSIONS));
        Ok((name, paths))
    }

    /// Switch `certs/<line>` onto the staged version `name` in one rename,
    /// then prune the line's older versions.
    pub fn activate(&self, line: &str, name: &str) -> io::Result<()> {
        versions::activate(&self.certs, line, name, KEEP_VERSIONS)
    }

    /// [`Store::activate`] of a version staged and made durable by the
    /// caller, without the fsync of `certs/` after the switch: the caller
    /// makes `certs/` durable (one pass for many switches).
    pub fn activate_grouped(&self, line: &str, name: &str) -> io::Result<()> {
        versions::activate_with(&self.certs, line, name, KEEP_VERSIONS, false)
    }

    /// The newest version of the line that was staged but never switched
    /// on (left by a writer that stopped between [`Store::stage`] and
    /// [`Store::activate`]), with its certificate files, if it holds all
    /// four, whole ([`CertFiles::is_whole`]). Staging makes every file
    /// durable before anything is switched or promoted, so a whole one is
    /// what the writer meant to show; a torn one (a crash before the grouped
    /// sync) is not taken.
    pub fn staged(&self, line: &str) -> io::Result<Option<(String, CertFiles)>> {
        let Some(name) = versions::orphans(&self.certs, line)?.pop() else {
            return Ok(None);
        };
        let dir = self.certs.join(VERSIONS).join(&name);
        let read = |file: &str| fs::read(dir.join(file));
        match (read(CERT), read(CHAIN), read(FULLCHAIN), read(PUBKEY)) {
            (Ok(cert), Ok(chain), Ok(fullchain), Ok(pubkey)) => {
                let files = CertFiles {
                    cert,
                    chain,
                    fullchain,
                    pubkey,
                };
                Ok(files.is_whole().then_some((name, files)))
            }
            _ => Ok(None),
        }
    }

    /// Copy the line's current certificate files and key into
    /// `archive/<line>/<stamp>/`, then keep only the newest `keep` backups.
    pub fn archive(&self, line: &str) -> io::Result<Option<PathBuf>> {
        let Some(backup) = self.archive_with(line, Durability::Durable)? else {
            return Ok(None);
        };
        atomic::rename(&backup.tmp, &backup.dest)?;
        self.prune_archive(line)?;
        Ok(Some(backup.dest))
    }

    /// [`Store::archive`] in two halves for a grouped sync: the backup is
    /// written under a temporary name without an fsync; the caller makes
    /// [`Backup::paths`] durable, then [`Store::archive_finish`] names it
    /// (and the caller makes `archive/<line>/` durable in its next pass).
    pub fn archive_grouped(&self, line: &str) -> io::Result<Option<Backup>> {
        self.archive_with(line, Durability::Whole)
    }

    /// Give a backup from [`Store::archive_grouped`] its name, then keep
    /// only the newest `keep` backups; returns the directory to make durable.
    pub fn archive_finish(&self, line: &str, backup: Backup) -> io::Result<PathBuf> {
        fs::rename(&backup.tmp, &backup.dest)?;
        self.prune_archive(line)?;
        Ok(self.archive.join(line))
    }

    fn archive_with(&self, line: &str, d: Durability) -> io::Result<Option<Backup>> {
        let Some(files) = self.read_current(line)? else {
            return Ok(None);
        };
        let line_archive = self.archive.join(line);
        atomic::ensure_dir(&line_archive, MODE_SECRET_DIR)?;
        let name = unique_name(&line_archive, "")?;
        let tmp = line_archive.join(format!("{}{name}", atomic::TEMP_PREFIX));
        files.write_into(&tmp, MODE_SECRET_DIR, MODE_SECRET, d)?;
        let mut paths: Vec<PathBuf> = [CERT, CHAIN, FULLCHAIN, PUBKEY]
            .iter()
            .map(|f| tmp.join(f))
            .collect();
        match fs::read(self.key_path(line)) {
            Ok(key) => {
                atomic::write_with(&tmp.join(KEY), &key, MODE_SECRET, None, d)?;
                paths.push(tmp.join(KEY));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        paths.push(tmp.clone());
        let dest = line_archive.join(&name);
        Ok(Some(Backup { tmp, dest, paths }))
    }

    /// The backups of a line, oldest first.
    pub fn backups(&self, line: &str) -> io::Result<Vec<PathBuf>> {
        let dir = self.archive.join(line);
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        names.sort();
        Ok(names.into_iter().map(|n| dir.join(n)).collect())
    }

    fn prune_archive(&self, line: &str) -> io::Result<()> {
        let all = self.backups(line)?;
        let excess = all.len().saturating_sub(self.keep);
        for old in all.into_iter().take(excess) {
            fs::remove_dir_all(old)?;
        }
        Ok(())
    }

    /// Write a private key (0600, directory 0700), atomically.
    pub fn write_key(&self, path: &Path, pem: &[u8]) -> io::Result<()> {
        self.write_key_for(path, pem, None)
    }

    /// [`Store::write_key`]; with `group`, the key is granted to that group
    /// (the service jail that serves the line): 0640 and its directories
    /// 0750, owned by the group. Nothing is ever readable by others.
    pub fn write_key_for(&self, path: &Path, pem: &[u8], group: Option<u32>) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            atomic::ensure_dir(&self.keys, MODE_SECRET_DIR)?;
            let mode = group.map_or(MODE_SECRET_DIR, |_| MODE_GRANTED_DIR);
            atomic::ensure_dir(dir, mode)?;
            if let Some(gid) = group {
                // keys/<line>/ and keys/<line>/next/: the group may enter.
                let mut d = dir;
                while d != self.keys {
                    std::os::unix::fs::chown(d, None, Some(gid))?;
                    fs::set_permissions(d, fs::Permissions::from_mode(MODE_GRANTED_DIR))?;
                    match d.parent() {
                        Some(p) => d = p,
                        None => break,
                    }
                }
            }
        }
        match group {
            None => atomic::write(path, pem, MODE_SECRET),
            Some(_) => atomic::write_group(path, pem, MODE_GRANTED, group),
        }
    }
}

/// A key granted to one service's group.
pub const MODE_GRANTED: u32 = 0o640;
/// The directories of a granted key.
pub const MODE_GRANTED_DIR: u32 = 0o750;

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tag: &str) -> CertFiles {
        let pem = |label: &str| format!("-----BEGIN {label}-----\n{tag}\n-----END {label}-----\n");
        let (cert, chain) = (pem("CERTIFICATE"), pem("CERTIFICATE"));
        CertFiles {
            fullchain: format!("{cert}{chain}").into_bytes(),
            cert: cert.into_bytes(),
            chain: chain.into_bytes(),
            pubkey: pem("PUBLIC KEY").into_bytes(),
        }
    }

    fn store(dir: &Path) -> Store {
        let s = Store {
            certs: dir.join("certs"),
            keys: dir.join("keys"),
            archive: dir.join("archive"),
            keep: 2,
        };
        s.ensure().expect("ensure");
        s
    }

    #[test]
    fn publish_switches_whole_sets_and_archives() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = store(tmp.path());
        assert_eq!(s.read_current("www").expect("read"), None);
        s.write_key(&s.key_path("www"), b"key 1").expect("key");
        for i in 0..4 {
            s.archive("www").expect("archive");
            s.publish("www", Some(&files(&i.to_string())), None, None)
                .expect("publish");
            assert_eq!(
                s.read_current("www").expect("read"),
                Some(files(&i.to_string()))
            );
        }
        // keep = 2 backups, holding the key too.
        let backups = s.backups("www").expect("backups");
        assert_eq!(backups.len(), 2);
        assert_eq!(fs::read(backups[1].join(KEY)).expect("key"), b"key 1");
        assert_eq!(
            fs::read(backups[1].join(CERT)).expect("cert"),
            files("2").cert
        );
        // Only the current and one earlier version remain.
        let versions = fs::read_dir(s.certs.join(VERSIONS)).expect("rd").count();
        assert_eq!(versions, 2);
        assert!(fs::symlink_metadata(s.line_dir("www"))
            .expect("meta")
            .file_type()
            .is_symlink());
    }

    #[test]
    fn staging_a_next_key_keeps_the_certificate() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = store(tmp.path());
        s.publish("www", Some(&files("a")), None, None)
            .expect("publish");
        s.publish("www", None, Some(b"next pub"), None)
            .expect("stage");
        assert_eq!(s.read_current("www").expect("read"), Some(files("a")));
        assert_eq!(
            s.read_next_pub("www").expect("next").as_deref(),
            Some(&b"next pub"[..])
        );
        s.publish("www", None, None, None).expect("unstage");
        assert_eq!(s.read_next_pub("www").expect("next"), None);
    }

    /// Issue 12, item 3: a writer killed between staging and switching
    /// leaves an orphan; the next publication keeps the current and the
    /// real previous version and removes the orphan.
    #[test]
    fn pruning_after_a_crash_keeps_the_real_previous_version() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = store(tmp.path());
        s.publish("www", Some(&files("1")), None, None)
            .expect("publish");
        let previous = versions::current(&s.certs, "www").expect("current");
        s.publish("www", Some(&files("2")), None, None)
            .expect("publish");
        let current = versions::current(&s.certs, "www").expect("current");
        let orphan = s
            .stage("www", Some(&files("lost")), None, None)
            .expect("stage");
        assert_eq!(s.read_current("www").expect("read"), Some(files("2")));
        assert_eq!(
            s.staged("www").expect("staged"),
            Some((orphan.clone(), files("lost")))
        );
        // A torn one (a crash before the grouped sync) is never taken for
        // a staged set, nor a half-written one.
        let version = s.certs.join(VERSIONS).join(&orphan);
        fs::write(version.join(FULLCHAIN), b"").expect("tear");
        assert_eq!(s.staged("www").expect("staged"), None);
        fs::remove_file(version.join(PUBKEY)).expect("rm");
        assert_eq!(s.staged("www").expect("staged"), None);
        s.publish("www", Some(&files("3")), None, None)
            .expect("publish");
        let mut left: Vec<PathBuf> = fs::read_dir(s.certs.join(VERSIONS))
            .expect("rd")
            .map(|e| e.expect("entry").path())
            .collect();
        left.sort();
        assert_eq!(left.len(), 2, "{left:?}");
        assert_eq!(Some(&left[0]), current.as_ref());
        assert_ne!(Some(&left[0]), previous.as_ref());
        assert_eq!(s.read_current("www").expect("read"), Some(files("3")));
    }

    #[test]
    fn a_grouped_install_shows_nothing_before_its_switch() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = store(tmp.path());
        s.write_key(&s.key_path("www"), b"key 1").expect("key");
        s.publish("www", Some(&files("1")), None, None)
            .expect("publish");
        let backup = s.archive_grouped("www").expect("archive").expect("a set");
        let (name, mut paths) = s
            .stage_grouped("www", &files("2"), Some(b"next"), None)
            .expect("stage");
        paths.extend(backup.paths.iter().cloned());
        atomic::sync_group(&paths).expect("sync");
        assert_eq!(s.read_current("www").expect("read"), Some(files("1")));
        assert!(
            s.backups("www").expect("backups").is_empty(),
            "not yet named"
        );
        let dir = s.archive_finish("www", backup).expect("name");
        s.activate_grouped("www", &name).expect("switch");
        atomic::sync_group(&[dir, s.certs.clone()]).expect("sync");
        assert_eq!(s.read_current("www").expect("read"), Some(files("2")));
        assert_eq!(
            s.read_next_pub("www").expect("next").as_deref(),
            Some(&b"next"[..])
        );
        let backups = s.backups("www").expect("backups");
        assert_eq!(
            fs::read(backups[0].join(CERT)).expect("cert"),
            files("1").cert
        );
        assert_eq!(fs::read(backups[0].join(KEY)).expect("key"), b"key 1");
    }

    #[test]
    fn a_legacy_directory_is_replaced() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let s = store(tmp.path());
        fs::create_dir(s.line_dir("old")).expect("mkdir");
        fs::write(s.cert_path("old", CERT), b"hand made").expect("write");
        s.publish("old", Some(&files("x")), None, None)
            .expect("publish");
        assert_eq!(s.read_current("old").expect("read"), Some(files("x")));
    }
}
