//! A test site: a temp tree with a throwaway PKI made by openssl (root ->
//! intermediate -> leaves), a certificate store written by
//! certdrop_core::store::Store::publish as certdrop-issue writes it, an
//! OpenSSH signing key made by ssh-keygen, a publish.toml, and wrappers that
//! run the real binary and ssh-keygen.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use certdrop_core::store::{CertFiles, Store};

/// The SSHSIG namespace certdrop-publish signs with.
pub const NAMESPACE: &str = "certdrop-manifest@certdrop";
/// Principal of the signing key in allowed_signers.
pub const IDENTITY: &str = "publish@example.org";

/// What one run of a program did.
#[derive(Debug)]
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Assert the exit code, showing the output if it differs.
    #[track_caller]
    pub fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Assert nothing was printed.
    #[track_caller]
    pub fn silent(self) -> Ran {
        assert_eq!((self.stdout.as_str(), self.stderr.as_str()), ("", ""));
        self
    }
}

fn ran(out: std::process::Output) -> Ran {
    Ran {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Run certdrop-publish with `args`.
pub fn publish(args: &[&str]) -> Ran {
    ran(Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .args(args)
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .output()
        .expect("run certdrop-publish"))
}

/// Run a shell script in `dir`, failing the test if it fails.
#[track_caller]
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .args(["-eu", "-c", script])
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The throwaway CA: root and intermediate, ECDSA P-256.
const PKI: &str = r#"
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout root.key -out root.pem -days 30 -subj "/CN=Test Root"
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout int.key -out int.csr -subj "/CN=Test Intermediate"
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
q openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -set_serial 1 \
    -out int.pem -days 30 -extfile int.ext
q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out leaf.key
q openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out other.key
openssl pkey -in leaf.key -pubout -out leaf.pub
openssl pkey -in other.key -pubout -out other.pub
"#;

/// A temp tree: pki/, certs/ keys/ archive/ (the store), pub/, the signing
/// key, allowed_signers and publish.toml.
pub struct Site {
    pub dir: tempfile::TempDir,
    /// `keep` in publish.toml.
    pub keep: usize,
    /// `[[line]]` tables: (name, names).
    pub lines: Vec<(String, Vec<String>)>,
}

impl Site {
    /// A site with the PKI, the signing key and one line `www` for
    /// www.example.org and example.org.
    pub fn new() -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("pki")).expect("mkdir");
        sh(&dir.path().join("pki"), PKI);
        let site = Site {
            dir,
            keep: 3,
            lines: vec![("www".into(), names(&["www.example.org", "example.org"]))],
        };
        keygen(&site.path("sign_key"), IDENTITY);
        let public = std::fs::read_to_string(site.path("sign_key.pub")).expect("pub");
        site.write("allowed_signers", &format!("{IDENTITY} {public}"));
        site.store().ensure().expect("store");
        site
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, text).expect("write");
        p
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// The store certdrop-issue writes (this test's keep is irrelevant).
    pub fn store(&self) -> Store {
        Store {
            certs: self.path("certs"),
            keys: self.path("keys"),
            archive: self.path("archive"),
            keep: 2,
        }
    }

    /// A leaf for `names` signed by the intermediate with `serial`, valid
    /// for `days` (negative: already expired), with leaf.key; as the four
    /// store files.
    pub fn leaf(&self, serial: u32, names: &[&str], days: i32) -> CertFiles {
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        let out = format!("leaf-{serial}.pem");
        sh(
            &self.path("pki"),
            &format!(
                "printf 'subjectAltName={san}\\n' >leaf.ext
                 openssl req -new -key leaf.key -out leaf.csr -subj /CN={cn} 2>/dev/null
                 openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key \
                     -set_serial {serial} -days {days} -extfile leaf.ext -out {out} 2>/dev/null",
                san = san.join(","),
                cn = names[0],
            ),
        );
        let cert = self.read(&format!("pki/{out}"));
        let chain = self.read("pki/int.pem");
        CertFiles {
            fullchain: [cert.clone(), chain.clone()].concat(),
            cert,
            chain,
            pubkey: self.read("pki/leaf.pub"),
        }
    }

    /// A leaf like `files`' (same key, names and dates, so the same
    /// notBefore second) with another `serial`, by `openssl ca`.
    pub fn resign(&self, files: &CertFiles, serial: u32) -> CertFiles {
        std::fs::write(self.path("pki/resign-in.pem"), &files.cert).expect("write");
        sh(
            &self.path("pki"),
            &format!(
                "rm -rf ca && mkdir ca && touch ca/index.txt && printf '%02X\\n' {serial} > ca/serial
                 printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=ca/index.txt\\nnew_certs_dir=ca\\nserial=ca/serial\\n\\
policy=p\\ndefault_md=sha256\\ncopy_extensions=copy\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n' > ca.cnf
                 at() {{ date -u -d \"$(openssl x509 -in resign-in.pem -noout -$1 | cut -d= -f2)\" +%Y%m%d%H%M%SZ; }}
                 openssl x509 -in resign-in.pem -x509toreq -key leaf.key -copy_extensions copy -out resign.csr 2>/dev/null
                 openssl ca -batch -config ca.cnf -cert int.pem -keyfile int.key -in resign.csr \\
                     -startdate $(at startdate) -enddate $(at enddate) -notext -out resigned-{serial}.pem 2>/dev/null"
            ),
        );
        let cert = self.read(&format!("pki/resigned-{serial}.pem"));
        CertFiles {
            fullchain: [cert.clone(), files.chain.clone()].concat(),
            cert,
            chain: files.chain.clone(),
            pubkey: files.pubkey.clone(),
        }
    }

    /// A good leaf for line www.
    pub fn www(&self, serial: u32) -> CertFiles {
        self.leaf(serial, &["www.example.org", "example.org"], 30)
    }

    /// Install `files` as the current set of `line`, as certdrop-issue does.
    pub fn install(&self, line: &str, files: &CertFiles) {
        self.store()
            .publish(line, Some(files), None, None)
            .expect("store publish");
    }

    /// The configuration text.
    pub fn config_text(&self) -> String {
        let mut text = format!(
            "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"sign_key\"\nkeep = {}\nlock_wait = \"1s\"\n",
            self.keep
        );
        for (name, names) in &self.lines {
            let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
            text.push_str(&format!(
                "\n[[line]]\nname = \"{name}\"\nnames = [{}]\n",
                quoted.join(", ")
            ));
        }
        text
    }

    /// Write publish.toml and run the binary with `-c publish.toml args`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let config = self.write("publish.toml", &self.config_text());
        let mut all = vec!["-c", config.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        publish(&all)
    }

    /// `certdrop-publish verify <dir> --allowed-signers allowed_signers`.
    pub fn verify(&self, dir: &str, extra: &[&str]) -> Ran {
        let dir = self.path(dir);
        let signers = self.path("allowed_signers");
        let mut args = vec![
            "verify",
            dir.to_str().expect("utf-8"),
            "--allowed-signers",
            signers.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        publish(&args)
    }

    /// Where pub/<line> points, relative to pub/.
    pub fn link(&self, line: &str) -> PathBuf {
        std::fs::read_link(self.path(&format!("pub/{line}"))).expect("pub link")
    }

    /// Version directories in pub/.v/.
    pub fn versions(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("pub/.v"))
            .expect("pub/.v")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// `ssh-keygen -Y verify` of pub/<line>/manifest.
    pub fn ssh_keygen_verify(&self, line: &str) -> Ran {
        let manifest =
            std::fs::File::open(self.path(&format!("pub/{line}/manifest"))).expect("manifest");
        ran(Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(self.path("allowed_signers"))
            .args(["-I", IDENTITY, "-n", NAMESPACE, "-s"])
            .arg(self.path(&format!("pub/{line}/manifest.sig")))
            .stdin(Stdio::from(manifest))
            .output()
            .expect("run ssh-keygen"))
    }

    /// Replace pub/<line>/manifest.sig by `ssh-keygen -Y sign` with `key`.
    pub fn ssh_keygen_sign(&self, line: &str, key: &Path) {
        let copy = self.path("manifest.copy");
        std::fs::copy(self.path(&format!("pub/{line}/manifest")), &copy).expect("copy");
        let out = Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
            .arg(key)
            .arg(&copy)
            .output()
            .expect("run ssh-keygen");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(
            self.path("manifest.copy.sig"),
            self.path(&format!("pub/{line}/manifest.sig")),
        )
        .expect("rename sig");
    }
}

/// `ssh-keygen -t ed25519 -N ''` into `path` (mode 0600 as ssh-keygen makes it).
pub fn keygen(path: &Path, comment: &str) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(path).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

/// Owned names.
pub fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}
