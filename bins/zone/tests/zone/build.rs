//! Zone builds served by a real nsd: assembled from sources and drop
//! directories, signed by ldns-signzone, checked by ldns-verify-zone,
//! reloaded only on change, and never replaced by a broken build.

use std::process::Command;

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pki::self_signed_line;
use certdrop_testkit::Run;

use crate::site::{answered, keys_toml, openssl_spki_sha256, read, run, Ran, Tree, V1, V2};

const ZONE: &str = "example.test";

/// A tree with sources, keys, a certificate line and a host key.
fn signed_tree() -> (Tree, Nsd) {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys = tree.keys(ZONE);
    // A certificate line for TLSA.
    self_signed_line(
        &tree.path("certs"),
        "www",
        &tree.path("www.key"),
        &["www.example.test"],
    );
    tree.write("tlsa.map", "_443._tcp.www.example.test  www  3 1 1\n");
    // A host key for SSHFP.
    std::fs::create_dir_all(tree.path("phonehome/www.example.test")).expect("mkdir");
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(tree.path("phonehome/www.example.test/ssh_host_ed25519_key"))
        .ran()
        .expect(0);
    std::fs::remove_file(tree.path("phonehome/www.example.test/ssh_host_ed25519_key"))
        .expect("private half");
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(
        ZONE,
        &nsd.reload_command(),
        &format!(
            "tlsa_map = \"tlsa.map\"\nsshfp = true\n{}[zone.caa]\nissuer = \"letsencrypt.org\"\naccounturi = \"https://acme.example/acct/1\"\nmethods = [\"dns-01\"]\n",
            keys_toml(&keys)
        ),
    );
    (tree, nsd)
}

fn build(tree: &Tree) -> Ran {
    tree.run(&["build"])
}

#[test]
fn builds_signs_serves_and_stays_quiet_when_nothing_changed() {
    let (tree, nsd) = signed_tree();
    tree.fragment(
        "a",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    tree.fragment("evil", "$INCLUDE /etc/shadow\n");
    let ran = build(&tree).expect(0);
    ran.stdout_has("zone example.test: serial");
    ran.stderr_has("dnsextra/evil: rejected: directive $INCLUDE");
    let serial = nsd
        .wait_serial_change(ZONE, None)
        .expect("nsd serves the zone");
    // What nsd serves: the fragment, TLSA, SSHFP, CAA, with signatures.
    let has_v1 = |rows: &[(String, String, String)]| {
        rows.iter().any(|(_, t, r)| t == "TXT" && r.contains(V1))
    };
    let txt = answered(
        &nsd,
        "TXT",
        "_acme-challenge.www.example.test",
        true,
        has_v1,
    );
    assert!(has_v1(&txt), "{txt:?}");
    assert!(txt.iter().any(|(_, t, _)| t == "RRSIG"), "signed: {txt:?}");
    let tlsa = nsd.ask("TLSA", "_443._tcp.www.example.test", false);
    let want = openssl_spki_sha256(&tree.path("certs/www/cert.pem"));
    assert!(
        tlsa.iter()
            .any(|(_, t, r)| t == "TLSA"
                && r.replace(' ', "").to_lowercase() == format!("311{want}")),
        "{tlsa:?} vs {want}"
    );
    let sshfp = nsd.ask("SSHFP", "www.example.test", false);
    assert_eq!(
        sshfp.iter().filter(|(_, t, _)| t == "SSHFP").count(),
        2,
        "{sshfp:?}"
    );
    let caa = nsd.ask("CAA", ZONE, false);
    assert!(
        caa.iter()
            .any(|(_, _, r)| r.contains("accounturi=https://acme.example/acct/1")),
        "{caa:?}"
    );
    // ldns-verify-zone on what was installed.
    let v = Command::new("ldns-verify-zone")
        .arg(tree.path("zones/example.test.zone"))
        .output()
        .expect("verify");
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));

    // Nothing changed: nothing printed, nothing touched, no reload.
    let installed = std::fs::metadata(tree.path("zones/example.test.zone"))
        .expect("meta")
        .modified()
        .expect("mtime");
    let ran = build(&tree).expect(2);
    assert_eq!(ran.stdout, "");
    assert_eq!(
        std::fs::metadata(tree.path("zones/example.test.zone"))
            .expect("meta")
            .modified()
            .expect("mtime"),
        installed
    );
    assert_eq!(nsd.serial(ZONE), Some(serial));

    // A new fragment: serial forward, both values served.
    tree.fragment(
        "b",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V2}\"\n"),
    );
    build(&tree).expect(0);
    let new = nsd
        .wait_serial_change(ZONE, Some(serial))
        .expect("reloaded");
    assert!(new > serial);
    let two =
        |rows: &[(String, String, String)]| rows.iter().filter(|(_, t, _)| t == "TXT").count() == 2;
    let txt = answered(&nsd, "TXT", "_acme-challenge.www.example.test", false, two);
    assert!(two(&txt), "{txt:?}");
    // The hostile file never reached any zone text.
    for f in ["build/unsigned/example.test", "zones/example.test.zone"] {
        assert!(!read(&tree.path(f)).contains("shadow"), "{f}");
    }
}

