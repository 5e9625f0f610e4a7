//! Metadata fingerprints: the no-op fast paths of zone (`inputs`) and
//! trigger (`quiet`) hash the metadata of every file a decision rested on,
//! so that a run with nothing new stops after a few stat calls instead of
//! reading and verifying everything again. The caller picks the paths; this
//! module says what of each path goes into the hash.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// Mix `path` and its own metadata (a symlink itself, not followed), or its
/// absence, into `h`; true if `path` is a symlink.
///
/// What is mixed is the device, inode, size, mode, mtime and ctime, each
/// with nanoseconds. mtime alone would not do: a writer may set it back
/// (`touch -d`, `cp -p`, `tar x`) to what it was, and a file replaced by a
/// rename may reuse an inode. ctime cannot be set by a writer at all; the
/// kernel moves it on every write, chmod, chown or link, so any change to the
/// file shows in the fingerprint.
pub fn lstat(h: &mut Sha256, path: &Path) -> bool {
    mix(h, path, std::fs::symlink_metadata(path))
}

/// [`lstat`] for a directory entry: the same bytes mixed in (its path and
/// its own metadata), the metadata looked up relative to the directory
/// being read (no walk of the whole path again, as a no-op pass over
/// thousands of services does for every file of every published line).
pub fn lstat_entry(h: &mut Sha256, entry: &std::fs::DirEntry) -> bool {
    mix(h, &entry.path(), entry.metadata())
}

/// The same as [`lstat`] for what `path` resolves to (symlinks followed).
pub fn stat(h: &mut Sha256, path: &Path) {
    mix(h, path, std::fs::metadata(path));
}

/// What of a file's metadata a fingerprint holds: device, inode, size,
/// mode, mtime and ctime with nanoseconds, or None when it could not be
/// read (absent, unreadable). Kept as numbers by a caller that compares
/// the same paths again later without a hash (certdrop-trigger's no-op
/// plan), mixed by [`mix_meta`] exactly as [`lstat`] mixes them.
pub type Meta = Option<[u64; 8]>;

/// The [`Meta`] of a metadata lookup.
pub fn meta(meta: &io::Result<Metadata>) -> Meta {
    let m = meta.as_ref().ok()?;
    Some([
        m.dev(),
        m.ino(),
        m.size(),
        u64::from(m.mode()),
        m.mtime() as u64,
        m.mtime_nsec() as u64,
        m.ctime() as u64,
        m.ctime_nsec() as u64,
    ])
}

/// The [`Meta`] of `name` in the open directory `dir` (fstatat: one
/// component to look up, not the whole path again), of the symlink itself
/// unless `follow`. The same numbers [`meta`] gives for the path.
pub fn meta_at(dir: &std::fs::File, name: &std::ffi::OsStr, follow: bool) -> Meta {
    use nix::fcntl::AtFlags;
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::AT_SYMLINK_NOFOLLOW
    };
    let st = nix::sys::stat::fstatat(dir, name, flags).ok()?;
    // The casts only widen or keep the bits of what std's MetadataExt
    // reads from the same fields.
    #[allow(clippy::unnecessary_cast)]
    Some([
        st.st_dev as u64,
        st.st_ino as u64,
        st.st_size as u64,
        st.st_mode as u64,
        st.st_mtime as u64,
        st.st_mtime_nsec as u64,
        st.st_ctime as u64,
        st.st_ctime_nsec as u64,
    ])
}

/// Mix `path` and its [`Meta`] into `h`: the bytes [`lstat`] mixes.
pub fn mix_meta(h: &mut Sha256, path: &Path, meta: &Meta) {
    h.update(path.as_os_str().as_encoded_bytes());
    h.update([0]);
    match meta {
        Some(values) => {
            for v in values {
                h.update(v.to_le_bytes());
            }
        }
        None => h.update(b"-"),
    }
}

