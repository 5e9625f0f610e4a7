//! The one way the trigger reads a file it did not write: a certificate or
//! key it is to judge, a configuration file it discovers them in. Every
//! such file goes through certdrop-core's reader of untrusted files: only
//! a regular file, of bounded size, opened without blocking, so a FIFO or
//! a device planted where a certificate should be is refused with one line
//! instead of hanging the run (and every later run behind its lock).
//!
//! Two ways to name a file. Under pub/ (another stage's tree) the name is
//! taken as given: the last component must not be a symlink (certdrop-
//! publish writes none; pub/<line> itself is a directory link, which is
//! fine). Elsewhere (the service's own files and configuration) symlinks
//! are what the service itself follows, certbot's `live/` and Debian's
//! `sites-enabled/` are made of them: the name is resolved first, and the
//! file it ends at must pass the same checks.

use std::path::Path;

use certdrop_core::error::{Error, Result};
use certdrop_core::untrusted::{self, Refused, Rules};

/// Read `path`; strictly when it lies under `pub_dir` (see the header).
pub fn read(path: &Path, pub_dir: &Path) -> Result<Vec<u8>> {
    if path.starts_with(pub_dir) {
        published(path)
    } else {
        local(path)
    }
}

/// A file of another stage's tree, by its name as given.
pub fn published(path: &Path) -> Result<Vec<u8>> {
    untrusted::read(path, &Rules::default()).map_err(|r| refusal(path, &r))
}

/// A file of the service's own, its symlinks followed as the service
/// would follow them.
pub fn local(path: &Path) -> Result<Vec<u8>> {
    let real = std::fs::canonicalize(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => refusal(path, &Refused::Missing),
        _ => Error::unreadable(path, "cannot read", &e),
    })?;
    untrusted::read(&real, &Rules::default()).map_err(|r| refusal(path, &r))
}

/// [`local`], as text (a configuration file; invalid UTF-8 is replaced,
/// as the parsers only look for ASCII keywords).
pub fn local_text(path: &Path) -> Result<String> {
    local(path).map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Missing: `PATH: cannot read: missing` (66); refused for what it is:
/// `PATH: refused: a FIFO, not a regular file` (65).
fn refusal(path: &Path, r: &Refused) -> Error {
    match r {
        Refused::Missing => Error::noinput(format!("{}: cannot read: missing", path.display())),
        _ => r.error(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop_core::exit::Failure;
    use certdrop_testkit::tree::mkfifo;
    use certdrop_testkit::Tree;

    #[test]
    fn fifos_are_refused_without_blocking_and_local_links_followed() {
        let tree = Tree::with_dirs(&["pub"]);
        let pub_dir = tree.path("pub");
        let fifo = pub_dir.join("fullchain.pem");
        mkfifo(&fifo);
        let e = read(&fifo, &pub_dir).expect_err("a FIFO");
        assert_eq!(e.class, Failure::Data);
        assert!(
            e.msg.ends_with("refused: a FIFO, not a regular file"),
            "{e}"
        );
        // The same FIFO behind a link of the service's own: still refused.
        let link = tree.path("www.pem");
        std::os::unix::fs::symlink(&fifo, &link).expect("symlink");
        assert_eq!(
            read(&link, &pub_dir).expect_err("FIFO").class,
            Failure::Data
        );
        // A link to a regular file: followed outside pub/, refused inside.
        let real = tree.path("real.pem");
        std::fs::write(&real, b"x").expect("write");
        std::fs::remove_file(&link).expect("rm");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        assert_eq!(read(&link, &pub_dir).expect("followed"), b"x");
        let planted = pub_dir.join("cert.pem");
        std::os::unix::fs::symlink(&real, &planted).expect("symlink");
        assert_eq!(
            read(&planted, &pub_dir).expect_err("link").class,
            Failure::Data
        );
        let gone = read(&tree.path("none"), &pub_dir).expect_err("missing");
        assert_eq!(gone.class, Failure::NoInput);
        assert!(gone.msg.ends_with("none: cannot read: missing"), "{gone}");
    }
}
