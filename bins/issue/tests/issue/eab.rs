//! External Account Binding (RFC 8555 §7.3.4) against a real Pebble that
//! requires it, with the kids and HMAC keys of its example configuration
//! (`pebble-config-external-account-bindings.json`). Everything here is
//! the real CA's: binding check, messages, account creation.

use std::os::unix::fs::PermissionsExt;

use certdrop_testkit::pebble::{PebbleOpts, EAB_EXAMPLE_CONFIG};

use crate::site::Site;

/// The `(kid, key)` pairs of Pebble's example configuration.
fn example_keys() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(EAB_EXAMPLE_CONFIG).expect("pebble's EAB example");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    let keys = v["pebble"]["externalAccountMACKeys"]
        .as_object()
        .expect("externalAccountMACKeys");
    keys.iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("key").to_owned()))
        .collect()
}

/// A site whose Pebble requires EAB, one http-01 line, no account yet.
fn eab_site() -> (Site, Vec<(String, String)>) {
    let keys = example_keys();
    let mut site = Site::new(PebbleOpts {
        eab_keys: Some(keys.clone()),
        ..PebbleOpts::default()
    });
    site.http_line("www", "");
    (site, keys)
}

fn write_key(site: &Site, key: &str, mode: u32) {
    let path = site.path("eab.key");
    std::fs::write(&path, format!("{key}\n")).expect("write key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn a_bound_account_is_created_once_and_the_key_never_printed() {
    let (mut site, keys) = eab_site();
    let (kid, key) = &keys[0];
    site.head = format!("eab = {{ kid = \"{kid}\", hmac_key_file = \"eab.key\" }}\n");

    // Readable by others: refused like a private key, before the CA is
    // asked, and by -n already.
    write_key(&site, key, 0o644);
    for args in [&["run"][..], &["-n"]] {
        let ran = site.run(args).expect(65);
        ran.stderr_has("eab.key: refused: private key is readable or writable by group or others");
    }
    assert!(!site.path("state/account.json").exists());

    write_key(&site, key, 0o600);
    site.run(&["-n"]).expect(0);
    let ran = site.run(&["run", "-vv"]).expect(0);
    ran.stdout_has("account created");
    for text in [&ran.stdout, &ran.stderr] {
        assert!(!text.contains(key.as_str()), "key printed:\n{text}");
    }
    let creds = String::from_utf8(site.read("state/account.json")).expect("utf-8");
    assert!(!creds.contains(key.as_str()));
    // Used at creation only: the account lives on without the key file.
    std::fs::remove_file(site.path("eab.key")).expect("rm key");
    site.run(&["issue", "--force", "www"]).expect(0);
}

#[test]
fn a_wrong_key_and_a_missing_binding_are_configuration_errors() {
    let (mut site, keys) = eab_site();
    // kid-1 with kid-2's key: the CA's HMAC check fails.
    site.head = format!(
        "eab = {{ kid = \"{}\", hmac_key_file = \"eab.key\" }}\n",
        keys[0].0
    );
    write_key(&site, &keys[1].1, 0o600);
    let ran = site.run(&["run"]).expect(78);
    ran.stderr_has(&format!("(eab kid {}", keys[0].0));
    assert!(!ran.stderr.contains(keys[1].1.as_str()), "{}", ran.stderr);
    assert!(!site.path("state/account.json").exists());

    // No binding at all: the CA's externalAccountRequired, and the key to set.
    site.head.clear();
    let ran = site.run(&["run"]).expect(78);
    ran.stderr_has("externalAccountRequired");
    ran.stderr_has("set eab = { kid = \"...\", hmac_key_file = \"...\" }");
}
