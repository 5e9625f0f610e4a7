//! A test site: a temp tree with a throwaway PKI made by openssl (root ->
//! intermediate -> leaves), a certificate store written by
//! certdrop_core::store::Store::publish as certdrop-issue writes it, an
//! OpenSSH signing key made by ssh-keygen, a publish.toml, and wrappers that
//! run the real binary and ssh-keygen.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use certdrop_core::store::{CertFiles, Store};
use certdrop_testkit::pki::{KeyType, Pki};
pub use certdrop_testkit::Ran;
use certdrop_testkit::{Run, Tree};

/// The SSHSIG namespace certdrop-publish signs with.
pub const NAMESPACE: &str = "certdrop-manifest@certdrop";
/// Principal of the signing key in allowed_signers.
pub const IDENTITY: &str = "publish@example.org";

/// Run certdrop-publish with `args`.
pub fn publish(args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .args(args)
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .ran()
}

/// Run a shell script in `dir` with `set -eu`, failing the test if it fails.
#[track_caller]
pub fn sh(dir: &Path, script: &str) {
    certdrop_testkit::sh(dir, &format!("set -eu\n{script}"));
}

/// A temp tree: pki/, certs/ keys/ archive/ (the store), pub/, the signing
/// key, allowed_signers and publish.toml.
pub struct Site {
    pub dir: Tree,
    /// The throwaway CA (pki/): root and intermediate, ECDSA P-256.
    pub pki: Pki,
    /// `keep` in publish.toml.
    pub keep: usize,
    /// `[[line]]` tables: (name, names).
    pub lines: Vec<(String, Vec<String>)>,
}

impl Deref for Site {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.dir
    }
}

impl Site {
    /// A site with the PKI, the signing key and one line `www` for
    /// www.example.org and example.org.
    pub fn new() -> Site {
        let dir = Tree::new();
        let pki = Pki::new(&dir.path("pki"));
        pki.ca();
        for key in ["leaf", "other"] {
            pki.key_of(&dir.path(&format!("pki/{key}.key")), KeyType::P256);
            let public = certdrop_testkit::pki::public_key(&dir.path(&format!("pki/{key}.key")));
            dir.write(&format!("pki/{key}.pub"), &public);
        }
        let site = Site {
            dir,
            pki,
            keep: 3,
            lines: vec![("www".into(), names(&["www.example.org", "example.org"]))],
        };
        keygen(&site.path("sign_key"), IDENTITY);
        let public = std::fs::read_to_string(site.path("sign_key.pub")).expect("pub");
        site.write("allowed_signers", &format!("{IDENTITY} {public}"));
        site.store().ensure().expect("store");
        site
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
        let out = format!("leaf-{serial}.pem");
        self.pki.leaf(
            &self.path("pki/leaf.key"),
            names,
            Some(serial),
            days,
            &self.path(&format!("pki/{out}")),
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
        Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(self.path("allowed_signers"))
            .args(["-I", IDENTITY, "-n", NAMESPACE, "-s"])
            .arg(self.path(&format!("pub/{line}/manifest.sig")))
            .stdin(Stdio::from(manifest))
            .output()
            .expect("run ssh-keygen")
            .into()
    }

    /// Replace pub/<line>/manifest.sig by `ssh-keygen -Y sign` with `key`.
    pub fn ssh_keygen_sign(&self, line: &str, key: &Path) {
        let copy = self.path("manifest.copy");
        std::fs::copy(self.path(&format!("pub/{line}/manifest")), &copy).expect("copy");
        Command::new("ssh-keygen")
            .args(["-q", "-Y", "sign", "-n", NAMESPACE, "-f"])
            .arg(key)
            .arg(&copy)
            .ran()
            .expect(0);
        std::fs::rename(
            self.path("manifest.copy.sig"),
            self.path(&format!("pub/{line}/manifest.sig")),
        )
        .expect("rename sig");
    }
}

/// `ssh-keygen -t ed25519 -N ''` into `path` (mode 0600 as ssh-keygen makes it).
pub fn keygen(path: &Path, comment: &str) {
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path)
        .ran()
        .expect(0);
    assert_eq!(certdrop_testkit::tree::mode(path), 0o600);
}

/// Owned names.
pub fn names(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| s.to_string()).collect()
}
