//! certdrop-probe against real servers on loopback (nginx, apache,
//! haproxy, nghttpx, postfix, dovecot, slapd, prosody), each started by
//! its test in a temp tree with certificates from the test kit's openssl
//! PKI, and against hostile scripted servers (stall, garbage, early close, refusal, endless line).
//! Every success compares the captured chain with the certificate files
//! byte for byte.

mod dovecot;
mod hostile;
mod impostor;
mod nginx;
mod postfix;
mod prosody;
mod slapd;
mod web;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdrop_probe::{fetch_chain, Limits, ProbeError, Protocol, Served, Target, Versions};
use certdrop_testkit::pki::{KeyType, Pki};

/// A test's tree and its PKI.
pub(crate) struct Fixture {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) pki: Pki,
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let tmp = tempfile::tempdir().expect("temp dir");
        let pki = Pki::new(&tmp.path().join("pki"));
        pki.ca();
        Fixture { tmp, pki }
    }

    /// A directory `name` in the tree.
    pub(crate) fn dir(&self, name: &str) -> PathBuf {
        let dir = self.tmp.path().join(name);
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    /// A leaf for `name` with a key of `kind`: (cert.pem, fullchain.pem, key.pem).
    pub(crate) fn leaf(&self, name: &str, kind: KeyType) -> Leaf {
        let dir = self.dir(&format!("cert-{name}"));
        let key = self.pki.key_of(&dir.join("key.pem"), kind);
        let cert = dir.join("cert.pem");
        self.pki.leaf(&key, &[name], None, 30, &cert);
        let full = dir.join("fullchain.pem");
        let int = std::fs::read(self.pki.int()).expect("int.pem");
        std::fs::write(&full, [std::fs::read(&cert).expect("cert"), int].concat())
            .expect("fullchain");
        Leaf {
            cert,
            full,
            key,
            int: self.pki.int(),
        }
    }
}

/// A leaf certificate's files.
pub(crate) struct Leaf {
    pub(crate) cert: PathBuf,
    pub(crate) full: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) int: PathBuf,
}

impl Leaf {
    /// Assert `served` is exactly this leaf then the intermediate, by `version`.
    #[track_caller]
    pub(crate) fn assert_served(&self, served: &Served, version: &str) {
        assert_eq!(served.version, version, "version");
        assert_eq!(served.certs.len(), 2, "leaf and intermediate");
        assert!(
            served.certs[0] == der(&self.cert),
            "the leaf differs from cert.pem"
        );
        assert!(
            served.certs[1] == der(&self.int),
            "the intermediate differs from int.pem"
        );
    }
}

/// A PEM certificate file's DER bytes, by openssl.
pub(crate) fn der(pem: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(pem)
        .output()
        .expect("openssl");
    assert!(out.status.success(), "openssl x509 {}", pem.display());
    out.stdout
}

/// 127.0.0.1:`port`.
pub(crate) fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Probe 127.0.0.1:`port` for `name` by `protocol`, offering `versions`,
/// with the default bounds.
pub(crate) fn probe(
    port: u16,
    name: &str,
    protocol: Protocol,
    versions: Versions,
) -> Result<Served, ProbeError> {
    let target = Target {
        connect: local(port),
        server_name: name,
        protocol,
    };
    let limits = Limits {
        versions,
        ..Limits::default()
    };
    fetch_chain(&target, &limits)
}

/// Probe with a short deadline and a small byte budget (hostile servers).
pub(crate) fn probe_bounded(
    port: u16,
    protocol: Protocol,
    timeout: Duration,
    max_bytes: usize,
) -> Result<Served, ProbeError> {
    let target = Target {
        connect: local(port),
        server_name: "hostile.example.test",
        protocol,
    };
    let limits = Limits {
        timeout,
        max_bytes,
        versions: Versions::Any,
    };
    fetch_chain(&target, &limits)
}

/// Assert `err` is one line and contains every piece of `has`.
#[track_caller]
pub(crate) fn assert_line(err: &ProbeError, has: &[&str]) {
    let line = err.to_string();
    assert!(
        !line.contains('\n') && !line.contains('\r'),
        "one line: {line:?}"
    );
    for h in has {
        assert!(line.contains(h), "{line:?} lacks {h:?}");
    }
}
