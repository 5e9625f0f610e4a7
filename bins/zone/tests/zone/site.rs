//! A zone-building tree for tests: sources, drop directories, keys, a
//! zone.toml, and a wrapper that runs the binary.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Exit code and output of one run.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    #[track_caller]
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Run certdrop-zone with `args`.
pub fn run(args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_certdrop-zone"))
        .args(args)
        .output()
        .expect("run certdrop-zone");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A valid dns-01 value.
pub const V1: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";
/// Another one.
pub const V2: &str = "yKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

/// Paths of a test tree.
pub struct Tree {
    pub dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in [
            "soa",
            "primary",
            "dnsextra",
            "certs",
            "phonehome",
            "keys",
            "zones",
            "build",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Tree { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }

    /// soa/ZONE and primary/ZONE for a small zone served at 127.0.0.1.
    pub fn sources(&self, zone: &str) {
        self.write(
            &format!("soa/{zone}"),
            &format!(
                "$TTL 300\n@ IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 3600 900 1209600 60 )\n"
            ),
        );
        self.write(
            &format!("primary/{zone}"),
            "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nmail A 127.0.0.1\n",
        );
    }

    /// ldns-keygen a KSK and a ZSK for `zone`; returns their basenames.
    pub fn keys(&self, zone: &str) -> Vec<PathBuf> {
        let mut names = Vec::new();
        for ksk in [true, false] {
            let mut cmd = Command::new("ldns-keygen");
            cmd.current_dir(self.path("keys"))
                .args(["-a", "ECDSAP256SHA256"]);
            if ksk {
                cmd.arg("-k");
            }
            let out = cmd.arg(zone).output().expect("ldns-keygen (ldnsutils)");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let base = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            names.push(self.path(&format!("keys/{base}")));
        }
        names
    }

    /// A fragment file in dnsextra/.
    pub fn fragment(&self, file: &str, text: &str) -> PathBuf {
        self.write(&format!("dnsextra/{file}"), text)
    }

    /// zone.toml with one zone; `extra` is appended inside the [[zone]].
    pub fn config(&self, zone: &str, reload: &str, zone_extra: &str) -> PathBuf {
        self.write(
            "zone.toml",
            &format!(
                "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\nphonehome = \"phonehome\"\n\
                 reload = {reload}\n\n[[zone]]\nname = \"{zone}\"\nsoa = \"soa/{zone}\"\nprimary = \"primary/{zone}\"\n{zone_extra}\n"
            ),
        )
    }
}

/// Read a file as text.
pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// SHA-256 of a certificate's SPKI by the openssl pipeline (TLSA 3 1 1).
pub fn openssl_spki_sha256(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
            cert.display()
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}
