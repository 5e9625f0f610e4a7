//! `install`: copy verified files from `pub/<line>/` to the service's
//! paths, atomically (core::atomic: temporary file, fsync, rename), keeping
//! the files they replace in `<state>/<service>.prev/` so that a failed
//! post-flight check can put them back.

use std::path::{Path, PathBuf};

use certdrop_core::atomic::{self, MODE_PUBLIC, MODE_SECRET, MODE_SECRET_DIR};
use certdrop_core::error::{Error, Result};

use crate::config::Service;
use crate::manifest::Verified;
use crate::material::Overrides;

/// Suffix of the file that says an install target did not exist before.
const ABSENT: &str = ".absent";

/// What `install` would write: every target whose content differs from
/// the verified source, as overrides for the checks. A source that does
/// not match the signed manifest is bad data (65).
pub fn pending(service: &Service, line: &Verified) -> Result<Overrides> {
    let mut out = Overrides::new();
    for i in &service.install {
        let bytes = line.read(&i.from)?;
        if std::fs::read(&i.to).ok().as_deref() != Some(bytes.as_slice()) {
            out.insert(i.to.clone(), bytes);
        }
    }
    Ok(out)
}

/// `<state>/<service>.prev/`.
fn backup_dir(state: &Path, service: &str) -> PathBuf {
    state.join(format!("{service}.prev"))
}

/// Keep every install target as it is now, then write the new contents.
/// `secret` says which targets are keys (mode 0600; others 0644). Every
/// failure is output that could not be made (73): a target that cannot be
/// kept cannot be replaced either.
pub fn apply(
    state: &Path,
    service: &Service,
    files: &Overrides,
    secret: impl Fn(&Path) -> bool,
) -> Result<()> {
    let dir = backup_dir(state, &service.name);
    let fail = |p: &Path, e: std::io::Error| Error::cantcreat(p, "cannot write", &e);
    atomic::ensure_dir(&dir, MODE_SECRET_DIR).map_err(|e| fail(&dir, e))?;
    for (n, i) in service.install.iter().enumerate() {
        let saved = dir.join(n.to_string());
        let absent = dir.join(format!("{n}{ABSENT}"));
        match std::fs::read(&i.to) {
            Ok(old) => {
                atomic::write(&saved, &old, MODE_SECRET).map_err(|e| fail(&saved, e))?;
                atomic::remove(&absent).map_err(|e| fail(&absent, e))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                atomic::write(&absent, b"", MODE_SECRET).map_err(|e| fail(&absent, e))?;
                atomic::remove(&saved).map_err(|e| fail(&saved, e))?;
            }
            Err(e) => return Err(Error::cantcreat(&i.to, "cannot keep a copy", &e)),
        }
    }
    for i in &service.install {
        if let Some(bytes) = files.get(&i.to) {
            let mode = if secret(&i.to) {
                MODE_SECRET
            } else {
                MODE_PUBLIC
            };
            atomic::write(&i.to, bytes, mode).map_err(|e| fail(&i.to, e))?;
        }
    }
    Ok(())
}

/// Put back what [`apply`] replaced (a target that did not exist is removed).
pub fn restore(state: &Path, service: &Service, secret: impl Fn(&Path) -> bool) -> Result<()> {
    let dir = backup_dir(state, &service.name);
    for (n, i) in service.install.iter().enumerate() {
        let saved = dir.join(n.to_string());
        if dir.join(format!("{n}{ABSENT}")).exists() {
            atomic::remove(&i.to).map_err(|e| Error::cantcreat(&i.to, "cannot remove", &e))?;
            continue;
        }
        let old =
            std::fs::read(&saved).map_err(|e| Error::unreadable(&saved, "cannot read", &e))?;
        let mode = if secret(&i.to) {
            MODE_SECRET
        } else {
            MODE_PUBLIC
        };
        atomic::write(&i.to, &old, mode)
            .map_err(|e| Error::cantcreat(&i.to, "cannot write", &e))?;
    }
    Ok(())
}
