//! A test site against acme2certifier: a temp tree with an issue.toml
//! pointing at it, the dns-01 drop directory relayed into its DNS
//! (pebble-challtestsrv on port 53 of its namespace), the http-01 webroot
//! served on port 80 there, and the binary run inside the namespace.

use std::fmt::Write as _;
use std::path::PathBuf;

use certdrop_testkit::a2c::{A2c, A2cOpts};
use certdrop_testkit::pebble::{Relay, WebServer};
use certdrop_testkit::{Ran, Tree};

use crate::pebble_site::{backdate_state, issue_toml, key_pubkey_of, verify_chain};
pub use crate::pebble_site::{mode, openssl, openssl_names, run_bin};

/// A temp tree with acme2certifier, relay and webroot server.
pub struct Site {
    pub a2c: A2c,
    /// Kept for its lifetime: it stops, and clears what it served, on drop.
    pub _relay: Option<Relay>,
    pub web: Option<WebServer>,
    /// Extra top-level TOML (before the lines).
    pub head: String,
    /// `[[line]]` tables.
    pub lines: String,
    /// `[dns] timeout`: how long the issuer waits for a dns-01 value.
    pub dns_timeout: String,
    /// More `[dns] servers` after the namespace's port 53.
    pub more_dns: Vec<String>,
    /// Last: fields drop in order, so the tree goes after the servers
    /// that use it have stopped.
    pub dir: Tree,
}

impl Site {
    /// Start acme2certifier with `opts`; with its challtestsrv, relay
    /// dnsextra/ into it; serve webroot/.
    pub fn new(opts: A2cOpts) -> Site {
        let dir = Tree::with_dirs(&["dnsextra", "webroot"]);
        let cts = opts.challtestsrv;
        let a2c = A2c::start(opts);
        std::fs::copy(&a2c.ca_bundle, dir.path("acme-ca.pem")).expect("copy CA");
        let relay = cts.then(|| a2c.relay_dnsextra(&dir.path("dnsextra")));
        let web = Some(a2c.serve_webroot(&dir.path("webroot")));
        Site {
            dir,
            a2c,
            _relay: relay,
            web,
            head: String::new(),
            lines: String::new(),
            dns_timeout: "20s".into(),
            more_dns: Vec::new(),
        }
    }

    /// The default acme2certifier.
    pub fn start() -> Site {
        Site::new(A2cOpts::default())
    }

    /// The default acme2certifier and one http-01 line `name` with its
    /// first certificate issued.
    pub fn issued(name: &str, extra: &str) -> Site {
        let mut site = Site::start();
        site.http_line(name, extra);
        site.run(&["run"]).expect(0);
        site
    }

    /// `rel` below the site's tree.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path(rel)
    }

    /// Add a `[[line]]` table (body without the header).
    pub fn line(&mut self, body: &str) -> &mut Site {
        writeln!(self.lines, "[[line]]\n{body}\n").expect("string");
        self
    }

    /// Add an http-01 line `name` for `<name>.example.test`, with `extra` keys.
    pub fn http_line(&mut self, name: &str, extra: &str) -> &mut Site {
        self.line(&format!(
            "name = \"{name}\"\ndomains = [\"{name}.example.test\"]\nchallenge = \"http-01\"\n{extra}"
        ))
    }

    /// The configuration text (the Pebble suite's, pointed at this CA).
    pub fn config_text(&self) -> String {
        let dns: Vec<String> = std::iter::once(self.a2c.dns_addr.to_string())
            .chain(self.more_dns.iter().cloned())
            .map(|a| format!("\"{a}\""))
            .collect();
        issue_toml(
            &self.a2c.directory_url,
            &dns.join(", "),
            &self.dns_timeout,
            &self.head,
            &self.lines,
        )
    }

    /// Write issue.toml and run the binary with `args` after `-c
    /// issue.toml`, inside the namespace.
    pub fn run(&self, args: &[&str]) -> Ran {
        let config = self.path("issue.toml");
        std::fs::write(&config, self.config_text()).expect("write config");
        self.a2c.enter(|| run_bin(&config, args))
    }

    /// The bytes of a file of the tree.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        self.dir.read(rel)
    }

    /// Files in a directory of the tree (names, sorted).
    pub fn listing(&self, rel: &str) -> Vec<String> {
        self.dir.listing(rel)
    }

    /// The serial of `certs/<line>/cert.pem`.
    pub fn serial(&self, line: &str) -> String {
        openssl(
            &["x509", "-noout", "-serial", "-in"],
            &self.path(&format!("certs/{line}/cert.pem")),
        )
    }

    /// Public key of `certs/<line>/cert.pem`.
    pub fn cert_pubkey(&self, line: &str) -> String {
        crate::pebble_site::openssl_pubkey_of_cert(&self.path(&format!("certs/{line}/cert.pem")))
    }

    /// Public key of `keys/<line>/key.pem`.
    pub fn key_pubkey(&self, line: &str) -> String {
        key_pubkey_of(&self.dir, line)
    }

    /// Move the times `fields` recorded in `state/<line>.json` `secs` into
    /// the past.
    pub fn backdate(&self, line: &str, fields: &[&str], secs: i64) {
        backdate_state(&self.dir, line, fields, secs);
    }

    /// Verify `certs/<line>/` with openssl against the CA's own root:
    /// the chain the issuer stored is the one acme2certifier sent.
    pub fn openssl_verify(&self, line: &str) {
        verify_chain(&self.a2c.issuing_root, &self.dir, line);
    }
}
