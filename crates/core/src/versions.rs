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
//! crash leaves the old set visible.
//!
//! Version names sort in creation order and the writer (one at a time,
//! under the caller's lock) always switches onto the version it just made.
//! So the versions sorting before the current one are the sets that were
//! visible before it, and one sorting after it is an *orphan*: written by a
//! run that crashed before its switch, possibly half-written, never seen by
//! a reader. Orphans never count as versions ([`previous`]); the next
//! writer removes them ([`prepare`]). Pruning keeps the current version and
//! the newest earlier ones, so readers in flight can finish.
//!
//! A `<line>.legacy` directory (a line directory from before versioning,
//! moved aside) counts as the oldest version.

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

/// Make a new version of `line` under `root` visible: [`prepare`] it,
/// then [`activate`] it. Returns the new version's name.
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
    let name = prepare(root, line, dir_mode, fill)?;
    activate(root, line, &name, keep_old)?;
    Ok(name)
}

/// Write a new version of `line` without showing it: remove the orphans
/// earlier runs left, create `<root>/.v/<line>.<stamp>/` with `dir_mode`,
/// let `fill` write the files into it and make them durable. Until
/// [`activate`] switches onto it, the new version is an orphan that no
/// reader sees. Returns its name.
///
/// If `fill` fails, the half-written version is removed. The caller
/// serialises writers (a lock on `root`).
pub fn prepare(
    root: &Path,
    line: &str,
    dir_mode: u32,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<String> {
    prepare_with(root, line, dir_mode, true, fill)
}

/// [`prepare`]; with `durable` false, the version directory and its entry
/// in `<root>/.v/` are not fsynced here: the caller makes the version's
/// files, the version directory and `<root>/.v/` durable ([`crate::atomic::sync_group`])
/// before it switches onto it.
pub fn prepare_with(
    root: &Path,
    line: &str,
    dir_mode: u32,
    durable: bool,
    fill: impl FnOnce(&Path) -> io::Result<()>,
) -> io::Result<String> {
    let versions = root.join(DIR);
    atomic::ensure_dir(&versions, dir_mode)?;
    for orphan in orphans(root, line)? {
        fs::remove_dir_all(versions.join(orphan))?;
    }
    let name = unique_name(&versions, line)?;
    let dir = versions.join(&name);
    fs::create_dir(&dir)?;
    let filled = fs::set_permissions(&dir, fs::Permissions::from_mode(dir_mode))
        .and_then(|()| fill(&dir))
        .and_then(|()| match durable {
            true => fs::File::open(&dir)?.sync_all(),
            false => Ok(()),
        })
        .and_then(|()| match durable {
            true => atomic::sync_parent(&dir),
            false => Ok(()),
        });
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&dir);
        return Err(e);
    }
    Ok(name)
}

/// Switch `<root>/<line>` onto the prepared version `name`, then remove all
/// but the newest `keep_old` earlier versions.
pub fn activate(root: &Path, line: &str, name: &str, keep_old: usize) -> io::Result<()> {
    activate_with(root, line, name, keep_old, true)
}

/// [`activate`]; with `durable` false, `<root>` is not fsynced after the
/// switch: the caller does it (one pass for many switches).
pub fn activate_with(
    root: &Path,
    line: &str,
    name: &str,
    keep_old: usize,
    durable: bool,
) -> io::Result<()> {
    switch(root, line, name, durable)?;
    prune(root, line, keep_old)
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

/// The version names of `line` in `<root>/.v/`, oldest first (a
/// `<line>.legacy` directory first of all), orphans included.
pub fn list(root: &Path, line: &str) -> io::Result<Vec<String>> {
    let prefix = format!("{line}.");
    let entries = match fs::read_dir(root.join(DIR)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let legacy = format!("{line}.{LEGACY}");
    let mut mine: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            // Stamps hold no '.', so line `www` never claims `www.x.<stamp>`.
            n.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('.') || rest == LEGACY)
        })
        .collect();
    mine.sort_by_key(|n| (*n != legacy, n.clone()));
    Ok(mine)
}

/// The name of the version `<root>/<line>` points at, if it points into
/// `<root>/.v/`.
fn current_name(root: &Path, line: &str) -> io::Result<Option<String>> {
    Ok(current(root, line)?.and_then(|dir| {
        let name = dir.file_name()?.to_string_lossy().into_owned();
        (dir.parent() == Some(&root.join(DIR))).then_some(name)
    }))
}

