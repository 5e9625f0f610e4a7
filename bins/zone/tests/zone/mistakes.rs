//! Operator mistakes a real build must not swallow: a mistyped name in
//! the TLSA map, a bad entry at the top of phonehome/, and configurations
//! `-n` must refuse because they can never work.

use std::process::Command;

use certdrop_testkit::pki::self_signed_line;
use certdrop_testkit::Run;

use crate::site::{read, Tree};

const ZONE: &str = "example.test";

/// A host directory in phonehome/ with an ed25519 public key.
fn host_key(tree: &Tree, dir: &std::path::Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let key = dir.join("ssh_host_ed25519_key");
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .ran()
        .expect(0);
    std::fs::remove_file(&key).expect("private half");
    let _ = tree;
}

#[test]
fn tlsa_and_sshfp_outside_the_zone_get_the_same_warning() {
    let tree = Tree::new();
    tree.sources(ZONE);
    self_signed_line(
        &tree.path("certs"),
        "www",
        &tree.path("www.key"),
        &["www.example.test"],
    );
    tree.write(
        "tlsa.map",
        "_443._tcp.www.example.test  www  3 1 1\n_25._tcp.mail.example.tst  www  3 1 1\n",
    );
    host_key(&tree, &tree.path("phonehome/www.example.test"));
    host_key(&tree, &tree.path("phonehome/www.example.tst"));
    tree.config(
        ZONE,
        "[]",
        "signer = \"none\"\ntlsa_map = \"tlsa.map\"\nsshfp = true\n",
    );
    let ran = tree.run(&["build"]).expect(0);
    ran.stderr_has("warning: www.example.tst: rejected: outside the zone example.test");
    ran.stderr_has(
        "tlsa.map:2: _25._tcp.mail.example.tst: rejected: outside the zone example.test",
    );
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    let zone = read(&tree.path("zones/example.test.zone"));
    assert!(zone.contains("_443._tcp.www.example.test."), "{zone}");
    assert!(zone.contains("SSHFP"), "{zone}");
    // The filter command says the same for --origin.
    let ran = crate::site::zone()
        .args(["tlsa", "--origin", ZONE, "--map"])
        .arg(tree.path("tlsa.map"))
        .arg("--certs")
        .arg(tree.path("certs"))
        .ran()
        .expect(0);
    ran.stderr_has(
        "tlsa.map:2: _25._tcp.mail.example.tst: rejected: outside the zone example.test",
    );
}

/// `ssh-keygen -r` fingerprints (the hex fields) of the key in `dir`.
fn fingerprints(dir: &std::path::Path) -> Vec<String> {
    let ran = Command::new("ssh-keygen")
        .args(["-r", "x", "-f"])
        .arg(dir.join("ssh_host_ed25519_key.pub"))
        .ran()
        .expect(0);
    ran.stdout
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_owned))
        .collect()
}

#[test]
fn a_bad_entry_in_phonehome_costs_only_that_entry() {
    use std::os::unix::ffi::OsStrExt;
    let tree = Tree::new();
    tree.sources(ZONE);
    let good = ["a.example.test", "zz.example.test"];
    for h in good {
        host_key(&tree, &tree.path(&format!("phonehome/{h}")));
    }
    // Sorted between the good hosts: a name that is not UTF-8, and one
    // with a newline in it, each holding a key of its own.
    let bad_utf8 = tree
        .path("phonehome")
        .join(std::ffi::OsStr::from_bytes(b"m\xff.example.test"));
    let bad_newline = tree.path("phonehome/n\nx.example.test");
    host_key(&tree, &bad_utf8);
    host_key(&tree, &bad_newline);
    tree.config(ZONE, "[]", "signer = \"none\"\nsshfp = true\n");
    let ran = tree.run(&["build"]).expect(0);
    ran.stderr_has("warning: m\\xff.example.test: rejected: name is not UTF-8");
    ran.stderr_has("warning: n\\nx.example.test: rejected:");
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    let zone = read(&tree.path("zones/example.test.zone"));
    for h in good {
        for fp in fingerprints(&tree.path(&format!("phonehome/{h}"))) {
            assert!(
                zone.lines()
                    .any(|l| l.starts_with(&format!("{h}.")) && l.ends_with(&fp)),
                "{h} {fp} missing:\n{zone}"
            );
        }
    }
    // The bad entries' keys are published for no host.
    for bad in [&bad_utf8, &bad_newline] {
        for fp in fingerprints(bad) {
            assert!(
                !zone.contains(&fp),
                "{fp} of a bad entry published:\n{zone}"
            );
        }
    }
    assert_eq!(zone.matches("SSHFP").count(), 4, "{zone}");
}

