//! Issuance against acme2certifier: one name over http-01, twelve names
//! over dns-01 through the drop directory, RSA and P-384 keys, and the
//! account it refuses.

use crate::site::{mode, openssl_names, Site};

#[test]
fn one_name_over_http01_then_quiet() {
    let mut site = Site::start();
    site.http_line("web", "");
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("account created");
    ran.stdout_has("web: certificate issued (first certificate, new key) for web.example.test");
    assert_eq!(ran.stderr, "");
    site.openssl_verify("web");
    assert_eq!(
        openssl_names(&site.path("certs/web/cert.pem")),
        ["web.example.test"]
    );
    assert_eq!(site.cert_pubkey("web"), site.key_pubkey("web"));
    let full = String::from_utf8(site.read("certs/web/fullchain.pem")).expect("utf8");
    let cert = String::from_utf8(site.read("certs/web/cert.pem")).expect("utf8");
    let chain = String::from_utf8(site.read("certs/web/chain.pem")).expect("utf8");
    assert_eq!(full, format!("{cert}{chain}"));
    assert_eq!(mode(&site.path("keys/web/key.pem")), 0o600);
    // The CA fetched the token from port 80 and the token is gone.
    assert!(
        site.listing("webroot").is_empty(),
        "{:?}",
        site.listing("webroot")
    );
    let hits = site.web.as_ref().expect("web").hits();
    assert!(hits.iter().any(|(_, status)| *status == 200), "{hits:?}");
    // Nothing due: silent, exit 2.
    site.run(&["run"]).expect(2).silent();
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
fn twelve_names_over_dns01_through_the_drop_directory() {
    let mut site = Site::start();
    let domains: Vec<String> = TWELVE.iter().map(|d| format!("\"{d}\"")).collect();
    site.line(&format!(
        "name = \"ucc\"\ndomains = [{}]",
        domains.join(", ")
    ));
    let ran = site.run(&["run", "-v"]).expect(0);
    ran.stderr_has("visible on 1 server(s)");
    let mut want: Vec<String> = TWELVE.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(openssl_names(&site.path("certs/ucc/cert.pem")), want);
    site.openssl_verify("ucc");
    assert!(
        site.listing("dnsextra").is_empty(),
        "fragments left: {:?}",
        site.listing("dnsextra")
    );
    // No http-01 on a dns-01 line.
    assert!(site.web.as_ref().expect("web").hits().is_empty());
}

#[test]
fn acme2certifier_refuses_an_account_without_contact() {
    // RFC 8555 makes `contact` optional; acme2certifier wants one unless
    // `[Account] contact_check_disable` is set: a configuration without
    // `contact` stops at the new account, one line, bad data.
    let mut site = Site::start();
    site.http_line("web", "");
    let config = site.path("no-contact.toml");
    let text = site
        .config_text()
        .replace("contact = [\"mailto:ops@example.test\"]\n", "");
    std::fs::write(&config, text).expect("write config");
    site.a2c
        .enter(|| crate::site::run_bin(&config, &["run"]))
        .expect(65)
        .one_error("malformed: Contact information is missing");
    assert!(!site.path("state/account.json").exists());
    assert!(!site.path("certs/web").exists());
}

#[test]
fn rsa_and_p384_keys() {
    const TYPES: [(&str, &str, &str); 2] = [
        ("p384", "ecdsa-p384", "ASN1 OID: secp384r1"),
        ("rsa2", "rsa2048", "Public-Key: (2048 bit)"),
    ];
    let mut site = Site::start();
    for (name, key, _) in TYPES {
        site.http_line(name, &format!("key = \"{key}\""));
    }
    site.run(&["run"]).expect(0);
    for (name, _, want) in TYPES {
        let text = crate::site::openssl(
            &["x509", "-noout", "-text", "-in"],
            &site.path(&format!("certs/{name}/cert.pem")),
        );
        assert!(text.contains(want), "{name}: {text}");
        assert_eq!(site.cert_pubkey(name), site.key_pubkey(name), "{name}");
        site.openssl_verify(name);
    }
}
