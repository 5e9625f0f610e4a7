//! The life of a line across runs: the renewal window, changed names,
//! revocation, and the DANE-safe staged key rollover, each run a separate
//! process (so state survives restarts).

use std::time::Duration;

use certdrop_core::{certinfo, clock};
use certdrop_testkit::within;

use crate::site::{openssl, openssl_names, Site};
use certdrop_testkit::pebble::PebbleOpts;

/// An hour in seconds, for moving recorded times into the past.
const HOUR: i64 = 3600;

fn serial(site: &Site, line: &str) -> String {
    openssl(
        &["x509", "-noout", "-serial", "-in"],
        &site.path(&format!("certs/{line}/cert.pem")),
    )
}

#[test]
fn renews_inside_the_window_and_not_before() {
    // A 9-second certificate (Pebble ends it a second before the period).
    let mut site = Site::new(PebbleOpts {
        validity_secs: Some(10),
        ..PebbleOpts::default()
    });
    let config = site.path("short.toml");
    let write = |site: &mut Site, remaining: u8| {
        site.lines.clear();
        site.http_line("short", &format!("renew_remaining = {remaining}"));
        let text = site
            .config_text()
            .replace("[renew]\n", "[renew]\njitter = \"0s\"\n");
        std::fs::write(&config, text).expect("write");
    };
    write(&mut site, 1);
    crate::site::run_bin(&config, &["run"]).expect(0);
    let first = serial(&site, "short");
    let key = site.key_pubkey("short");
    // Renewing in the last 1%: not due until the certificate ends.
    crate::site::run_bin(&config, &["run"]).expect(2);
    // In the last 90%: due from one whole second after not_before (times
    // are whole seconds); the clock is there by now, or within a second.
    write(&mut site, 90);
    let cert = certinfo::parse_chain(&site.read("certs/short/cert.pem")).expect("certificate");
    assert!(within(Duration::from_secs(5), || clock::now() > cert[0].not_before));
    let ran = crate::site::run_bin(&config, &["run"]).expect(0);
    ran.stdout_has("short: certificate issued (renewal due, same key)");
    assert_ne!(serial(&site, "short"), first);
    assert_eq!(site.key_pubkey("short"), key);
}

#[test]
fn changed_names_renew_at_once() {
    let mut site = Site::issued("www", "");
    site.lines.clear();
    site.line("name = \"www\"\ndomains = [\"www.example.test\", \"new.example.test\"]\nchallenge = \"http-01\"");
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("(names changed, same key)");
    assert_eq!(
        openssl_names(&site.path("certs/www/cert.pem")),
        ["new.example.test", "www.example.test"]
    );
}

#[test]
fn a_revoked_certificate_is_replaced_by_the_next_run() {
    let site = Site::issued("www", "");
    let first = serial(&site, "www");
    let ran = site
        .run(&["revoke", "www", "--reason", "superseded"])
        .expect(0);
    ran.stdout_has("revoked; the next run replaces it");
    // Revoking again is refused by the CA: the certificate really is revoked.
    let again = site.run(&["revoke", "www"]);
    assert_ne!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("alreadyRevoked") || again.stderr.contains("revoked"),
        "{}",
        again.stderr
    );
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("replacing a revoked certificate");
    assert_ne!(serial(&site, "www"), first);
}

#[test]
fn staged_key_rollover_publishes_the_next_key_first() {
    let site = Site::issued("dane", "max_key_age = \"1h\"\nrollover_wait = \"1h\"");
    let old_key = site.key_pubkey("dane");
    let old_serial = serial(&site, "dane");
    // A young key: nothing to do.
    let ran = site.run(&["run"]).expect(2);
    assert_eq!(ran.stdout, "");
    assert!(!site.path("keys/dane/next").exists());
    // Two hours later the key is older than max_key_age: stage the next
    // one, certificate unchanged.
    site.backdate("dane", &["key_created"], 2 * HOUR);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("dane: key rollover started");
    let next_pub = String::from_utf8(site.read("certs/dane/next/pubkey.pem")).expect("utf8");
    assert_eq!(
        openssl(
            &["pkey", "-pubout", "-in"],
            &site.path("keys/dane/next/key.pem")
        ),
        next_pub
    );
    assert_ne!(next_pub, old_key);
    assert_eq!(serial(&site, "dane"), old_serial);
    assert_eq!(site.key_pubkey("dane"), old_key);
    // Too early to use it: nothing happens, quietly.
    let ran = site.run(&["run"]).expect(2);
    assert_eq!(ran.stdout, "");
    // A renewal meanwhile keeps the current key and the staged one published.
    let ran = site.run(&["issue", "--force", "dane"]).expect(0);
    ran.stdout_has("(forced, same key)");
    assert_eq!(site.cert_pubkey("dane"), old_key);
    assert_eq!(
        String::from_utf8(site.read("certs/dane/next/pubkey.pem")).expect("utf8"),
        next_pub
    );
    // Published for longer than rollover_wait: the next key signs.
    site.backdate("dane", &["next_published"], 2 * HOUR);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("(key rollover, new key)");
    assert_eq!(
        site.cert_pubkey("dane"),
        next_pub,
        "the certificate is for the staged key"
    );
    assert_eq!(
        site.key_pubkey("dane"),
        next_pub,
        "the staged key is now the key"
    );
    assert!(!site.path("certs/dane/next").exists());
    assert!(!site.path("keys/dane/next").exists());
}

#[test]
fn an_interrupted_key_change_is_finished_on_the_next_run() {
    // The state a crash between installing the certificate and promoting
    // the key leaves: the certificate is for keys/<line>/next/key.pem.
    let site = Site::issued("www", "key_policy = \"fresh\"");
    let key = site.path("keys/www/key.pem");
    let next = site.path("keys/www/next/key.pem");
    std::fs::create_dir_all(next.parent().expect("parent")).expect("mkdir");
    std::fs::rename(&key, &next).expect("move");
    std::fs::write(&key, "stale key material that no longer matches\n").expect("write");
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("www: finished an interrupted key change");
    assert_eq!(site.key_pubkey("www"), site.cert_pubkey("www"));
}

#[test]
fn a_compromised_key_is_replaced_even_on_a_reuse_line() {
    let site = Site::issued("www", "");
    let old = site.key_pubkey("www");
    site.run(&["revoke", "www", "--reason", "key-compromise"])
        .expect(0);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("(replacing a revoked certificate, new key)");
    assert_ne!(site.key_pubkey("www"), old);
    assert_eq!(site.key_pubkey("www"), site.cert_pubkey("www"));
}