fn mix(h: &mut Sha256, path: &Path, m: io::Result<Metadata>) -> bool {
    mix_meta(h, path, &meta(&m));
    m.is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_at_gives_the_numbers_meta_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::write(dir.path().join("f"), "x").expect("write");
        std::os::unix::fs::symlink("f", dir.path().join("l")).expect("symlink");
        let open = fs::File::open(dir.path()).expect("open dir");
        for name in ["f", "l", "absent"] {
            let path = dir.path().join(name);
            assert_eq!(
                meta_at(&open, std::ffi::OsStr::new(name), false),
                meta(&fs::symlink_metadata(&path)),
                "{name}"
            );
            assert_eq!(
                meta_at(&open, std::ffi::OsStr::new(name), true),
                meta(&fs::metadata(&path)),
                "{name} followed"
            );
        }
        assert!(meta_at(&open, std::ffi::OsStr::new("f"), false).is_some());
    }
    use std::fs;
    use std::time::{Duration, Instant};

    fn lstat_of(p: &Path) -> ([u8; 32], bool) {
        let mut h = Sha256::new();
        let link = lstat(&mut h, p);
        (h.finalize().into(), link)
    }

    fn stat_of(p: &Path) -> [u8; 32] {
        let mut h = Sha256::new();
        stat(&mut h, p);
        h.finalize().into()
    }

    #[test]
    fn a_directory_entry_mixes_what_its_path_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("f"), "x").expect("write");
        std::os::unix::fs::symlink("f", dir.path().join("l")).expect("symlink");
        for entry in fs::read_dir(dir.path()).expect("read_dir") {
            let entry = entry.expect("entry");
            let mut h = Sha256::new();
            let link = lstat_entry(&mut h, &entry);
            let by_path = lstat_of(&entry.path());
            assert_eq!((<[u8; 32]>::from(h.finalize()), link), by_path);
        }
    }

    #[test]
    fn a_rewrite_with_the_same_size_mode_and_mtime_still_shows() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("f");
        fs::write(&p, "x").expect("write");
        let before = lstat_of(&p);
        assert_eq!(before, lstat_of(&p));
        let meta = fs::metadata(&p).expect("stat");
        let mtime = meta.modified().expect("mtime");
        // The kernel stamps ctime from a coarse clock: wait until a new
        // file would get a later ctime than `f` has.
        let probe = dir.path().join("probe");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            fs::write(&probe, "").expect("probe");
            let c = fs::metadata(&probe).expect("stat probe");
            if (c.ctime(), c.ctime_nsec()) != (meta.ctime(), meta.ctime_nsec()) {
                break;
            }
            assert!(Instant::now() < deadline, "the clock did not move");
        }
        // Same inode, size and mode; mtime set back: only ctime moved.
        let f = fs::File::options().write(true).open(&p).expect("open");
        std::io::Write::write_all(&mut &f, b"y").expect("rewrite");
        f.set_modified(mtime).expect("set mtime back");
        let after = fs::metadata(&p).expect("stat");
        assert_eq!(
            (
                after.ino(),
                after.size(),
                after.mode(),
                after.mtime(),
                after.mtime_nsec()
            ),
            (
                meta.ino(),
                meta.size(),
                meta.mode(),
                meta.mtime(),
                meta.mtime_nsec()
            )
        );
        assert_ne!(before, lstat_of(&p));
    }

    #[test]
    fn a_symlink_is_itself_for_lstat_and_its_target_for_stat() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("t");
        let link = dir.path().join("l");
        fs::write(&target, "x").expect("write");
        std::os::unix::fs::symlink("t", &link).expect("symlink");
        let (of_link, is_link) = lstat_of(&link);
        assert!(is_link);
        assert_ne!(of_link, stat_of(&link));
        assert!(!lstat_of(&target).1);
        // Absent: the path with a mark, the same either way, not a symlink.
        let gone = dir.path().join("gone");
        assert_eq!(lstat_of(&gone), (stat_of(&gone), false));
    }
}
