//! Several CAs with fallback (issue 14 item 7): a line lists two named
//! CAs, each a real Pebble with its own roots, account and trust. What is
//! the real CAs' and what the fault proxy's is said in each test: Pebble
//! issues, validates and keeps accounts; the proxy in front of the first
//! one only answers newOrder with a refusal or a rate limit (Pebble 2.4
//! has neither rejectedIdentifier for a plain name nor rate limits).

use std::path::{Path, PathBuf};

use certdrop_testkit::pebble::{
    ca_down_url, Endpoint, Fault, FaultProxy, Pebble, PebbleOpts, WebServer,
};
use certdrop_testkit::Ran;

use crate::site::{openssl, run_bin, Site};

/// A site whose line `www` lists CA `one` then CA `two`; `one` is the
/// site's own Pebble, `two` a second Pebble with its own webroot server.
struct TwoCas {
    site: Site,
    second: Pebble,
    _web2: WebServer,
}

impl TwoCas {
    fn new() -> TwoCas {
        let mut site = Site::start();
        let second = Pebble::start(PebbleOpts::default());
        std::fs::copy(&site.pebble.ca_bundle, site.path("ca1.pem")).expect("copy CA 1");
        std::fs::copy(&second.ca_bundle, site.path("ca2.pem")).expect("copy CA 2");
        let web2 = second.serve_webroot(&site.path("webroot"));
        site.http_line("www", "ca = [\"one\", \"two\"]");
        TwoCas {
            site,
            second,
            _web2: web2,
        }
    }

    /// Write `multi.toml` with CA `one` at `first` (a directory URL).
    fn config(&self, first: &str) -> PathBuf {
        let cas = format!(
            "[[ca]]\nname = \"one\"\ndirectory = \"{first}\"\naccount = \"state/one.json\"\nca_bundle = \"ca1.pem\"\n\n\
             [[ca]]\nname = \"two\"\ndirectory = \"{}\"\naccount = \"state/two.json\"\nca_bundle = \"ca2.pem\"\n\n",
            self.second.directory_url
        );
        let text = format!("{}\n{cas}", self.site.config_text());
        let path = self.site.path("multi.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// The `ca` status --json shows for `www`.
    fn status_ca(&self, config: &Path) -> Option<String> {
        let ran = run_bin(config, &["status", "--json"]).expect(0);
        let v: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status JSON");
        v[0]["ca"].as_str().map(str::to_owned)
    }

    /// The certificate of `www` verifies against `pebble`'s roots.
    fn verifies_at(&self, pebble: &Pebble) {
        let roots = self.site.path("roots.pem");
        std::fs::write(&roots, pebble.root_pem()).expect("roots");
        openssl(
            &[
                "verify",
                "-CAfile",
                roots.to_str().expect("utf-8"),
                "-untrusted",
                self.site
                    .path("certs/www/chain.pem")
                    .to_str()
                    .expect("utf-8"),
            ],
            &self.site.path("certs/www/cert.pem"),
        );
    }
}

/// The one warning line of a fallback from `one` to `two`.
fn fell_back(ran: &Ran, why: &str) {
    let lines: Vec<&str> = ran.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", ran.stderr);
    assert!(
        lines[0].starts_with("certdrop-issue: warning: www: CA one failed: ")
            && lines[0].contains(why)
            && lines[0].ends_with("; trying CA two"),
        "{}",
        ran.stderr
    );
}

#[test]
fn the_first_ca_down_the_second_issues_and_the_next_renewal_goes_to_the_first() {
    let t = TwoCas::new();
    // CA one is down: nothing listens at its URL.
    let config = t.config(&ca_down_url());
    let ran = run_bin(&config, &["run"]).expect(0);
    fell_back(&ran, "127.0.0.1");
    ran.stdout_has("www: certificate issued");
    t.verifies_at(&t.second);
    assert_eq!(t.status_ca(&config).as_deref(), Some("two"));
    let human = run_bin(&config, &["status"]).expect(0);
    human.stdout_has("www: issued by CA two");
    let spki_two = t.site.cert_pubkey("www");

    // CA one is back: the renewal goes to it first, with the same key.
    let config = t.config(&t.site.pebble.directory_url);
    let ran = run_bin(&config, &["issue", "--force", "www"]).expect(0);
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    t.verifies_at(&t.site.pebble);
    assert_eq!(t.status_ca(&config).as_deref(), Some("one"));
    assert_eq!(
        t.site.cert_pubkey("www"),
        spki_two,
        "a change of CA kept the key"
    );
}

#[test]
fn the_first_ca_refusing_the_names_the_second_issues() {
    let t = TwoCas::new();
    // The proxy's part: newOrder at CA one answers rejectedIdentifier.
    let proxy = FaultProxy::start(&t.site.pebble);
    proxy.inject(
        Endpoint::NewOrder,
        0,
        1,
        Fault::problem(400, "rejectedIdentifier").detail("on a block list"),
    );
    let config = t.config(&proxy.directory_url);
    let ran = run_bin(&config, &["run"]).expect(0);
    fell_back(&ran, "rejectedIdentifier: on a block list");
    t.verifies_at(&t.second);
    assert_eq!(t.status_ca(&config).as_deref(), Some("two"));
    assert_eq!(proxy.orders_created(), 0, "CA one made no order");
}

#[test]
fn the_first_ca_rate_limiting_backs_off_without_fallback() {
    let t = TwoCas::new();
    // The proxy's part: newOrder at CA one answers 429 rateLimited with
    // a Retry-After longer than a run waits.
    let proxy = FaultProxy::start(&t.site.pebble);
    proxy.inject(
        Endpoint::NewOrder,
        0,
        1,
        Fault::problem(429, "rateLimited")
            .detail("too many new orders")
            .retry_after_secs(3600),
    );
    let config = t.config(&proxy.directory_url);
    let ran = run_bin(&config, &["run"]).expect(75);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_has("rateLimited: too many new orders");
    assert!(!ran.stderr.contains("trying CA"), "{}", ran.stderr);
    assert!(!t.site.path("certs/www/cert.pem").exists());
    assert!(
        !t.site.path("state/two.json").exists(),
        "CA two was not asked"
    );
    let state: serde_json::Value =
        serde_json::from_slice(&t.site.read("state/www.json")).expect("state JSON");
    assert!(state["retry_not_before"].as_i64().is_some(), "{state}");
    // Backing off: the next run leaves the line alone.
    run_bin(&config, &["run"]).expect(75);
    assert_eq!(proxy.seen(Endpoint::NewOrder), 1);
}

#[test]
fn check_names_the_cas_and_refuses_an_unknown_one() {
    let t = TwoCas::new();
    let config = t.config(&t.site.pebble.directory_url);
    run_bin(&config, &["-n"]).expect(0);
    let text = std::fs::read_to_string(&config)
        .expect("config")
        .replace("ca = [\"one\", \"two\"]", "ca = [\"one\", \"three\"]");
    std::fs::write(&config, text).expect("write");
    let ran = run_bin(&config, &["-n"]).expect(78);
    ran.stderr_has("no [[ca]] named 'three' (defined: one, two)");
}
