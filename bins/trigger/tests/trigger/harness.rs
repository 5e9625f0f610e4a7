//! A test tree: an openssl CA, pub/ with signed manifests, trigger.toml,
//! and a wrapper that runs the binary.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use certdrop_testkit::pki::Pki;
pub use certdrop_testkit::Ran;
use certdrop_testkit::{sh, Run};

/// The service's name.
pub const NAME: &str = "www.example.test";
/// The published certificate the services deploy.
pub const PUBLISHED: &str = "pub/www/fullchain.pem";
/// The manifest signature namespace (certdrop-publish's).
const NAMESPACE: &str = "certdrop-manifest@certdrop";

/// A certificate's PEM and DER.
#[derive(Debug, Clone)]
pub struct Cert {
    pub pem: String,
    pub der: Vec<u8>,
}

/// Paths of a test tree.
pub struct Tree {
    pub dir: certdrop_testkit::Tree,
    /// The openssl CA at the top of the tree (made on the first leaf).
    pki: Pki,
    /// The allowed_signers line for the tree's signing key.
    signers: String,
    count: std::cell::Cell<u32>,
}

impl Deref for Tree {
    type Target = certdrop_testkit::Tree;
    fn deref(&self) -> &certdrop_testkit::Tree {
        &self.dir
    }
}

impl Tree {
    pub fn new() -> Tree {
        let dir = certdrop_testkit::Tree::with_dirs(&["pub", "state", "keys", "defs", "srv"]);
        let key = dir.path("signkey");
        sh(
            dir.root(),
            &format!(
                "ssh-keygen -q -t ed25519 -N '' -C publish -f {}",
                key.display()
            ),
        );
        let public = dir.read_text("signkey.pub");
        let signers = format!("publish@certdrop namespaces=\"{NAMESPACE}\" {public}");
        dir.write("allowed_signers", &signers);
        Tree {
            pki: Pki::new(dir.root()),
            dir,
            signers,
            count: std::cell::Cell::new(0),
        }
    }

    /// A leaf for `name` with key `keys/<key>.pem`, valid from `start` to
    /// `end` (openssl ca dates, YYYYMMDDHHMMSSZ).
    pub fn cert(&self, key: &str, name: &str, start: &str, end: &str) -> Cert {
        let n = self.count.get() + 1;
        self.count.set(n);
        let out = format!("leaf{n}.pem");
        let key = self.pki.key(&self.path(&format!("keys/{key}.pem")));
        self.pki
            .leaf_between(&key, &[name], start, end, &self.path(&out));
        let pem = self.read_text(&out);
        let der = pem::parse(&pem).expect("pem").into_contents();
        Cert { pem, der }
    }

    /// A leaf the tree's CA issues from the CSR `csr` (PEM file) as it
    /// is, its subjectAltName copied (`openssl x509 -req`), valid 30 days:
    /// what a signing site makes of a service site's outbox.
    #[allow(dead_code)]
    pub fn sign_csr(&self, csr: &Path) -> Cert {
        self.pki.ca();
        let n = self.count.get() + 1;
        self.count.set(n);
        let out = self.path(&format!("leaf{n}.pem"));
        sh(
            &self.pki.dir,
            &format!(
                "openssl x509 -req -in '{}' -CA int.pem -CAkey int.key -CAcreateserial \
                 -days 30 -copy_extensions copy -out '{}' 2>&1",
                csr.display(),
                out.display()
            ),
        );
        let pem = std::fs::read_to_string(&out).expect("leaf");
        let der = pem::parse(&pem).expect("pem").into_contents();
        Cert { pem, der }
    }

    /// A leaf valid from 2020 to 2099.
    pub fn valid(&self, key: &str, name: &str) -> Cert {
        self.cert(key, name, "20200101000000Z", "20991231000000Z")
    }

    /// A new leaf for NAME with keys/www.pem, valid from 2020 to 2099,
    /// published as pub/www/ (a first issue or a renewal).
    pub fn issue(&self) -> Cert {
        let cert = self.valid("www", NAME);
        self.publish("www", &cert);
        cert
    }

