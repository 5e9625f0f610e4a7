//! Versioned directories behind one symlink, switched atomically: the
//! layout `certs/` (core::store) and `pub/` (certdrop-publish) share.
//!
//! ```text
//! <root>/<line>            -> .v/<line>.<stamp>   (symlink, replaced by rename(2))
//! <root>/.v/<line>.<stamp>/...                    (one complete set of files)
//! ```
//!
//! A new set is written into a new version directory, then a symlink to it
//! is created under a temporary name and renamed onto `<root>/<line>`:
//! rename(2) replaces the old link in one step, so a reader that resolves
//! `<root>/<line>/file` sees the old set or the new one, never a mix, and a
//! crash leaves the old set visible. Old versions are pruned, newest kept,
//! so readers in flight can finish.

use std::fs;
use std::io;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::atomic;
use crate::clock;

/// Directory of versions inside the root.
pub const DIR: &str = ".v";
/// Suffix a pre-versioning line directory gets when moved into the versions.
const LEGACY: &str = "legacy";
/// Attempts at a free `<prefix>.<stamp>-NNN` name within one second.
const MAX_SAME_SECOND: u32 = 1000;

/// Make a new version of `line` under `root` visible: create
/// `<root>/.v/<line>.<stamp>/` with `dir_mode`, let `fill` write the files
/// into it, switch `<root>/<line>` onto it, then remove all but the newest
/// `keep_old` earlier versions. Returns the new version's name.
///
/// If `fill` fails, the half-written version is removed and the visible
/// one stays. The caller serialises writers (a lock on `root`).
pub fn install(
    root: &Path,
    line: &str,
    dir_mode: u32,
    keep_old: usize,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<String> {
    let versions = root.join(DIR);
    atomic::ensure_dir(&versions, dir_mode)?;
    let name = unique_name(&versions, line)?;
    let dir = versions.join(&name);
    fs::create_dir(&dir)?;
    let filled =
        fs::set_permissions(&dir, fs::Permissions::from_mode(dir_mode)).and_then(|()| fill(&dir));
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    switch(root, line, &name)?;
    prune(root, line, &name, keep_old)?;
    Ok(name)
}

/// The version directory `<root>/<line>` points at, if it is such a link.
pub fn current(root: &Path, line: &str) -> io::Result<Option<PathBuf>> {
    match fs::read_link(root.join(line)) {
        Ok(target) => Ok(Some(root.join(target))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // EINVAL: exists but is not a symlink (a legacy directory).
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(None),
        Err(e) => Err(e),
    }
}

/// The version names of `line` in `<root>/.v/`, oldest first.
pub fn list(root: &Path, line: &str) -> io::Result<Vec<String>> {
    let prefix = format!("{line}.");
    let entries = match fs::read_dir(root.join(DIR)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut mine: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            // Stamps hold no '.', so line `www` never claims `www.x.<stamp>`.
            n.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('.') || rest == LEGACY)
        })
        .collect();
    mine.sort();
    Ok(mine)
}

/// Point `<root>/<line>` at `.v/<name>` with one rename.
fn switch(root: &Path, line: &str, name: &str) -> io::Result<()> {
    let link = root.join(line);
    if let Ok(meta) = fs::symlink_metadata(&link) {
        if meta.is_dir() {
            // A line directory from before versioning (or made by hand):
            // move it aside into the versions, where pruning ends it.
            let aside = root.join(DIR).join(format!("{line}.{LEGACY}"));
            fs::rename(&link, aside)?;
        }
    }
    let tmp = atomic::temp_path(&link);
    symlink(Path::new(DIR).join(name), &tmp)?;
    if let Err(e) = atomic::rename(&tmp, &link) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Remove `line`'s versions but `current` and the newest `keep_old` others.
fn prune(root: &Path, line: &str, current: &str, keep_old: usize) -> io::Result<()> {
    let mut old = list(root, line)?;
    old.retain(|n| n != current);
    let excess = old.len().saturating_sub(keep_old);
    for name in old.into_iter().take(excess) {
        fs::remove_dir_all(root.join(DIR).join(name))?;
    }
    Ok(())
}

/// `<prefix>.<stamp>` (or `<stamp>` for an empty prefix), with `-NNN`
/// appended for the second and later names of one second. The number
/// follows the highest already in `dir` (never reusing a pruned name), so
/// names sort in creation order; a temporary `.tmp.<name>` counts as taken.
pub fn unique_name(dir: &Path, prefix: &str) -> io::Result<String> {
    let stamp = clock::stamp(clock::now());
    let base = if prefix.is_empty() {
        stamp
    } else {
        format!("{prefix}.{stamp}")
    };
    let mut next = 0;
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let name = name.strip_prefix(atomic::TEMP_PREFIX).unwrap_or(&name);
        let Some(rest) = name.strip_prefix(base.as_str()) else {
            continue;
        };
        let n = match rest.strip_prefix('-') {
            None if rest.is_empty() => 0,
            Some(digits) if digits.len() == 3 => match digits.parse::<u32>() {
                Ok(n) => n,
                Err(_) => continue,
            },
            _ => continue,
        };
        next = next.max(n + 1);
    }
    match next {
        0 => Ok(base),
        n if n < MAX_SAME_SECOND => Ok(format!("{base}-{n:03}")),
        _ => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free version name",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(text: &'static str) -> impl FnOnce(&Path) -> io::Result<()> {
        move |dir| atomic::write(&dir.join("f"), text.as_bytes(), atomic::MODE_PUBLIC)
    }

    #[test]
    fn install_switches_and_keeps_the_newest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let mut names = Vec::new();
        for text in ["1", "2", "3", "4"] {
            names.push(install(root, "www", 0o755, 2, put(text)).expect("install"));
            assert_eq!(fs::read(root.join("www/f")).expect("read"), text.as_bytes());
        }
        assert_eq!(list(root, "www").expect("list"), names[1..].to_vec());
        assert_eq!(
            current(root, "www").expect("current"),
            Some(root.join(DIR).join(&names[3]))
        );
        let mode = fs::metadata(root.join(DIR).join(&names[3]))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn a_failed_fill_leaves_the_old_version() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        install(root, "www", 0o755, 1, put("old")).expect("install");
        let err = install(root, "www", 0o755, 1, |_| {
            Err(io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(fs::read(root.join("www/f")).expect("read"), b"old");
        assert_eq!(list(root, "www").expect("list").len(), 1);
    }

    #[test]
    fn names_of_one_second_sort_in_creation_order_after_pruning() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let mut names = Vec::new();
        // Within one second (almost always): www.<s>, -001, -002, ...
        for _ in 0..6 {
            names.push(install(root, "www", 0o755, 1, put("x")).expect("install"));
        }
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, names, "unique and in creation order");
        assert_eq!(list(root, "www").expect("list"), names[4..].to_vec());
    }

    #[test]
    fn lines_with_dots_do_not_claim_each_other() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        install(root, "www", 0o755, 0, put("a")).expect("www");
        install(root, "www.x", 0o755, 0, put("b")).expect("www.x");
        install(root, "www", 0o755, 0, put("c")).expect("www again");
        assert_eq!(list(root, "www.x").expect("list").len(), 1);
        assert_eq!(fs::read(root.join("www.x/f")).expect("read"), b"b");
        assert_eq!(current(root, "nothing").expect("current"), None);
    }
}
