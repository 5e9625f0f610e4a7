//! A test site: a temp tree with a throwaway PKI (root -> intermediate ->
//! leaves of chosen lifetimes), a store laid out as certdrop-issue writes
//! it (certs/<line>/), a pub/ copy, the issuer's state/, a check.toml, and
//! a wrapper that runs the real binary.

use std::ops::Deref;
use std::process::Command;

use certdrop_testkit::pki::Pki;
pub use certdrop_testkit::Ran;
use certdrop_testkit::{Run, Tree};

/// Run certdrop-check with `args`.
pub fn check(args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-check"))
        .args(args)
        .env_remove("CERTDROP_CHECK_CONFIG")
        .ran()
}

/// A temp tree with pki/, certs/, pub/, state/.
pub struct Site {
    pub dir: Tree,
    /// The throwaway CA.
    pub pki: Pki,
}

impl Deref for Site {
    type Target = Tree;
    fn deref(&self) -> &Tree {
        &self.dir
    }
}

impl Site {
    /// An empty site with its CA made.
    pub fn new() -> Site {
        let dir = Tree::with_dirs(&["certs", "pub", "state"]);
        let pki = Pki::new(&dir.path("pki"));
        pki.ca();
        Site { dir, pki }
    }

    /// certs/<line>/ for `name`, valid for `days` from now (negative:
    /// expired), with the key pki/<line>.key (made once, kept across
    /// renewals as the issuer does): cert, chain, fullchain, pubkey.
    pub fn line(&self, line: &str, name: &str, days: i32) {
        let dir = self.path(&format!("certs/{line}"));
        std::fs::create_dir_all(&dir).expect("line dir");
        let key = self.pki.key(&self.path(&format!("pki/{line}.key")));
        self.pki
            .leaf(&key, &[name], None, days, &dir.join("cert.pem"));
        let cert = std::fs::read(dir.join("cert.pem")).expect("cert.pem");
        let int = std::fs::read(self.pki.int()).expect("int.pem");
        std::fs::write(dir.join("chain.pem"), &int).expect("chain.pem");
        std::fs::write(dir.join("fullchain.pem"), [cert, int].concat()).expect("fullchain");
        let public = certdrop_testkit::pki::public_key(&key);
        std::fs::write(dir.join("pubkey.pem"), public).expect("pubkey.pem");
    }

    /// Copy certs/<line>/ to pub/<line>/ (what certdrop-publish makes visible).
    pub fn publish(&self, line: &str) {
        let to = self.path(&format!("pub/{line}"));
        std::fs::create_dir_all(&to).expect("pub line");
        for f in ["cert.pem", "chain.pem", "fullchain.pem"] {
            std::fs::copy(self.path(&format!("certs/{line}/{f}")), to.join(f)).expect("copy");
        }
    }

    /// Stage a next key for `line`: pki/<line>.next.key and its public
    /// half in certs/<line>/next/pubkey.pem.
    pub fn stage_next(&self, line: &str) -> std::path::PathBuf {
        let key = self.pki.key(&self.path(&format!("pki/{line}.next.key")));
        let dir = self.path(&format!("certs/{line}/next"));
        std::fs::create_dir_all(&dir).expect("next dir");
        std::fs::write(
            dir.join("pubkey.pem"),
            certdrop_testkit::pki::public_key(&key),
        )
        .expect("next pubkey");
        key
    }

    /// check.toml: the store, pub/, state/, then `extra` (more keys and
    /// [[line]] tables).
    pub fn config(&self, extra: &str) -> String {
        let text = format!("certs = \"certs\"\npub = \"pub\"\nissuer_state = \"state\"\n{extra}");
        self.write("check.toml", &text);
        self.path("check.toml").display().to_string()
    }

    /// Run certdrop-check -c check.toml ARGS.
    pub fn check(&self, args: &[&str]) -> Ran {
        let config = self.path("check.toml").display().to_string();
        let mut all = vec!["-c", config.as_str()];
        all.extend_from_slice(args);
        check(&all)
    }

    /// `--json`, parsed.
    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let ran = self.check(&all).expect(code);
        serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {}", ran.stdout))
    }
}
