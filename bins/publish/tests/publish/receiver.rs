//! A receiving site in a test tree: recv/pull.toml (a `[pull]` table),
//! recv/staging (the transport's) and recv/pub (the held tree), a wrapper
//! that runs `certdrop-publish pull`, and a byte-for-byte snapshot of a
//! tree, to show that a refused pull changed nothing.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdrop_testkit::{Ran, Run, Tree};

use crate::site::IDENTITY;

/// Longest a pull may take on a busy machine before the test fails.
pub const PULL_LIMIT: Duration = Duration::from_secs(120);

/// Write recv/pull.toml: `kind`, `transport`, staging recv/staging, into
/// `into`, the tree's allowed_signers, the signer's identity, and `extra`
/// lines inside `[pull]` (a timeout).
pub fn config(t: &Tree, kind: &str, transport: &[String], into: &str, extra: &str) -> PathBuf {
    let words: Vec<String> = transport.iter().map(|w| format!("{w:?}")).collect();
    t.mkdirs(&["recv"]);
    t.write(
        "recv/pull.toml",
        &format!(
            "lock_wait = \"1s\"\n[pull]\nkind = \"{kind}\"\ntransport = [{}]\nstaging = \"staging\"\n\
             into = \"{into}\"\nallowed_signers = \"../allowed_signers\"\nidentity = \"{IDENTITY}\"\n{extra}",
            words.join(", ")
        ),
    )
}

/// A pub-kind pull.toml whose transport is `rsync -a --delete SRC/ {staging}/`.
pub fn rsync_config(t: &Tree, src: &str) -> PathBuf {
    config(t, "pub", &rsync(t, src), "pub", "")
}

/// `rsync -a --delete <t/src>/ {staging}/`.
pub fn rsync(t: &Tree, src: &str) -> Vec<String> {
    words(&[
        "rsync",
        "-a",
        "--delete",
        &format!("{}/", t.path(src).display()),
        "{staging}/",
    ])
}

/// Owned words.
pub fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// `certdrop-publish -c recv/pull.toml ARGS pull`, bounded in time.
pub fn pull(t: &Tree, args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("-c")
        .arg(t.path("recv/pull.toml"))
        .args(args)
        .arg("pull")
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .ended_within(PULL_LIMIT)
}

/// `certdrop-publish verify DIR` against the tree's allowed_signers, for
/// the identity: what the trigger at the receiving site checks.
pub fn verify(t: &Tree, dir: &str) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("verify")
        .arg(t.path(dir))
        .arg("--allowed-signers")
        .arg(t.path("allowed_signers"))
        .args(["--identity", IDENTITY])
        .ended_within(PULL_LIMIT)
}

/// One entry of a tree, as a snapshot holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory and its mode.
    Dir(u32),
    /// A file: mode and content.
    File(u32, Vec<u8>),
    /// A symbolic link: its target.
    Link(PathBuf),
}

/// Every entry under `root` (links not followed), by relative path.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .display()
            .to_string();
        let meta = std::fs::symlink_metadata(&p).expect("lstat");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            out.insert(rel, Node::Link(std::fs::read_link(&p).expect("readlink")));
        } else if meta.is_dir() {
            out.insert(rel, Node::Dir(mode));
            walk(root, &p, out);
        } else {
            out.insert(rel, Node::File(mode, std::fs::read(&p).expect("read")));
        }
    }
}
