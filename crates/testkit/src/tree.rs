//! A temp tree per test: a directory removed on drop, with helpers that
//! take paths relative to it. Each test crate builds its own site on top
//! (its config file, its drop directories).

use std::path::{Path, PathBuf};

/// A temporary directory for one test.
pub struct Tree {
    /// The directory (removed when the tree is dropped).
    pub dir: tempfile::TempDir,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A tree whose directory name starts with `prefix` (easier to spot
    /// in a process list or a mount table).
    pub fn with_prefix(prefix: &str) -> Tree {
        Tree {
            dir: tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .expect("tempdir"),
        }
    }

    /// A tree with the directories `dirs` made.
    pub fn with_dirs(dirs: &[&str]) -> Tree {
        let tree = Tree::new();
        tree.mkdirs(dirs);
        tree
    }

    /// Make the directories `dirs` (and their parents).
    pub fn mkdirs(&self, dirs: &[&str]) {
        for d in dirs {
            std::fs::create_dir_all(self.path(d)).expect("mkdir");
        }
    }

    /// The tree's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `rel` below the tree's root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Write `text` to `rel`, making its parents; its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        write(self.root(), rel, text)
    }

    /// The bytes of `rel`.
    #[track_caller]
    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The text of `rel`.
    #[track_caller]
    pub fn read_text(&self, rel: &str) -> String {
        read_text(&self.path(rel))
    }

    /// The names in directory `rel`, sorted (none if it does not exist).
    pub fn listing(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel))
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Default for Tree {
    fn default() -> Tree {
        Tree::new()
    }
}

/// Write `text` to `dir/rel`, making its parents; its path.
#[track_caller]
pub fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

/// Plant a FIFO at `p` (mode 0644, parents made), as a hostile writer
/// would where a reader expects a regular file: a reader that opens it
/// without refusing it first blocks forever.
#[track_caller]
pub fn mkfifo(p: &Path) {
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    nix::unistd::mkfifo(p, nix::sys::stat::Mode::from_bits_truncate(0o644))
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", p.display()));
}

/// The text of a file.
#[track_caller]
pub fn read_text(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The permission bits of a path.
#[track_caller]
pub fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}