/// zone.toml with `top` before the zone and `zone_extra` inside it.
fn configured(tree: &Tree, top: &str, zone_extra: &str) {
    tree.config(ZONE, &format!("[]\n{top}"), zone_extra);
}

#[test]
fn check_refuses_configurations_that_can_never_work() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys = "keys = [\"keys/Kexample.test.+013+00001\"]\n";
    // Signatures valid for less than resign_before: every build re-signs.
    for (extra, shown) in [
        (
            "signature_validity = \"1d\"\n",
            "1w is not shorter than signature_validity (1d)",
        ),
        (
            "resign_before = \"21d\"\n",
            "3w is not shorter than signature_validity (3w)",
        ),
        (
            "signature_validity = \"2d\"\nresign_before = \"3d\"\n",
            "3d is not shorter than signature_validity (2d)",
        ),
    ] {
        configured(&tree, "", &format!("{keys}{extra}"));
        let line = read(&tree.path("zone.toml"))
            .lines()
            .position(|l| {
                l.starts_with(
                    extra
                        .lines()
                        .last()
                        .expect("a line")
                        .split(' ')
                        .next()
                        .expect("key"),
                )
            })
            .expect("key line")
            + 1;
        for args in [&["-n"][..], &["build"]] {
            let ran = tree.run(args).expect(78);
            assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
            ran.stderr_has(&format!(
                "zone.toml:{line}: zone 'example.test': resign_before: {shown}: every build would sign again"
            ));
        }
    }
    // A validity that leaves room is fine; unsigned zones do not care.
    configured(&tree, "", &format!("{keys}signature_validity = \"30d\"\n"));
    tree.run(&["-n"]).expect(0);
    configured(
        &tree,
        "",
        "signer = \"none\"\nsignature_validity = \"1d\"\n",
    );
    tree.run(&["-n"]).expect(0);
    // Values that refuse everything.
    configured(&tree, "max_values_per_name = 0", "signer = \"none\"\n");
    tree.run(&["-n"])
        .expect(78)
        .stderr_has("zone.toml:7: max_values_per_name: 0 would refuse");
    configured(&tree, "serve_wait = \"0s\"", "signer = \"none\"\n");
    tree.run(&["-n"])
        .expect(78)
        .stderr_has("zone.toml:7: serve_wait: 0s");
}

#[test]
fn check_warns_about_settings_without_effect() {
    let tree = Tree::new();
    tree.sources(ZONE);
    configured(
        &tree,
        "",
        "signer = \"none\"\nkeys = [\"keys/K\"]\nsshfp_allow = [\"www.example.test\"]\n",
    );
    let ran = tree.run(&["-n"]).expect(0);
    ran.stderr_has("zone 'example.test': keys: has no effect: signer is \"none\"");
    ran.stderr_has("zone 'example.test': sshfp_allow: has no effect: sshfp is not true");
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
}

#[test]
fn hostile_fragment_names_are_said_on_one_line_each() {
    use std::os::unix::ffi::OsStrExt;
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    tree.fragment(
        "forged\ncertdrop-zone: zone example.test: all is well",
        "junk\n",
    );
    std::fs::write(
        tree.path("dnsextra")
            .join(std::ffi::OsStr::from_bytes(b"f\xff")),
        "junk\n",
    )
    .expect("fragment");
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    ran.stderr_has("dnsextra/forged\\ncertdrop-zone: zone example.test: all is well: rejected:");
    ran.stderr_has("dnsextra/f\\xff: rejected: file name is not UTF-8");
}
