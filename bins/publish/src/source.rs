//! Reading one line's public files from the certificate store written by
//! certdrop-issue (core::store): `certs/<line>` is a symlink to a complete
//! version directory, which is resolved once so that all four files come
//! from the same version even if the issuer switches the link meanwhile.
//! Only the four named public files are read; nothing else in the store
//! (least of all a misplaced key) is ever opened or copied.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use certdrop_core::error::Error;
use certdrop_core::store::{CertFiles, CERT, CHAIN, FULLCHAIN, PUBKEY};
use certdrop_core::untrusted::{self, Rules};

/// A line's files and where they were read from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The four public files.
    pub files: CertFiles,
    /// The resolved version directory.
    pub dir: PathBuf,
}

/// Read `certs/<line>/{cert,chain,fullchain,pubkey}.pem` from one version.
/// 66 when the line has no certificate yet or a file is unreadable, 65 for
/// a hostile store (a link out of certs/, a FIFO, a device, a huge file);
/// messages are "subject: cause" without the line name.
pub fn read(certs: &Path, line: &str) -> Result<Source, Error> {
    let link = certs.join(line);
    let root = fs::canonicalize(certs).map_err(|e| Error::unreadable(certs, "cannot open", &e))?;
    let dir = match fs::canonicalize(&link) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::noinput(format!(
                "{}: no certificate yet",
                link.display()
            )))
        }
        Err(e) => return Err(Error::unreadable(&link, "cannot open", &e)),
    };
    // A link that leaves certs/ is not the issuer's doing.
    if !dir.starts_with(&root) || dir == root {
        return Err(Error::data(format!(
            "{}: points outside {}",
            link.display(),
            certs.display()
        )));
    }
    // Read from the resolved directory, named as the link for messages.
    let file = |name: &str| {
        untrusted::read(&dir.join(name), &Rules::default()).map_err(|r| r.error(&link.join(name)))
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
        assert_eq!(e.class, certdrop_core::exit::Failure::NoInput);
        std::os::unix::fs::symlink(tmp.path().join("keys"), store.certs.join("evil"))
            .expect("symlink");
        let e = read(&store.certs, "evil").expect_err("escape");
        assert_eq!(e.class, certdrop_core::exit::Failure::Data);
        let want = format!("points outside {}", store.certs.display());
        assert!(e.msg.ends_with(&want), "{}", e.msg);
    }
}
