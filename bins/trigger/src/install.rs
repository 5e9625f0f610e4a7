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

/// Remove what a killed run of ours left behind for `service`: the
/// temporary files `core::atomic` writes beside each install target
/// (`.tmp.<name>.<pid>.<n>`, named after that target, so a file another
/// program keeps in the same directory is never touched) and every
/// temporary entry in `<state>/<service>.prev/` (looked into only when
/// `backups` says the state directory has it: one listing of the state
/// directory instead of an open per service). Returns how many.
pub fn clean_leftovers(
    state: &Path,
    service: &Service,
    backups: &std::collections::HashSet<std::ffi::OsString>,
) -> std::io::Result<usize> {
    let backup = backup_dir(state, &service.name);
    let mut removed = match backup.file_name().is_some_and(|n| backups.contains(n)) {
        true => atomic::clean_temp(&backup)?,
        false => 0,
    };
    for i in &service.install {
        let (Some(dir), Some(name)) = (i.to.parent(), i.to.file_name()) else {
            continue;
        };
        let prefix = format!("{}{}.", atomic::TEMP_PREFIX, name.to_string_lossy());
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let file = entry.file_name();
            let ours = file
                .to_str()
                .and_then(|f| f.strip_prefix(&prefix))
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(pid, n)| digits(pid) && digits(n));
            if ours && !entry.file_type()?.is_dir() {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Whether `s` is a non-empty run of ASCII digits.
fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
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
