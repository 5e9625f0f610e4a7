//! A full disk, for real: a small tmpfs mounted over a directory of the
//! test tree (the tests run as root, as CI does) and filled until the
//! kernel says ENOSPC, unmounted when dropped. Every binary's exit-class
//! tests use it to show that a full disk is 73 and loses nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted over a directory for as long as it lives.
#[derive(Debug)]
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` (as mount(8) reads it: `64k`) over `dir`,
    /// made if missing.
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mkdir");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0755"))
            .arg("tmpfs")
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount a tmpfs (the tests run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_path_buf())
    }

    /// The directory it is mounted on.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Fill it: write one file until the file system is full; the file.
    pub fn fill(&self) -> PathBuf {
        let path = self.0.join(".filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let block = [0u8; 4096];
        loop {
            match f.write_all(&block).and_then(|()| f.sync_all()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => return path,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a server under test may still hold a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
