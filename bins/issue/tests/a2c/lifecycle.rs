//! A line's life against acme2certifier: renewal (forced by the issuer,
//! and when the CA's renewal information says so), revocation, the
//! account key rollover (keyChange) and the staged key rollover,
//! deactivation, and an account bound by EAB.

use std::os::unix::fs::PermissionsExt;

use certdrop_testkit::a2c::A2cOpts;

use crate::site::{openssl, Site};

/// An hour in seconds, for moving recorded times into the past.
const HOUR: i64 = 3600;

#[test]
fn not_due_by_the_ca_renewal_information_then_forced() {
    let site = Site::issued("www", "");
    let first = site.serial("www");
    let key = site.key_pubkey("www");
    // acme2certifier offers ARI; its window opens at 85 % of a 30-day life.
    let ran = site.run(&["run", "-v"]).expect(2);
    assert!(!ran.stderr.contains("does not offer ARI"), "{}", ran.stderr);
    let ran = site.run(&["status", "--json"]).expect(0);
    assert!(ran.stdout.contains("www"), "{}", ran.stdout);
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    ran.stdout_has("www: certificate issued (forced, same key)");
    assert_ne!(site.serial("www"), first);
    assert_eq!(site.key_pubkey("www"), key);
    site.openssl_verify("www");
}

#[test]
fn an_open_renewal_window_renews_even_though_the_ca_ignores_replaces() {
    let mut site = Site::new(A2cOpts {
        renewal_force: true,
        ..A2cOpts::default()
    });
    site.http_line("www", "");
    site.run(&["run"]).expect(0);
    let first = site.serial("www");
    let ran = site.run(&["run", "-v"]).expect(0);
    ran.stderr_has("www: CA suggests renewal between");
    ran.stdout_has("www: certificate issued");
    assert_ne!(site.serial("www"), first);
    // acme2certifier 0.46.3 offers ARI but has no `replaces` (RFC 9773
    // section 5): it takes the newOrder and leaves the field out of the
    // order, which a server that accepts it MUST reflect; instant-acme
    // refuses such an order, and the issuer orders again without it.
    ran.stderr_has("the CA does not take replaces");
    ran.stderr_has("ordering without it");
}

#[test]
fn a_revoked_certificate_is_in_the_crl_and_replaced_by_the_next_run() {
    let site = Site::issued("www", "");
    let first = site.serial("www");
    let ran = site
        .run(&["revoke", "www", "--reason", "superseded"])
        .expect(0);
    ran.stdout_has("revoked; the next run replaces it");
    // The CA's own CRL lists the serial.
    let crl = openssl(&["crl", "-noout", "-text", "-in"], &site.a2c.crl);
    let hex = first.trim().trim_start_matches("serial=");
    assert!(
        crl.to_uppercase().contains(&hex.to_uppercase()),
        "{hex} not in\n{crl}"
    );
    // Revoking again is refused by the CA: bad data, its own problem type.
    let again = site.run(&["revoke", "www"]).expect(65);
    again.stderr_has("alreadyRevoked");
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("replacing a revoked certificate");
    assert_ne!(site.serial("www"), first);
}

#[test]
fn account_key_rollover_then_issue_with_the_new_key() {
    let site = Site::issued("www", "");
    let show = |site: &Site| -> serde_json::Value {
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json")
    };
    let before = show(&site);
    assert!(
        before["account"]
            .as_str()
            .expect("url")
            .contains("/acme/acct/"),
        "{before}"
    );
    let ran = site.run(&["account", "rollover"]).expect(0);
    ran.stdout_has("account key replaced");
    let after = show(&site);
    assert_eq!(before["account"], after["account"], "same account");
    assert_ne!(before["thumbprint"], after["thumbprint"], "new key");
    // The CA knows the new key: it signs the next order.
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    assert!(!ran.stdout.contains("account created"), "{}", ran.stdout);
}

#[test]
fn staged_key_rollover_publishes_the_next_key_first() {
    let site = Site::issued("dane", "max_key_age = \"1h\"\nrollover_wait = \"1h\"");
    let old_key = site.key_pubkey("dane");
    let old_serial = site.serial("dane");
    site.run(&["run"]).expect(2);
    site.backdate("dane", &["key_created"], 2 * HOUR);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("dane: key rollover started");
    let next_pub = String::from_utf8(site.read("certs/dane/next/pubkey.pem")).expect("utf8");
    assert_ne!(next_pub, old_key);
    assert_eq!(site.serial("dane"), old_serial);
    site.backdate("dane", &["next_published"], 2 * HOUR);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("(key rollover, new key)");
    assert_eq!(site.cert_pubkey("dane"), next_pub);
    assert_eq!(site.key_pubkey("dane"), next_pub);
    site.openssl_verify("dane");
}

#[test]
fn a_deactivated_account_is_set_aside_and_a_new_one_issues() {
    let site = Site::issued("www", "");
    let ran = site.run(&["account", "deactivate", "--yes"]).expect(0);
    ran.stdout_has("account deactivated: https://127.0.0.1:14000/acme/acct/");
    assert!(site.path("state/account.json.deactivated").exists());
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    ran.stdout_has("account created");
    ran.stdout_has("www: certificate issued (forced, same key)");
}

#[test]
fn acme2certifier_refuses_a_revocation_signed_by_the_certificate_key() {
    // RFC 8555 section 7.6 lets the certificate's own key sign a
    // revocation; acme2certifier 0.46.3 takes a `jwk` revocation only
    // when that key is an account's, and answers accountDoesNotExist.
    let site = Site::issued("www", "key = \"ecdsa-p384\"");
    let serial = site.serial("www");
    site.run(&["account", "deactivate", "--yes"]).expect(0);
    site.run(&["revoke", "www", "--with-cert-key"])
        .expect(78)
        .one_error("www: revoke with the certificate's key: accountDoesNotExist");
    assert_eq!(site.serial("www"), serial);
    assert!(!site.a2c.crl.exists(), "nothing was revoked");
}

#[test]
fn an_account_bound_by_eab_and_the_ca_refusals() {
    // Two kids and HMAC keys (base64url of 32 bytes) acme2certifier knows.
    let keys = vec![
        (
            "kid-1".to_owned(),
            "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W".to_owned(),
        ),
        (
            "kid-2".to_owned(),
            "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH".to_owned(),
        ),
    ];
    let mut site = Site::new(A2cOpts {
        eab_keys: Some(keys.clone()),
        ..A2cOpts::default()
    });
    site.http_line("www", "");
    let key_file = site.path("eab.key");
    let write_key = |key: &str| {
        std::fs::write(&key_file, format!("{key}\n")).expect("write key");
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    // No binding at all: refused by the CA, nothing created.
    let ran = site.run(&["run"]).expect(78);
    ran.stderr_has("externalAccountRequired");
    // kid-1 with kid-2's key: the CA's HMAC check fails.
    site.head = "eab = { kid = \"kid-1\", hmac_key_file = \"eab.key\" }\n".to_owned();
    write_key(&keys[1].1);
    let ran = site.run(&["run"]).expect(78);
    ran.stderr_has("(eab kid kid-1");
    assert!(!site.path("state/account.json").exists());
    // The right key: the account is created and issues.
    write_key(&keys[0].1);
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("account created");
    ran.stdout_has("www: certificate issued");
}
