//! A test tree: an openssl CA, pub/ with signed manifests, trigger.toml,
//! and a wrapper that runs the binary.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The service's name.
pub const NAME: &str = "www.example.test";
/// The manifest signature namespace (certdrop-publish's).
const NAMESPACE: &str = "certdrop-manifest@certdrop";

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

    /// Exactly one line on stderr, containing `what`; nothing on stdout.
    #[track_caller]
    pub fn one_error(self, what: &str) -> Ran {
        assert_eq!(self.stderr.lines().count(), 1, "one line: {}", self.stderr);
        assert!(self.stderr.contains(what), "'{what}' in: {}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
        self
    }

    /// Silent.
    #[track_caller]
    pub fn silent(self) -> Ran {
        assert!(self.stdout.is_empty() && self.stderr.is_empty(), "{self:?}");
        self
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind")
        .port()
}

/// openssl: a root and an intermediate (once per tree), and leaves the
/// intermediate signs with given dates (`openssl ca`: any dates, past too).
const PKI: &str = r#"set -eu
q() { "$@" >/dev/null 2>&1; }
if [ ! -f int.pem ]; then
    q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days 30 -subj "/CN=Test Root"
    q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout int.key -out int.csr -subj "/CN=Test Intermediate"
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
    q openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
        -out int.pem -days 30 -extfile int.ext
    mkdir -p ca.d; : >ca.d/index.txt; echo 01 >ca.d/serial
    printf '[ca]\ndefault_ca=d\n[d]\ndir=ca.d\ndatabase=ca.d/index.txt\nnew_certs_dir=ca.d\nserial=ca.d/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\n[p]\ncommonName=supplied\n' >ca.cnf
fi
# $1 key file (made if missing), $2 name, $3 start, $4 end, $5 output
[ -f "$1" ] || q openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
q openssl req -new -key "$1" -out leaf.csr -subj "/CN=$2"
printf 'subjectAltName=DNS:%s\n' "$2" >leaf.ext
q openssl ca -batch -notext -config ca.cnf -cert int.pem -keyfile int.key -in leaf.csr \
    -out "$5" -startdate "$3" -enddate "$4" -extfile leaf.ext
"#;

/// A certificate's PEM and DER.
#[derive(Debug, Clone)]
pub struct Cert {
    pub pem: String,
    pub der: Vec<u8>,
}

/// Paths of a test tree.
pub struct Tree {
    pub dir: tempfile::TempDir,
    /// The allowed_signers line for the tree's signing key.
    signers: String,
    count: std::cell::Cell<u32>,
}

impl Tree {
    pub fn new() -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        for d in ["pub", "state", "keys", "defs", "srv"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        let key = dir.path().join("signkey");
        sh(
            dir.path(),
            &format!(
                "ssh-keygen -q -t ed25519 -N '' -C publish -f {}",
                key.display()
            ),
        );
        let public = std::fs::read_to_string(dir.path().join("signkey.pub")).expect("pub");
        let signers = format!("publish@certdrop namespaces=\"{NAMESPACE}\" {public}");
        std::fs::write(dir.path().join("allowed_signers"), &signers).expect("signers");
        Tree {
            dir,
            signers,
            count: std::cell::Cell::new(0),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// A leaf for `name` with key `keys/<key>.pem`, valid from `start` to
    /// `end` (openssl ca dates, YYYYMMDDHHMMSSZ).
    pub fn cert(&self, key: &str, name: &str, start: &str, end: &str) -> Cert {
        let n = self.count.get() + 1;
        self.count.set(n);
        let out = format!("leaf{n}.pem");
        let key = format!("keys/{key}.pem");
        let status = Command::new("sh")
            .args(["-c", PKI, "pki", &key, name, start, end, &out])
            .current_dir(self.path(""))
            .status()
            .expect("sh + openssl");
        assert!(status.success(), "PKI script failed");
        let pem = std::fs::read_to_string(self.path(&out)).expect("leaf");
        let der = pem::parse(&pem).expect("pem").into_contents();
        Cert { pem, der }
    }

    /// A leaf valid from 2020 to 2099.
    pub fn valid(&self, key: &str, name: &str) -> Cert {
        self.cert(key, name, "20200101000000Z", "20991231000000Z")
    }

    /// Publish `cert` as pub/<line>/ the way certdrop-publish does: a new
    /// version directory, a signed manifest, the symlink switched.
    pub fn publish(&self, line: &str, cert: &Cert) {
        let chain = std::fs::read_to_string(self.path("int.pem")).expect("intermediate");
        let fullchain = format!("{}{chain}", cert.pem);
        let files = [
            ("cert.pem", cert.pem.clone()),
            ("chain.pem", chain),
            ("fullchain.pem", fullchain),
        ];
        let signers_key = self.path("signkey");
        certdrop_core::versions::install(&self.path("pub"), line, 0o755, 1, |dir| {
            let mut manifest = format!(
                "certdrop-manifest 1\nline {line}\nnames {NAME}\nserial 01\n\
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
        // mtimes must order after the pid file of a service started before.
        std::thread::sleep(std::time::Duration::from_millis(20));
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

/// Run certdrop-trigger with `args`.
pub fn run(args: &[&str]) -> Ran {
    let out = Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .args(args)
        .output()
        .expect("run certdrop-trigger");
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run a shell script in `dir`; it must succeed.
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
