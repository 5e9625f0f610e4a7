//! A mistyped `install` directory against a real nsd: refused by every
//! command that installs when it does not exist (never created), and, when it exists but is not
//! where nsd reads, caught after the reload by asking nsd for the SOA
//! serial. Without a `server`, the output says the serial was not checked.

use certdrop_testkit::nsd::Nsd;

use crate::site::{read, Tree};

const ZONE: &str = "example.test";

/// zone.toml for `nsd` with `install` and, when `server`, the server to ask.
fn config(tree: &Tree, nsd: &Nsd, install: &str, server: bool) {
    let mut top = nsd.reload_command();
    if server {
        top.push_str(&format!(
            "\nserver = \"{}\"\nserve_wait = \"10s\"",
            nsd.addr
        ));
    }
    tree.config(ZONE, &top, "signer = \"none\"\n");
    let text = read(&tree.path("zone.toml"))
        .replace("install = \"zones\"", &format!("install = \"{install}\""));
    tree.write("zone.toml", &text);
}

#[test]
fn a_missing_install_directory_is_refused_and_not_created() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    config(&tree, &nsd, "zonez", false);
    // Every command that installs refuses it; -n (which may run before
    // nsd's jail made its directory) says it.
    for (args, code) in [(&["build"][..], 78), (&["install", ZONE], 78), (&["-n"], 0)] {
        let ran = tree.run(args).expect(code);
        assert_eq!(ran.stderr.trim().lines().count(), 1, "{}", ran.stderr);
        ran.stderr_has(":2: install: ");
        ran.stderr_has("zonez: no such directory");
        assert!(!tree.path("zonez").exists(), "created by {args:?}");
    }
}

#[test]
fn a_zone_nsd_does_not_serve_is_not_reported_as_served() {
    let tree = Tree::new();
    tree.sources(ZONE);
    std::fs::create_dir_all(tree.path("elsewhere")).expect("mkdir");
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    // Installed where nsd does not read: the reload succeeds, nsd does not
    // serve the serial, so 69 and the zone is not recorded as installed.
    config(&tree, &nsd, "elsewhere", true);
    let ran = tree.run(&["build"]).expect(69);
    ran.stderr_has(&format!("zone {ZONE}: {}", nsd.addr));
    ran.stderr_has("is install (");
    assert!(!ran.stdout.contains("installed"), "{}", ran.stdout);
    // The right directory: nsd serves the new serial and the line says so.
    config(&tree, &nsd, "zones", true);
    let ran = tree.run(&["build"]).expect(0);
    ran.stdout_has(&format!("; {} serves it", nsd.addr));
    let serial = nsd.serial(ZONE).expect("nsd serves the zone");
    ran.stdout_has(&format!("serial {serial} installed and reloaded"));
    // No server configured: built and installed, and plainly not checked.
    config(&tree, &nsd, "zones", false);
    let ran = tree.run(&["-f", "build"]).expect(0);
    ran.stdout_has("served serial not checked: no server in the configuration");
}