    /// Publish `cert` as pub/<line>/ the way certdrop-publish does: a new
    /// version directory, a signed manifest, the symlink switched.
    pub fn publish(&self, line: &str, cert: &Cert) {
        self.publish_named(line, cert, NAME);
    }

    /// [`Tree::publish`] with the manifest's `names` field (space-separated).
    pub fn publish_named(&self, line: &str, cert: &Cert, names: &str) {
        let chain = std::fs::read_to_string(self.pki.int()).expect("intermediate");
        let fullchain = format!("{}{chain}", cert.pem);
        let files = [
            ("cert.pem", cert.pem.clone()),
            ("chain.pem", chain),
            ("fullchain.pem", fullchain),
        ];
        let signers_key = self.path("signkey");
        // Newer than a pid file written before (a service started before).
        self.next_file_time();
        certdrop_core::versions::install(&self.path("pub"), line, 0o755, 1, |dir| {
            let mut manifest = format!(
                "certdrop-manifest 1\nline {line}\nnames {names}\nserial 01\n\
                 not-before 2020-01-01T00:00:00Z\nnot-after 2099-12-31T00:00:00Z\n\
                 published 2026-11-24T00:00:00Z\n"
            );
            for (name, text) in &files {
                std::fs::write(dir.join(name), text)?;
                let digest = certdrop_core::certinfo::hex(&Sha256::digest(text.as_bytes()));
                manifest.push_str(&format!("sha256 {digest}  {name}\n"));
            }
            std::fs::write(dir.join("manifest"), manifest)?;
            sh(
                dir,
                &format!(
                    "ssh-keygen -q -Y sign -f {} -n {NAMESPACE} manifest",
                    signers_key.display()
                ),
            );
            Ok(())
        })
        .expect("publish");
        // Older than a pid file written after (a service started after).
        self.next_file_time();
    }

    /// Wait until a file written now gets a later mtime than one written
    /// just before. File times come from a coarse kernel clock (a tick of
    /// a few ms), so a pid file and a certificate written in a row may get
    /// the same time, and the newer-than-pidfile rule compares exactly that.
    fn next_file_time(&self) {
        let probe = self.path(".mtime-probe");
        let stamp = || {
            std::fs::write(&probe, b"").expect("probe");
            std::fs::metadata(&probe)
                .and_then(|m| m.modified())
                .expect("probe mtime")
        };
        let first = stamp();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while stamp() <= first {
            assert!(
                std::time::Instant::now() < deadline,
                "file times do not advance"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        std::fs::remove_file(&probe).expect("rm probe");
    }

    /// trigger.toml with one service; `service` is the body of [[service]].
    pub fn config(&self, service: &str) -> PathBuf {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers");
        self.write(
            "trigger.toml",
            &format!(
                "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"defs\", \"{}\"]\n\
                 allowed_signers = \"allowed_signers\"\nsigner = \"publish@certdrop\"\npostflight_wait = \"5s\"\n\n\
                 [[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n{service}\n",
                shipped.display()
            ),
        )
    }

    /// Run certdrop-trigger -c trigger.toml `args`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let config = self.path("trigger.toml");
        let mut all = vec!["-c", config.to_str().expect("utf8")];
        all.extend_from_slice(args);
        run(&all)
    }

    /// The allowed_signers line.
    #[allow(dead_code)]
    pub fn signers(&self) -> &str {
        &self.signers
    }
}

/// The body of a service that deploys the published certificate with
/// keys/`key`.pem, reloaded by `reload` when its content changed (no
/// server behind it).
pub fn published(key: &str, reload: &str) -> String {
    format!(
        "files = [{{ cert = \"{PUBLISHED}\", key = \"keys/{key}.pem\" }}]\n\
         rule = \"content-changed\"\nreload = \"{reload}\"\n"
    )
}

/// Run certdrop-trigger with `args`.
pub fn run(args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .args(args)
        .ran()
}
