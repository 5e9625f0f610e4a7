//! A test site: a temp tree with an issue.toml pointing at a Pebble, the
//! drop directories relayed/served, and a wrapper that runs the binary and
//! returns exit code and output.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::pebble::{Pebble, PebbleOpts, Relay, WebServer};
pub use certdrop_testkit::pki::openssl;
pub use certdrop_testkit::tree::mode;
use certdrop_testkit::{Ran, Run, Tree};

/// The `[store]` of every test configuration: four directories of the
/// tree (the state directory also holds the account).
pub const STORE: &str =
    "[store]\ncerts = \"certs\"\nkeys = \"keys\"\narchive = \"archive\"\nstate = \"state\"\n";

/// A temp tree with Pebble, relay and webroot server.
pub struct Site {
    pub dir: Tree,
    pub pebble: Pebble,
    pub relay: Option<Relay>,
    pub web: Option<WebServer>,
    /// Extra top-level TOML (before the lines).
    pub head: String,
    /// `[[line]]` tables.
    pub lines: String,
}

impl Site {
    /// Start Pebble with `opts`, relay dnsextra/ and serve webroot/.
    pub fn new(opts: PebbleOpts) -> Site {
        let dir = Tree::with_dirs(&["dnsextra", "webroot"]);
        let pebble = Pebble::start(opts);
        // A copy of the CA bundle that outlives Pebble's own temp dir.
        std::fs::copy(&pebble.ca_bundle, dir.path("acme-ca.pem")).expect("copy CA");
        let relay = Some(pebble.relay_dnsextra(&dir.path("dnsextra")));
        let web = Some(pebble.serve_webroot(&dir.path("webroot")));
        Site {
            dir,
            pebble,
            relay,
            web,
            head: String::new(),
            lines: String::new(),
        }
    }

    /// Default Pebble.
    pub fn start() -> Site {
        Site::new(PebbleOpts::default())
    }

    /// Default Pebble and one http-01 line `name` (plus `extra` keys, see
    /// [`Site::http_line`]) with its first certificate issued: where most
    /// tests of a line's life begin.
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

    /// Add an http-01 line `name` for `<name>.example.test`, with `extra`
    /// keys (TOML lines, or nothing).
    pub fn http_line(&mut self, name: &str, extra: &str) -> &mut Site {
        self.line(&format!(
            "name = \"{name}\"\ndomains = [\"{name}.example.test\"]\nchallenge = \"http-01\"\n{extra}"
        ))
    }

    /// The configuration text.
    pub fn config_text(&self) -> String {
        issue_toml(
            &self.pebble.directory_url,
            &format!("\"{}\"", self.pebble.dns_addr),
            "20s",
            &self.head,
            &self.lines,
        )
    }

    /// Write issue.toml and return its path.
    pub fn write_config(&self) -> PathBuf {
        let p = self.path("issue.toml");
        std::fs::write(&p, self.config_text()).expect("write config");
        p
    }

    /// Run the binary with `args` after `-c issue.toml`.
    pub fn run(&self, args: &[&str]) -> Ran {
        let config = self.write_config();
        run_bin(&config, args)
    }

    /// The bytes of a file of the tree.
    pub fn read(&self, rel: &str) -> Vec<u8> {
        self.dir.read(rel)
    }

    /// Move the times `fields` recorded in `state/<line>.json` `secs` into
    /// the past, as if that long had passed since.
    pub fn backdate(&self, line: &str, fields: &[&str], secs: i64) {
        backdate_state(&self.dir, line, fields, secs);
    }

    /// SPKI-based fingerprint of `certs/<line>/cert.pem` (via openssl).
    pub fn cert_pubkey(&self, line: &str) -> String {
        openssl_pubkey_of_cert(&self.path(&format!("certs/{line}/cert.pem")))
    }

    /// Public key of `keys/<line>/key.pem` (via openssl).
    pub fn key_pubkey(&self, line: &str) -> String {
        key_pubkey_of(&self.dir, line)
    }

