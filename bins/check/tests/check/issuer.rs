//! The issuer's state as the monitor jail sees it: the real certdrop-issue
//! (built by `cargo build --workspace`) fails a validation at Pebble and
//! records it in `state/<line>.json`, in a state directory installed as
//! certdrop-jails installs the issuer's (2750, the monitor's group); the
//! real certdrop-check, run as the monitor's user (another uid, only that
//! group, as the jail runs it), reads the failure. With the directory 0700
//! (the issuer's default), the same user cannot, and says so.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use certdrop_testkit::pebble::{Pebble, PebbleOpts};
use certdrop_testkit::{bin, Run};

use crate::site::Site;

/// The monitor's uid and gid (`nogroup`/`nobody` on Debian: nothing else uses them).
const MONITOR: u32 = 65534;

/// certdrop-check --json as the monitor (setpriv, as jail-monitor runs it).
fn check_as_monitor(site: &Site) -> serde_json::Value {
    let id = MONITOR.to_string();
    let ran = Command::new("setpriv")
        .args(["--reuid", &id, "--regid", &id, "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_certdrop-check"))
        .arg("-c")
        .arg(site.path("check.toml"))
        .arg("--json")
        .env_remove("CERTDROP_CHECK_CONFIG")
        .ran();
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran:?}"))
}

#[test]
fn the_monitor_reads_the_failures_the_issuer_wrote() {
    let site = Site::new();
    site.line("www", "www.example.test", 60);
    site.publish("www");
    // Pebble, and no web server on its http-01 port: the validation
    // fails, and the issuer records why.
    let pebble = Pebble::start(PebbleOpts::default());
    // The issuer's own tree; its state directory as the jails install it.
    let state = site.path("acme-state");
    std::fs::create_dir(&state).expect("mkdir");
    std::os::unix::fs::chown(&state, None, Some(MONITOR)).expect("chgrp");
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o2750)).expect("chmod");
    site.write(
        "issue.toml",
        &format!(
            "directory = \"{}\"\ncontact = [\"mailto:ops@example.test\"]\nagree_terms = true\n\
             account = \"acme-state/account.json\"\nca_bundle = \"{}\"\n\
             [store]\ncerts = \"acme/certs\"\nkeys = \"acme/keys\"\narchive = \"acme/archive\"\n\
             state = \"acme-state\"\n[drop]\nwebroot = \"acme/webroot\"\n\
             [dns]\nservers = [\"{}\"]\n\
             [[line]]\nname = \"www\"\ndomains = [\"www.example.test\"]\nchallenge = \"http-01\"\n",
            pebble.directory_url,
            pebble.ca_bundle.display(),
            pebble.dns_addr,
        ),
    );
    let ran = Command::new(bin("certdrop-issue"))
        .arg("-c")
        .arg(site.path("issue.toml"))
        .arg("run")
        .ran();
    assert_ne!(ran.code, 0, "{ran:?}");
    let file = state.join("www.json");
    let meta = std::fs::metadata(&file).expect("the issuer wrote the line's state");
    assert_eq!((meta.mode() & 0o777, meta.gid()), (0o640, MONITOR));
    site.write(
        "check.toml",
        "certs = \"certs\"\npub = \"pub\"\nissuer_state = \"acme-state\"\n",
    );
    certdrop_testkit::unpriv::traversable(site.root());
    let report = check_as_monitor(&site);
    let issuer = &report["lines"][0]["issuer"];
    assert_eq!(issuer["failures"], 1, "{report:#}");
    assert!(issuer["last_failure"].as_i64().is_some(), "{report:#}");
    assert!(issuer["error"].is_null(), "{report:#}");
    let error = issuer["last_error"].as_str().expect("last_error");
    assert!(error.contains("www.example.test"), "{error}");
    // The issuer's default, 0700: the monitor cannot read it, and says so.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let report = check_as_monitor(&site);
    let why = report["lines"][0]["issuer"]["error"].as_str().unwrap_or("");
    assert!(why.contains("ermission denied"), "{report:#}");
}
