//! Atomic file writes: temporary file in the same directory, explicit mode,
//! fsync, rename over the old name, fsync of the directory. A reader sees the
//! old file or the new one, never a part; a crash leaves the old one
//! ([`Durability::Whole`] drops the fsyncs for files that need only the first).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Mode of public files (certificates, fragments).
pub const MODE_PUBLIC: u32 = 0o644;
/// Mode of secret files (private keys, account credentials).
pub const MODE_SECRET: u32 = 0o600;
/// Mode of directories holding secrets.
pub const MODE_SECRET_DIR: u32 = 0o700;
/// Mode of directories holding public files.
pub const MODE_PUBLIC_DIR: u32 = 0o755;

/// Prefix of temporary files; readers of drop directories skip dot files.
pub const TEMP_PREFIX: &str = ".tmp.";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name for a temporary file beside `path`, unique in this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = format!("{TEMP_PREFIX}{name}.{}.{n}", std::process::id());
    path.with_file_name(tmp)
}

/// Write `data` to `path` atomically with permission `mode`.
pub fn write(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    write_group(path, data, mode, None)
}

/// [`write`], the file's group set to `group` (if any) before it takes
/// the name, so it is never visible with another group.
pub fn write_group(path: &Path, data: &[u8], mode: u32, group: Option<u32>) -> io::Result<()> {
    write_with(path, data, mode, group, Durability::Durable)
}

/// What a write promises beyond "a reader sees the old file or the new one".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync the file before the rename and the directory after it: after a
    /// crash, the new file or the old one, never an empty or torn one. For
    /// everything another stage acts on (certificates, keys, state).
    Durable,
    /// The rename only, no fsync: a reader never sees a part, but a crash may
    /// lose the write (or, on some file systems, leave an empty file). For
    /// files rewritten every few minutes from scratch that nothing acts on
    /// (a Prometheus textfile): the two fsyncs cost more than the rest of
    /// such a run (they are most of certdrop-check's 100-line run) and buy
    /// nothing the next run does not.
    Whole,
}

/// [`write_group`] with the durability asked for.
pub fn write_with(
    path: &Path,
    data: &[u8],
    mode: u32,
    group: Option<u32>,
    durability: Durability,
) -> io::Result<()> {
    let durable = durability == Durability::Durable;
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        if group.is_some() {
            std::os::unix::fs::fchown(&file, None, group)?;
        }
        // The umask may have narrowed the mode; say exactly what we mean.
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.write_all(data)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&tmp, path)?;
        match durable {
            true => sync_parent(path),
            false => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A new file in `dir` (named after `stem`), unlinked at once: only the
/// returned descriptor keeps it. For a child's output, read back after it
/// exits, under no name anyone else could open or a crash could leave.
pub fn scratch_file(dir: &Path, stem: &str) -> io::Result<File> {
    let path = temp_path(&dir.join(stem));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = fs::remove_file(&path);
    Ok(file)
}

/// Rename `from` to `to` and make the rename durable.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    sync_parent(to)
}

/// Remove a file and make the removal durable; a missing file is fine.
pub fn remove(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Make a group of writes durable in one pass: every file and directory in
/// `paths` is fsynced (for a directory: the names created, renamed or
/// removed in it) before this returns. Writers that defer their fsyncs
/// ([`Durability::Whole`], then this) pay one pass for many files, made by
/// one thread for many writers (certdrop-issue's syncer), instead of two
/// fsyncs per file on their own threads.
///
/// An fsync per path on every system, not Linux's `syncfs(2)`: that one
/// also writes every other process's dirty data on the file system, and
/// on a busy disk a run then waits for the busy writer (measured: 30
/// certificates 3.6 s instead of 1.2 s under `stress-ng --hdd 1`). On
/// FreeBSD, UFS writes a directory's entries on its fsync (with soft
/// updates, also what they depend on) and ZFS commits its intent log,
/// which holds the creates and renames.
///
/// The fsyncs of a pass run side by side on up to [`SYNC_THREADS`] threads:
/// a journaling file system (ext4's jbd2, ZFS's ZIL) commits concurrent
/// fsyncs together, where one after another each waits for a commit of
/// its own (on a busy disk, most of a run).
pub fn sync_group(paths: &[PathBuf]) -> io::Result<()> {
    let one = |path: &PathBuf| File::open(path)?.sync_all();
    if paths.len() < 2 {
        return paths.iter().try_for_each(one);
    }
    let n = paths.len().min(SYNC_THREADS);
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for i in 0..n {
            let share = move || paths.iter().skip(i).step_by(n).try_for_each(one);
            match std::thread::Builder::new().spawn_scoped(s, share) {
                Ok(w) => workers.push(w),
                // No thread to be had: this share on this thread.
                Err(_) => share()?,
            }
        }
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(io::Error::other("sync thread panicked")))
        })
    })
}

