//! Temporary files a killed build left behind: the next build, under the
//! build-tree lock (so no other build is writing them), removes its own and
//! only its own — `.tmp.*` in the build tree, and in nsd's zone directory
//! only `.tmp.<zone>.zone.*` for the zones this configuration builds (that
//! directory may hold other writers' files). Some hold no secret, but a
//! full disk is made of such files.

use std::path::Path;

use certdrop_core::atomic::{self, TEMP_PREFIX};
use certdrop_core::error::{Error, Result};

use crate::build::TREE;
use crate::config::Config;

/// Remove the leftovers; returns how many entries went.
pub fn clean(config: &Config) -> Result<usize> {
    let mut removed = 0;
    for d in TREE {
        let dir = config.build.join(d);
        removed +=
            atomic::clean_temp(&dir).map_err(|e| Error::cantcreat(&dir, "cannot clean", &e))?;
    }
    let prefixes: Vec<String> = config
        .zones
        .iter()
        .map(|z| format!("{TEMP_PREFIX}{}.zone.", z.name))
        .collect();
    removed += clean_install(&config.install, &prefixes)
        .map_err(|e| Error::cantcreat(&config.install, "cannot clean", &e))?;
    Ok(removed)
}

/// Remove regular files (or symlinks, never followed) in `dir` whose name
/// starts with one of `prefixes`.
fn clean_install(dir: &Path, prefixes: &[String]) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            continue;
        }
        // The installer writes files only: a directory of that name is not ours.
        if entry.file_type()?.is_dir() {
            continue;
        }
        std::fs::remove_file(entry.path())?;
        removed += 1;
    }
    Ok(removed)
}
