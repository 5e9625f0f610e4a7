//! Issuance against Pebble: one name, twelve names, apex + wildcard, a
//! challenge alias, http-01, key types and key policies.

use std::process::Command;

use crate::site::{mode, openssl_names, openssl_pubkey_of_cert, Site};

#[test]
fn one_name_over_http01_then_quiet() {
    let mut site = Site::start();
    site.line("name = \"web\"\ndomains = [\"www.example.test\"]\nchallenge = \"http-01\"");
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("account created");
    ran.stdout_has("web: certificate issued (first certificate, new key) for www.example.test");
    assert_eq!(ran.stderr, "");
    site.openssl_verify("web");
    assert_eq!(
        openssl_names(&site.path("certs/web/cert.pem")),
        ["www.example.test"]
    );
    assert_eq!(site.cert_pubkey("web"), site.key_pubkey("web"));
    assert_eq!(
        String::from_utf8(site.read("certs/web/pubkey.pem")).expect("utf8"),
        site.key_pubkey("web")
    );
    let full = String::from_utf8(site.read("certs/web/fullchain.pem")).expect("utf8");
    let cert = String::from_utf8(site.read("certs/web/cert.pem")).expect("utf8");
    let chain = String::from_utf8(site.read("certs/web/chain.pem")).expect("utf8");
    assert_eq!(full, format!("{cert}{chain}"));
    // Secrets: key 0600 in a 0700 directory; account 0600.
    assert_eq!(mode(&site.path("keys/web/key.pem")), 0o600);
    assert_eq!(mode(&site.path("keys/web")), 0o700);
    assert_eq!(mode(&site.path("state/account.json")), 0o600);
    assert_eq!(mode(&site.path("certs/web/cert.pem")), 0o644);
    // The token is gone; the webroot was really used.
    assert!(
        site.listing("webroot").is_empty(),
        "{:?}",
        site.listing("webroot")
    );
    assert!(site
        .web
        .as_ref()
        .expect("web")
        .hits()
        .iter()
        .any(|(_, status)| *status == 200));
    // Nothing due: silent, exit 2, and the account is reused.
    let again = site.run(&["run"]).expect(2);
    assert_eq!((again.stdout.as_str(), again.stderr.as_str()), ("", ""));
    // Not due by lifetime; the CA is asked for renewal information, and
    // Pebble 2.4 has none to give.
    let again = site.run(&["run", "-v"]).expect(2);
    assert!(
        again
            .stderr
            .contains("renewal information: the CA does not offer ARI"),
        "{}",
        again.stderr
    );
}

/// The twelve names of seed 000's unified communications certificate.
const TWELVE: [&str; 12] = [
    "web.johncook.co.test",
    "johncook.co.test",
    "web.johncook.test",
    "johncook.test",
    "web.watfordjc.test",
    "watfordjc.test",
    "www.thejc.me.test",
    "thejc.me.test",
    "www.david-j-lane.co.test",
    "david-j-lane.co.test",
    "www.davergent.test",
    "davergent.test",
];

#[test]
fn twelve_names_over_dns01() {
    let mut site = Site::start();
    let domains: Vec<String> = TWELVE.iter().map(|d| format!("\"{d}\"")).collect();
    site.line(&format!(
        "name = \"ucc\"\ndomains = [{}]",
        domains.join(", ")
    ));
    site.run(&["run"]).expect(0);
    let mut want: Vec<String> = TWELVE.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(openssl_names(&site.path("certs/ucc/cert.pem")), want);
    site.openssl_verify("ucc");
    assert!(
        site.listing("dnsextra").is_empty(),
        "fragments left: {:?}",
        site.listing("dnsextra")
    );
}

#[test]
fn apex_and_wildcard_publish_two_values_on_one_name() {
    let mut site = Site::start();
    site.line("name = \"wild\"\ndomains = [\"example.test\", \"*.example.test\"]");
    let ran = site.run(&["run", "-v"]).expect(0);
    // Both fragments were written for the same owner before validation.
    let written = ran
        .stderr
        .matches("TXT _acme-challenge.example.test. written")
        .count();
    assert_eq!(written, 2, "{}", ran.stderr);
    ran.stderr_has("2 value(s) visible");
    assert_eq!(
        openssl_names(&site.path("certs/wild/cert.pem")),
        ["*.example.test", "example.test"]
    );
    assert!(site.listing("dnsextra").is_empty());
}

#[test]
fn challenge_alias_writes_the_target_and_checks_the_cname() {
    let mut site = Site::start();
    site.line(
        "name = \"aliased\"\ndomains = [\"mail.example.test\"]\nalias = \"acme.example.net\"",
    );
    // No CNAME yet: a clear error before any order, nothing written.
    let ran = site.run(&["run"]).expect(78);
    ran.stderr_has("challenge alias: _acme-challenge.mail.example.test. has no CNAME to _acme-challenge.acme.example.net.");
    assert!(!site.path("certs/aliased").exists());
    site.pebble.set_cname(
        "_acme-challenge.mail.example.test.",
        "_acme-challenge.acme.example.net.",
    );
    let ran = site.run(&["issue", "aliased", "-v"]).expect(0);
    ran.stderr_has("TXT _acme-challenge.acme.example.net. written");
    assert_eq!(
        openssl_names(&site.path("certs/aliased/cert.pem")),
        ["mail.example.test"]
    );
}

