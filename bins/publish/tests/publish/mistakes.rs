//! Configurations that can never work, each rule of certdrop-publish(8)
//! against the real binary: `-n` refuses it (78) in one line
//! `file:line: key: why` before anything is read or written, and `run`
//! refuses it the same way. The demo site's publish.toml passes `-n`.

use std::path::Path;

use crate::site::{keygen, publish, Site, IDENTITY};

/// Write `text` as publish.toml and assert that `-n` and `run` both refuse
/// it with exactly `file:{why}` and leave pub/ unmade.
#[track_caller]
fn refused(site: &Site, text: &str, why: &str) {
    let config = site.write("publish.toml", text);
    let want = format!("certdrop-publish: {}:{why}\n", config.display());
    for cmd in ["-n", "run"] {
        let ran = publish(&["-c", config.to_str().expect("utf-8"), cmd]).expect(78);
        assert_eq!(ran.stderr, want, "{cmd}");
        assert!(ran.stdout.is_empty(), "{cmd}: {}", ran.stdout);
    }
    assert!(!site.path("pub").exists(), "{why}: pub/ made");
}

#[test]
fn paths_that_hold_each_other_are_refused() {
    let site = Site::new();
    site.install("www", &site.www(1));
    let good = site.config_text();
    let root = site.root().display().to_string();
    refused(
        &site,
        &good.replace("pub = \"pub\"", "pub = \"certs/pub\""),
        &format!("2: pub: {root}/certs/pub and certs ({root}/certs) must not contain each other"),
    );
    refused(
        &site,
        &good.replace("certs = \"certs\"", "certs = \"pub/certs\""),
        &format!("2: pub: {root}/pub and certs ({root}/pub/certs) must not contain each other"),
    );
    // A link cannot hide one tree inside the other.
    std::os::unix::fs::symlink(site.path("certs/.pub"), site.path("public")).expect("link");
    refused(
        &site,
        &good.replace("pub = \"pub\"", "pub = \"public\""),
        &format!(
            "2: pub: {root}/public and certs ({root}/certs) must not contain each other \
             (through symbolic links: {root}/public -> {root}/certs/.pub)"
        ),
    );
    // The signing key in a tree others read.
    std::fs::create_dir(site.path("pub")).expect("mkdir");
    keygen(&site.path("pub/sign_key"), IDENTITY);
    let config = good.replace(
        "signing_key = \"sign_key\"",
        "signing_key = \"pub/sign_key\"",
    );
    let path = site.write("publish.toml", &config);
    let ran = publish(&["-c", path.to_str().expect("utf-8"), "-n"]).expect(78);
    ran.one_error(&format!(
        "publish.toml:3: signing_key: {root}/pub/sign_key lies inside pub ({root}/pub), \
         which every service jail and receiver reads: keep the private key out of it"
    ));
    std::fs::remove_dir_all(site.path("pub")).expect("rm");
    refused(
        &site,
        &good.replace(
            "signing_key = \"sign_key\"",
            "signing_key = \"certs/sign_key\"",
        ),
        &format!(
            "3: signing_key: {root}/certs/sign_key lies inside certs ({root}/certs), \
             which the issuer writes and the dns jail reads: keep the private key out of it"
        ),
    );
    // The same site as written passes.
    site.run(&["-n"]).expect(0);
}

#[test]
fn keep_lines_and_names_are_checked_by_n() {
    let site = Site::new();
    site.install("www", &site.www(1));
    let good = site.config_text();
    refused(
        &site,
        &good.replace("keep = 3", "keep = 1"),
        "4: keep: 1: must be at least 2",
    );
    refused(
        &site,
        &good.replace("keep = 3", "keep = -1"),
        "4: keep: -1: must be at least 2",
    );
    refused(
        &site,
        &format!("{good}\n[[line]]\nname = \"www\"\nnames = [\"x.example.org\"]\n"),
        "12: line.name: 'www' defined twice",
    );
    refused(
        &site,
        &good.replace(
            "names = [\"www.example.org\", \"example.org\"]",
            "names = []",
        ),
        "9: line 'www': names: at least one name is needed",
    );
    refused(
        &site,
        &good.replace("\"example.org\"]", "\"WWW.example.org\"]"),
        "9: line 'www': names: 'www.example.org' listed twice",
    );
}

#[test]
fn the_demo_sites_publish_toml_passes_n() {
    let site = Site::new();
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/site/publish.toml"),
    )
    .expect("demo/site/publish.toml");
    // The demo's layout: data/certs (the store), data/pub, the key in the
    // publish jail's state directory.
    std::fs::create_dir_all(site.path("data/state/publish")).expect("mkdir");
    std::os::unix::fs::symlink("../certs", site.path("data/certs")).expect("link");
    keygen(&site.path("data/state/publish/manifest_ed25519"), IDENTITY);
    site.install("www", &site.leaf(1, &["www.example.test"], 30));
    let config = site.write(
        "etc/publish.toml",
        &demo.replace("@D@", &site.root().display().to_string()),
    );
    let ran = publish(&["-c", config.to_str().expect("utf-8"), "-n"]).expect(0);
    ran.stdout_has("www: would publish serial");
    ran.stdout_has("configuration ok (1 line(s))");
}
