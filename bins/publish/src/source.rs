//! Reading one line's public files from the certificate store written by
//! certdrop-issue (core::store): `certs/<line>` is a symlink to a complete
//! version directory, which is resolved once so that all four files come
//! from the same version even if the issuer switches the link meanwhile.
//! Only the four named public files are read; nothing else in the store
//! (least of all a misplaced key) is ever opened or copied.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use certdrop_core::exit::Failure;
use certdrop_core::store::{CertFiles, CERT, CHAIN, FULLCHAIN, PUBKEY};

use crate::fsread::{self, ReadError};

/// A line's files and where they were read from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The four public files.
    pub files: CertFiles,
    /// The resolved version directory.
    pub dir: PathBuf,
}

/// Why a line's files could not be read: a class of the exit contract and
/// one line ("subject: action: cause" without the line name).
#[derive(Debug)]
pub struct SourceError {
    /// 66 when the line has no certificate yet, 65 for a hostile store.
    pub class: Failure,
    /// What went wrong.
    pub msg: String,
}

/// Read `certs/<line>/{cert,chain,fullchain,pubkey}.pem` from one version.
pub fn read(certs: &Path, line: &str) -> Result<Source, SourceError> {
    let link = certs.join(line);
    let missing = |msg: String| SourceError {
        class: Failure::NoInput,
        msg,
    };
    let bad = |msg: String| SourceError {
        class: Failure::Data,
        msg,
    };
    let root = fs::canonicalize(certs)
        .map_err(|e| missing(format!("{}: cannot open: {e}", certs.display())))?;
    let dir = match fs::canonicalize(&link) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(missing(format!("{}: no certificate yet", link.display())))
        }
        Err(e) => return Err(missing(format!("{}: cannot open: {e}", link.display()))),
    };
    // A link that leaves certs/ is not the issuer's doing.
    if !dir.starts_with(&root) || dir == root {
        return Err(bad(format!(
            "{}: points outside {}",
            link.display(),
            certs.display()
        )));
    }
    let file = |name: &str| {
        fsread::read(&dir.join(name)).map_err(|e| {
            let msg = format!("{}: {e}", link.join(name).display());
            match e {
                ReadError::Missing => missing(msg),
                ReadError::Io(_) => missing(msg),
                ReadError::NotRegular | ReadError::TooLarge => bad(msg),
            }
        })
    };
    Ok(Source {
        files: CertFiles {
            cert: file(CERT)?,
            chain: file(CHAIN)?,
            fullchain: file(FULLCHAIN)?,
            pubkey: file(PUBKEY)?,
        },
        dir,
    })
}

/// The four files with their names, in manifest order.
pub fn named(files: &CertFiles) -> [(&'static str, &[u8]); 4] {
    [
        (CERT, &files.cert),
        (CHAIN, &files.chain),
        (FULLCHAIN, &files.fullchain),
        (PUBKEY, &files.pubkey),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use certdrop_core::store::Store;

    #[test]
    fn reads_one_version_and_refuses_escapes() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let store = Store {
            certs: tmp.path().join("certs"),
            keys: tmp.path().join("keys"),
            archive: tmp.path().join("archive"),
            keep: 1,
        };
        store.ensure().expect("ensure");
        let files = CertFiles {
            cert: b"c".to_vec(),
            chain: b"i".to_vec(),
            fullchain: b"ci".to_vec(),
            pubkey: b"p".to_vec(),
        };
        store
            .publish("www", Some(&files), None, None)
            .expect("publish");
        let got = read(&store.certs, "www").expect("read");
        assert_eq!(got.files, files);
        let e = read(&store.certs, "mail").expect_err("missing");
        assert_eq!(e.class, Failure::NoInput);
        std::os::unix::fs::symlink(tmp.path().join("keys"), store.certs.join("evil"))
            .expect("symlink");
        let e = read(&store.certs, "evil").expect_err("escape");
        assert_eq!(e.class, Failure::Data);
        let want = format!("points outside {}", store.certs.display());
        assert!(e.msg.ends_with(&want), "{}", e.msg);
    }
}
