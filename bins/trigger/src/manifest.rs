//! Checking a published line (`pub/<line>/`) before anything from it is
//! deployed: `manifest.sig` is an SSHSIG signature over `manifest` by a key
//! of the allowed_signers file in the namespace `certdrop-manifest@certdrop`,
//! as `ssh-keygen -Y verify` would check it; the manifest names this line;
//! and every file it lists has the SHA-256 it gives. The format, the
//! allowed_signers grammar and the signature check are the pub/ contract's
//! (crates/manifest, shared with certdrop-publish); this module resolves
//! the line directory once and reads its files (through the untrusted
//! reader: a FIFO planted in pub/<line>/ is refused, never waited on).
//! A published line that does not verify, a file it lacks included, is
//! bad data (65): the line exists, so what is wrong is the publication.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_manifest::{sshsig, MANIFEST, SIGNATURE};

use crate::input;

/// A published line: its directory (the symlink resolved once, so every
/// file comes from one version) and, when its manifest was verified, the
/// digests the manifest gives.
#[derive(Debug, Clone)]
pub struct Verified {
    /// `pub/.v/<line>.<stamp>`.
    pub dir: PathBuf,
    /// File name -> SHA-256; `None` when no allowed_signers is configured.
    pub files: Option<HashMap<String, [u8; 32]>>,
}

impl Verified {
    /// A line read without a manifest check (no allowed_signers configured).
    pub fn unsigned(pub_dir: &Path, line: &str) -> Result<Verified> {
        Ok(Verified {
            dir: resolve(pub_dir, line)?,
            files: None,
        })
    }

    /// A file's content, checked against the manifest when there is one
    /// (a file it does not list is refused).
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let path = self.dir.join(name);
        let bytes = published(&path)?;
        self.check(name, &path, &bytes)?;
        Ok(bytes)
    }

    /// `bytes`, read from `path`, are what the manifest lists as `name`.
    pub fn check(&self, name: &str, path: &Path, bytes: &[u8]) -> Result<()> {
        let Some(files) = &self.files else {
            return Ok(());
        };
        let want = files.get(name).ok_or_else(|| {
            Error::data(format!("{}: not listed in the manifest", path.display()))
        })?;
        if certdrop_manifest::digest(bytes) != *want {
            return Err(Error::data(format!(
                "{}: SHA-256 differs from the signed manifest",
                path.display()
            )));
        }
        Ok(())
    }

    /// `bytes` (the certificate file at `path`, outside the line's
    /// directory) are, byte for byte, a file of this line: one the signed
    /// manifest lists, or without allowed_signers one the directory holds.
    /// Anything else, a self-signed certificate for the same names
    /// included, is refused (65): the service would not serve what was
    /// published.
    pub fn lists(&self, line: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
        let found = match &self.files {
            Some(files) => {
                let d = certdrop_manifest::digest(bytes);
                files.values().any(|want| *want == d)
            }
            None => self.unsigned_holds(bytes),
        };
        if found {
            return Ok(());
        }
        let what = if self.files.is_some() {
            "the signed manifest lists"
        } else {
            "it holds"
        };
        Err(Error::data(format!(
            "{}: refused: not a file of {} (its content is none of the files {what})",
            path.display(),
            line.display()
        )))
    }

    /// Whether a regular file of the (unsigned) line directory has `bytes`.
    fn unsigned_holds(&self, bytes: &[u8]) -> bool {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return false;
        };
        entries.filter_map(|e| e.ok()).any(|e| {
            let name = e.file_name();
            let skip =
                name.to_string_lossy().starts_with('.') || name == MANIFEST || name == SIGNATURE;
            !skip && published(&e.path()).is_ok_and(|b| b == bytes)
        })
    }

    /// The file name under this line's directory that `path` is, if any
    /// (the service reads it from pub/ directly).
    pub fn holds(&self, pub_dir: &Path, line: &str, path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?.to_string();
        let parent = path.parent()?;
        let inside = parent == pub_dir.join(line)
            || parent == self.dir
            || std::fs::canonicalize(parent).is_ok_and(|p| p == self.dir);
        inside.then_some(name)
    }
}

/// Resolve `pub/<line>` once and verify its manifest with `signers`
/// (the allowed_signers text) and, if given, the principal `identity`.
pub fn verify(
    pub_dir: &Path,
    line: &str,
    signers: &str,
    identity: Option<&str>,
    now: i64,
) -> Result<Verified> {
    let link = pub_dir.join(line);
    let dir = resolve(pub_dir, line)?;
    let text = published(&dir.join(MANIFEST))?;
    let sig = published(&dir.join(SIGNATURE))?;
    let allowed = certdrop_manifest::signers::parse(signers)
        .map_err(|e| Error::config(format!("allowed_signers: {e}")))?;
    let (m, _) = sshsig::signed(&text, &sig, &allowed, identity, now)
        .map_err(|(part, e)| Error::data(format!("{}/{}: {e}", link.display(), part.file())))?;
    if m.line != line {
        return Err(Error::data(format!(
            "{}/{MANIFEST}: is the manifest of line '{}', not '{line}'",
            link.display(),
            m.line
        )));
    }
    let files: HashMap<String, [u8; 32]> = m.files.into_iter().collect();
    let names: Vec<String> = files.keys().cloned().collect();
    let verified = Verified {
        dir,
        files: Some(files),
    };
    for name in names {
        verified.read(&name)?;
    }
    Ok(verified)
}

/// A file of the published line; its absence is bad data too.
fn published(path: &Path) -> Result<Vec<u8>> {
    input::published(path).map_err(|e| e.class(Failure::Data))
}

/// `pub/<line>` resolved once, so every file comes from one version.
fn resolve(pub_dir: &Path, line: &str) -> Result<PathBuf> {
    let link = pub_dir.join(line);
    std::fs::canonicalize(&link).map_err(|e| Error::unreadable(&link, "cannot resolve", &e))
}

#[cfg(test)]
mod tests;
