//! The ACME account: created once, stored 0600, reused, shown,
//! rolled over to a new key (stored before the CA is told), deactivated.

use crate::site::Site;

#[test]
fn account_is_created_once_and_shown() {
    let mut site = Site::start();
    site.http_line("www", "");
    let first = site.run(&["run"]).expect(0);
    assert_eq!(first.stdout.matches("account created").count(), 1);
    let creds = site.read("state/account.json");
    let again = site.run(&["issue", "--force", "www"]).expect(0);
    assert!(
        !again.stdout.contains("account created"),
        "{}",
        again.stdout
    );
    assert_eq!(site.read("state/account.json"), creds);
    let show = site.run(&["account", "show", "--json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).expect("json");
    assert!(
        v["account"].as_str().expect("url").contains("/my-account/"),
        "{}",
        show.stdout
    );
    assert_eq!(v["thumbprint"].as_str().expect("thumb").len(), 43);
}

#[test]
fn account_key_rollover_then_issue_with_the_new_key() {
    let site = Site::issued("www", "");
    let show = |site: &Site| -> serde_json::Value {
        serde_json::from_str(&site.run(&["account", "show", "--json"]).expect(0).stdout)
            .expect("json")
    };
    let before = show(&site);
    let ran = site.run(&["account", "rollover"]).expect(0);
    ran.stdout_has("account key replaced");
    let after = show(&site);
    assert_eq!(before["account"], after["account"], "same account");
    assert_ne!(before["thumbprint"], after["thumbprint"], "new key");
    assert!(!site.path("state/account.json.next").exists());
    assert_eq!(crate::site::mode(&site.path("state/account.json")), 0o600);
    site.run(&["issue", "--force", "www"]).expect(0);
}

#[test]
fn an_interrupted_rollover_keeps_the_key_the_ca_knows() {
    let site = Site::issued("www", "");
    // A crash after the new key was stored but before the CA was told:
    // the stored next key is unknown to the CA, so the old one stays.
    let creds: serde_json::Value =
        serde_json::from_slice(&site.read("state/account.json")).expect("json");
    let mut next = creds.clone();
    // Make a key the CA has never seen by rolling a copy's key offline.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    use base64::Engine;
    next["key_pkcs8"] = serde_json::Value::String(
        base64::prelude::BASE64_URL_SAFE_NO_PAD.encode(key.serialize_der()),
    );
    let next_path = site.path("state/account.json.next");
    std::fs::write(&next_path, serde_json::to_vec(&next).expect("json")).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&next_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let ran = site.run(&["account", "rollover", "-v"]).expect(0);
    ran.stderr_has("never reached the CA; old key kept");
    site.run(&["issue", "--force", "www"]).expect(0);
}

#[test]
fn deactivated_accounts_are_set_aside() {
    let site = Site::issued("www", "");
    let ran = site.run(&["account", "deactivate"]).expect(64);
    ran.stderr_has("--yes");
    let ran = site.run(&["account", "deactivate", "--yes"]).expect(0);
    ran.stdout_has("account deactivated");
    assert!(site.path("state/account.json.deactivated").exists());
    // The next run creates a new account.
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    ran.stdout_has("account created");
}

#[test]
fn a_certificate_whose_account_is_gone_is_revoked_with_its_own_key() {
    // A P-384 key: ES384, where the account's requests are all ES256.
    let site = Site::issued("www", "key = \"ecdsa-p384\"");
    let serial = crate::site::openssl(
        &["x509", "-noout", "-serial", "-in"],
        &site.path("certs/www/cert.pem"),
    );
    let serial = serial.trim().trim_start_matches("serial=").to_owned();
    let status = || {
        let (code, body) = site
            .pebble
            .management_get(&format!("/cert-status-by-serial/{serial}"))
            .expect("pebble management");
        assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
        String::from_utf8(body).expect("utf-8")
    };
    assert!(status().contains("\"Valid\""), "{}", status());
    site.run(&["account", "deactivate", "--yes"]).expect(0);

    // The real CA checks the JWS by the certificate's key (RFC 8555 §7.6).
    let ran = site
        .run(&["revoke", "www", "--with-cert-key", "--reason", "superseded"])
        .expect(0);
    ran.stdout_has("revoked; the next run replaces it");
    assert!(status().contains("\"Revoked\""), "{}", status());
    assert!(
        !site.path("state/account.json").exists(),
        "no account was created for it"
    );
    // Once more: the CA's own alreadyRevoked, bad data (65).
    let again = site.run(&["revoke", "www", "--with-cert-key"]).expect(65);
    again.stderr_has("alreadyRevoked");
}