    /// Files in a drop directory (names, sorted).
    pub fn listing(&self, rel: &str) -> Vec<String> {
        self.dir.listing(rel)
    }

    /// Verify `certs/<line>/fullchain.pem` against Pebble's roots with openssl.
    pub fn openssl_verify(&self, line: &str) {
        let roots = self.path("pebble-roots.pem");
        std::fs::write(&roots, self.pebble.root_pem()).expect("roots");
        verify_chain(&roots, &self.dir, line);
    }
}

/// Run the binary with a config file.
pub fn run_bin(config: &Path, args: &[&str]) -> Ran {
    Command::new(env!("CARGO_BIN_EXE_certdrop-issue"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("CERTDROP_ISSUE_CONFIG")
        .ran()
}

/// issue.toml for a test site: the CA at `directory`, `dns` the
/// `[dns] servers` list's inside (quoted, comma-separated), waiting up to
/// `timeout` for a dns-01 value; `head` top-level keys, `lines` the
/// `[[line]]` tables. Shared with the acme2certifier suite.
pub fn issue_toml(directory: &str, dns: &str, timeout: &str, head: &str, lines: &str) -> String {
    format!(
        r#"directory = "{dir}"
contact = ["mailto:ops@example.test"]
agree_terms = true
account = "state/account.json"
ca_bundle = "acme-ca.pem"
{head}
{STORE}keep = 3

[drop]
dnsextra = "dnsextra"
webroot = "webroot"

[dns]
servers = [{dns}]
timeout = "{timeout}"
interval = "1s"

[renew]
lock_wait = "2s"
validation_timeout = "60s"

{lines}"#,
        dir = directory,
    )
}

/// Move the times `fields` recorded in `<tree>/state/<line>.json` `secs`
/// into the past (the file's format is the binary's `state::LineState`:
/// seconds since the epoch).
pub fn backdate_state(tree: &Tree, line: &str, fields: &[&str], secs: i64) {
    let rel = format!("state/{line}.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&tree.read(&rel)).expect("state is JSON");
    for field in fields {
        let t = state[field]
            .as_i64()
            .unwrap_or_else(|| panic!("{rel}: no {field} recorded"));
        state[field] = (t - secs).into();
    }
    let text = serde_json::to_vec_pretty(&state).expect("JSON");
    std::fs::write(tree.path(&rel), text).expect("write state");
}

/// Public key of `<tree>/keys/<line>/key.pem` (via openssl).
pub fn key_pubkey_of(tree: &Tree, line: &str) -> String {
    openssl(
        &["pkey", "-pubout", "-in"],
        &tree.path(&format!("keys/{line}/key.pem")),
    )
}

/// `openssl verify` of `<tree>/certs/<line>/` against `roots`, the chain
/// the issuer stored as the untrusted intermediates.
pub fn verify_chain(roots: &Path, tree: &Tree, line: &str) {
    Command::new("openssl")
        .args(["verify", "-CAfile"])
        .arg(roots)
        .arg("-untrusted")
        .arg(tree.path(&format!("certs/{line}/chain.pem")))
        .arg(tree.path(&format!("certs/{line}/cert.pem")))
        .ran()
        .expect(0);
}

/// The public key PEM of a certificate file.
pub fn openssl_pubkey_of_cert(cert: &Path) -> String {
    openssl(&["x509", "-noout", "-pubkey", "-in"], cert)
}

/// SANs of a certificate, via openssl, sorted.
pub fn openssl_names(cert: &Path) -> Vec<String> {
    let text = openssl(&["x509", "-noout", "-ext", "subjectAltName", "-in"], cert);
    let mut v: Vec<String> = text
        .split([',', '\n'])
        .filter_map(|s| s.trim().strip_prefix("DNS:").map(str::to_owned))
        .collect();
    v.sort();
    v
}