/// The versions of `line` that were visible before the current one,
/// oldest first: those listed before it. Orphans never count.
pub fn previous(root: &Path, line: &str) -> io::Result<Vec<String>> {
    let all = list(root, line)?;
    let Some(now) = current_name(root, line)? else {
        // No link: nothing was ever switched on, but a line directory
        // moved aside by a crashed first switch is still a version.
        return Ok(all.into_iter().filter(|n| is_legacy(line, n)).collect());
    };
    Ok(match all.iter().position(|n| *n == now) {
        Some(i) => all[..i].to_vec(),
        None => Vec::new(),
    })
}

/// The orphans of `line`: versions no link ever pointed at (listed after
/// the current one, or all of them while there is no link), left by a
/// writer that crashed before its switch.
pub fn orphans(root: &Path, line: &str) -> io::Result<Vec<String>> {
    let all = list(root, line)?;
    let now = current_name(root, line)?;
    let after = match &now {
        Some(now) => all
            .iter()
            .position(|n| n == now)
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    Ok(all[after..]
        .iter()
        .filter(|n| !is_legacy(line, n))
        .cloned()
        .collect())
}

fn is_legacy(line: &str, name: &str) -> bool {
    name.strip_prefix(line)
        .and_then(|r| r.strip_prefix('.'))
        .is_some_and(|r| r == LEGACY)
}

/// Point `<root>/<line>` at `.v/<name>` with one rename.
fn switch(root: &Path, line: &str, name: &str, durable: bool) -> io::Result<()> {
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
    let renamed = match durable {
        true => atomic::rename(&tmp, &link),
        false => fs::rename(&tmp, &link),
    };
    if let Err(e) = renamed {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Remove `line`'s versions before the current one (just switched on) but
/// the newest `keep_old`.
/// Orphans are left to the next [`prepare`]: pruning never counts them.
fn prune(root: &Path, line: &str, keep_old: usize) -> io::Result<()> {
    let old = previous(root, line)?;
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

    /// What a writer killed between its fill and its switch leaves: a
    /// version named after the current one, maybe without all its files.
    fn orphan(root: &Path, line: &str, files: &[&str]) -> String {
        atomic::ensure_dir(&root.join(DIR), 0o755).expect("versions");
        let name = unique_name(&root.join(DIR), line).expect("name");
        fs::create_dir(root.join(DIR).join(&name)).expect("mkdir");
        for f in files {
            fs::write(root.join(DIR).join(&name).join(f), b"orphan").expect("write");
        }
        name
    }

    #[test]
    fn orphans_are_not_versions_and_the_next_writer_removes_them() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let first = install(root, "www", 0o755, 1, put("1")).expect("install");
        let second = install(root, "www", 0o755, 1, put("2")).expect("install");
        let whole = orphan(root, "www", &["f"]);
        let half = orphan(root, "www", &[]);
        assert_eq!(previous(root, "www").expect("previous"), vec![first]);
        assert_eq!(orphans(root, "www").expect("orphans"), vec![whole, half]);
        let third = install(root, "www", 0o755, 1, put("3")).expect("install");
        // The real previous version is kept, the orphans are gone.
        assert_eq!(
            list(root, "www").expect("list"),
            vec![second.clone(), third]
        );
        assert_eq!(previous(root, "www").expect("previous"), vec![second]);
        assert_eq!(fs::read(root.join("www/f")).expect("read"), b"3");
    }

    #[test]
    fn without_a_link_every_version_is_an_orphan() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let half = orphan(root, "www", &[]);
        assert_eq!(
            previous(root, "www").expect("previous"),
            Vec::<String>::new()
        );
        assert_eq!(orphans(root, "www").expect("orphans"), vec![half]);
        let name = install(root, "www", 0o755, 1, put("1")).expect("install");
        assert_eq!(list(root, "www").expect("list"), vec![name]);
    }

    #[test]
    fn a_legacy_directory_is_the_oldest_version() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        fs::create_dir(root.join("www")).expect("mkdir");
        fs::write(root.join("www/f"), b"hand made").expect("write");
        let first = install(root, "www", 0o755, 1, put("1")).expect("install");
        let legacy = format!("www.{LEGACY}");
        assert_eq!(previous(root, "www").expect("previous"), vec![legacy]);
        let second = install(root, "www", 0o755, 1, put("2")).expect("install");
        assert_eq!(list(root, "www").expect("list"), vec![first, second]);
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