/// Threads of one [`sync_group`] pass at most.
pub const SYNC_THREADS: usize = 8;

/// Remove a file without making the removal durable; a missing file is
/// fine. Returns whether it was there.
pub fn remove_volatile(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// fsync the directory holding `path`, so a rename or create survives a crash.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    File::open(parent_of(path))?.sync_all()
}

/// The directory holding `path` (`.` for a bare name).
pub fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Create `dir` (and parents) with `mode` if missing; an existing one only
/// loses the group/other bits `mode` does not have.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            // An existing directory keeps the mode its owner chose, except
            // that a directory meant to be secret loses group and other
            // access the mode does not grant.
            let have = meta.permissions().mode() & 0o7777;
            let tightened = have & (mode | !0o077);
            if tightened != have {
                fs::set_permissions(dir, fs::Permissions::from_mode(tightened))?;
            }
            Ok(())
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(mode))?;
            sync_parent(dir)
        }
        Err(e) => Err(e),
    }
}

/// Remove temporary files left in `dir` by a writer that crashed, and
/// temporary directories with what they hold (a version or an archive
/// entry being assembled). A symbolic link is removed, never followed.
pub fn clean_temp(dir: &Path) -> io::Result<usize> {
    let mut removed = 0;
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            match entry.file_type()?.is_dir() {
                true => fs::remove_dir_all(entry.path())?,
                false => fs::remove_file(entry.path())?,
            }
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically_with_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        write(&path, b"one", MODE_SECRET).expect("write");
        write(&path, b"two", MODE_SECRET).expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("readdir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn whole_writes_replace_with_mode_and_leave_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("certdrop.prom");
        for text in [&b"one"[..], b"two"] {
            write_with(&path, text, MODE_PUBLIC, None, Durability::Whole).expect("write");
        }
        assert_eq!(fs::read(&path).expect("read"), b"two");
        let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert_eq!(fs::read_dir(dir.path()).expect("readdir").count(), 1);
    }

    #[test]
    fn a_group_syncs_files_and_directories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut paths = vec![dir.path().to_path_buf()];
        for i in 0..4 {
            let p = dir.path().join(format!("f{i}"));
            write_with(&p, b"x", MODE_PUBLIC, None, Durability::Whole).expect("write");
            paths.push(p);
        }
        sync_group(&paths).expect("sync");
        assert!(sync_group(&[dir.path().join("missing")]).is_err());
        assert!(remove_volatile(&paths[1]).expect("remove"));
        assert!(!remove_volatile(&paths[1]).expect("gone already"));
    }

    #[test]
    fn clean_temp_removes_only_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join(".tmp.x.1.2"), b"partial").expect("write");
        fs::write(dir.path().join("keep"), b"keep").expect("write");
        assert_eq!(clean_temp(dir.path()).expect("clean"), 1);
        assert!(dir.path().join("keep").exists());
        // A directory being assembled goes with its content; a link named
        // like one is removed, its target left alone.
        let half = dir.path().join(".tmp.20260101T000000Z");
        fs::create_dir(&half).expect("mkdir");
        fs::write(half.join("key.pem"), b"secret").expect("write");
        std::os::unix::fs::symlink(dir.path().join("keep"), dir.path().join(".tmp.link"))
            .expect("symlink");
        assert_eq!(clean_temp(dir.path()).expect("clean"), 2);
        assert!(!half.exists());
        assert_eq!(fs::read(dir.path().join("keep")).expect("kept"), b"keep");
    }

    #[test]
    fn ensure_dir_keeps_a_chosen_mode_but_tightens_secrets() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, chosen, mode, want) in [
            ("webroot", 0o750, MODE_PUBLIC_DIR, 0o750),
            ("keys", 0o755, MODE_SECRET_DIR, 0o700),
        ] {
            let sub = dir.path().join(name);
            fs::create_dir(&sub).expect("mkdir");
            fs::set_permissions(&sub, fs::Permissions::from_mode(chosen)).expect("chmod");
            ensure_dir(&sub, mode).expect("ensure");
            assert_eq!(
                fs::metadata(&sub).expect("meta").permissions().mode() & 0o777,
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn ensure_dir_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("a/b");
        ensure_dir(&sub, MODE_SECRET_DIR).expect("mkdir");
        let mode = fs::metadata(&sub).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