#[test]
fn a_broken_zone_never_replaces_the_served_one() {
    let (tree, nsd) = signed_tree();
    build(&tree).expect(0);
    let serial = nsd.wait_serial_change(ZONE, None).expect("served");
    let before = read(&tree.path("zones/example.test.zone"));
    for (primary, why) in [
        (
            "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nwww CNAME ns1\n",
            "www.example.test.: CNAME beside other data (A, SSHFP)",
        ),
        // A record nsd-checkzone refuses (our parser lets a bad address through).
        (
            "@ NS ns1\nns1 A 127.0.0.1\nwww A 999.0.0.1\n",
            "nsd-checkzone",
        ),
    ] {
        tree.write("primary/example.test", primary);
        let ran = build(&tree).expect(65);
        ran.stderr_has(why);
        assert_eq!(read(&tree.path("zones/example.test.zone")), before);
        assert_eq!(nsd.serial(ZONE), Some(serial));
    }
}

#[test]
fn unsigned_zones_for_an_external_signer() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(
        ZONE,
        &nsd.reload_command(),
        "signer = \"none\"\nserial = \"date\"\n",
    );
    build(&tree).expect(0);
    let serial = nsd.wait_serial_change(ZONE, None).expect("served");
    assert_eq!(
        serial / 100,
        certdrop_core::clock::date(certdrop_core::clock::now())
            .replace('-', "")
            .parse::<u32>()
            .expect("date")
    );
    let rr = nsd.ask("TXT", "_acme-challenge.www.example.test", true);
    assert!(!rr.iter().any(|(_, t, _)| t == "RRSIG"));
    assert!(tree.path("build/unsigned/example.test").exists());
    // Forced: the date serial counts up within the day.
    run(&[
        "-c",
        tree.path("zone.toml").to_str().expect("utf8"),
        "build",
        "--force",
    ])
    .expect(0);
    assert_eq!(nsd.wait_serial_change(ZONE, Some(serial)), Some(serial + 1));
}

#[test]
fn signatures_are_renewed_before_they_expire_even_without_changes() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys = tree.keys(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    // Signatures valid for 2 h, renewed when less than 1 h is left.
    tree.config(
        ZONE,
        &nsd.reload_command(),
        &format!(
            "{}signature_validity = \"2h\"\nresign_before = \"1h\"\n",
            keys_toml(&keys)
        ),
    );
    build(&tree).expect(0);
    let serial = nsd.wait_serial_change(ZONE, None).expect("served");
    let expiry = |t: &Tree| {
        let text = read(&t.path("zones/example.test.zone"));
        let rrsig = text
            .lines()
            .find(|l| l.contains("\tRRSIG\tSOA"))
            .expect("RRSIG SOA")
            .to_owned();
        rrsig
            .split_whitespace()
            .nth(8)
            .expect("expiration")
            .to_owned()
    };
    let first = expiry(&tree);
    // Nothing is due yet.
    build(&tree).expect(2);
    // Ninety minutes later, as the state records it: less than an hour left.
    let state = tree.path("build/state/example.test.json");
    let mut st: serde_json::Value = serde_json::from_str(&read(&state)).expect("state");
    let expires = st["expires"].as_i64().expect("expiration recorded");
    let aged = expires - 90 * 60;
    st["expires"] = aged.into();
    std::fs::write(&state, st.to_string()).expect("state");
    let ran = build(&tree).expect(0);
    ran.stdout_has("(signatures renewed)");
    assert!(
        nsd.wait_serial_change(ZONE, Some(serial)).is_some(),
        "a new serial for secondaries"
    );
    // New signatures: valid for the full 2 h again from now, so no earlier
    // than the first ones (the same second when the build is quick: the
    // expiration has one-second resolution), and the state records them
    // instead of the aged expiration.
    assert!(expiry(&tree) >= first, "expiration not earlier");
    let st: serde_json::Value = serde_json::from_str(&read(&state)).expect("state");
    let renewed = st["expires"].as_i64().expect("expiration recorded");
    assert!(
        renewed >= expires && renewed > aged,
        "{renewed} recorded, {expires} first, {aged} aged"
    );
    // With the default validity (21 days, renewed 7 days before), nothing.
    tree.config(ZONE, &nsd.reload_command(), &keys_toml(&keys));
    build(&tree).expect(0);
    build(&tree).expect(2);
}