#[test]
fn key_types() {
    const TYPES: [(&str, &str, &str); 5] = [
        ("p384", "ecdsa-p384", "ASN1 OID: secp384r1"),
        ("rsa2", "rsa2048", "Public-Key: (2048 bit)"),
        ("rsa3", "rsa3072", "Public-Key: (3072 bit)"),
        ("rsa4", "rsa4096", "Public-Key: (4096 bit)"),
        ("p256", "ecdsa-p256", "ASN1 OID: prime256v1"),
    ];
    let mut site = Site::start();
    for (name, key, _) in TYPES {
        site.line(&format!("name = \"{name}\"\ndomains = [\"{name}.example.test\"]\nkey = \"{key}\"\nchallenge = \"http-01\""));
    }
    site.run(&["run"]).expect(0);
    for (name, _, want) in TYPES {
        let text = crate::site::openssl(
            &["x509", "-noout", "-text", "-in"],
            &site.path(&format!("certs/{name}/cert.pem")),
        );
        assert!(text.contains(want), "{name}: {text}");
        assert_eq!(site.cert_pubkey(name), site.key_pubkey(name), "{name}");
    }
}

#[test]
fn reuse_keeps_the_key_and_fresh_changes_it() {
    let mut site = Site::start();
    site.http_line("reuse", "");
    site.http_line("fresh", "key_policy = \"fresh\"");
    site.run(&["run"]).expect(0);
    let (reuse1, fresh1) = (site.cert_pubkey("reuse"), site.cert_pubkey("fresh"));
    let serial1 = crate::site::openssl(
        &["x509", "-noout", "-serial", "-in"],
        &site.path("certs/reuse/cert.pem"),
    );
    let ran = site.run(&["issue", "--force", "reuse", "fresh"]).expect(0);
    ran.stdout_has("reuse: certificate issued (forced, same key)");
    ran.stdout_has("fresh: certificate issued (forced, new key)");
    let serial2 = crate::site::openssl(
        &["x509", "-noout", "-serial", "-in"],
        &site.path("certs/reuse/cert.pem"),
    );
    assert_ne!(serial1, serial2, "a new certificate");
    assert_eq!(site.cert_pubkey("reuse"), reuse1, "reuse keeps the key");
    assert_ne!(site.cert_pubkey("fresh"), fresh1, "fresh makes a new key");
    assert_eq!(site.cert_pubkey("fresh"), site.key_pubkey("fresh"));
    // The replaced set is archived, key included.
    let backups = site.listing("archive/reuse");
    assert_eq!(backups.len(), 1, "{backups:?}");
    let old = site.path(&format!("archive/reuse/{}/cert.pem", backups[0]));
    assert_eq!(
        crate::site::openssl(&["x509", "-noout", "-serial", "-in"], &old),
        serial1
    );
    assert!(site
        .path(&format!(
            "archive/fresh/{}/key.pem",
            site.listing("archive/fresh")[0]
        ))
        .exists());
}

#[test]
fn csr_line_never_holds_a_key() {
    let mut site = Site::start();
    let key = site.path("own.key");
    let csr = site.path("own.csr");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=sip.example.test",
        ])
        .args([
            "-addext",
            "subjectAltName=DNS:sip.example.test,DNS:sip.example.org.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .expect("openssl req");
    assert!(ok.success());
    site.line(&format!(
        "name = \"sip\"\ndomains = [\"sip.example.test\", \"sip.example.org.test\"]\ncsr = \"{}\"",
        csr.display()
    ));
    site.run(&["run"]).expect(0);
    let want = crate::site::openssl(&["pkey", "-pubout", "-in"], &key);
    assert_eq!(
        openssl_pubkey_of_cert(&site.path("certs/sip/cert.pem")),
        want
    );
    assert!(!site.path("keys/sip").exists(), "no key for a CSR line");

    // A CSR whose names differ from the line: one line, exit 65, cert kept.
    let before = site.read("certs/sip/cert.pem");
    let mut other = Site {
        lines: String::new(),
        ..site
    };
    other.line(&format!(
        "name = \"sip\"\ndomains = [\"sip.example.test\"]\ncsr = \"{}\"",
        csr.display()
    ));
    let ran = other.run(&["issue", "--force", "sip"]).expect(65);
    assert!(
        ran.stderr.contains("own.csr: CSR refused: names")
            && ran.stderr.contains("differ from line 'sip'"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert_eq!(other.read("certs/sip/cert.pem"), before);
}
