//! Each exit class `certdrop-zone build` can produce, against its real
//! cause: a full disk (a small tmpfs mounted over nsd's zone directory or
//! the build tree: 73, and the served zone stays), a stopped nsd (69, and
//! the next build after it is back succeeds), a signer that cannot run
//! (69), bad zone data (65), a missing source (66), a bad configuration
//! (78) and a lock another run holds (75). Mounting needs root.

use std::process::Command;
use std::time::Duration;

use crate::site::{answered, read, run, Ran, Tree};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::Tmpfs;

const ZONE: &str = "example.test";
const PRIMARY_V2: &str =
    "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nmail A 127.0.0.1\nnew A 127.0.0.2\n";

fn build(tree: &Tree) -> Ran {
    let c = tree.path("zone.toml");
    run(&["-c", c.to_str().expect("utf8"), "build"])
}

/// An unsigned zone served by a real nsd, reloaded with nsd-control.
fn served(tree: &Tree) -> Nsd {
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(ZONE, &nsd.reload_command(), "signer = \"none\"\n");
    nsd
}

/// A full disk under `full` (relative to the tree): 73 naming the file and
/// the cause, the served zone untouched; then room again: the build goes on.
fn full_disk(full: &str) {
    let tree = Tree::new();
    let fs = Tmpfs::mount(&tree.path(full), "64k");
    let nsd = served(&tree);
    build(&tree).expect(0);
    let serial = nsd.wait_serial_change(ZONE, None).expect("served");
    let before = read(&tree.path("zones/example.test.zone"));

    let filler = fs.fill();
    tree.write(&format!("primary/{ZONE}"), PRIMARY_V2);
    let ran = build(&tree).expect(73);
    assert!(
        ran.stderr.contains("No space left on device")
            && ran.stderr.contains(&tree.path(full).display().to_string()),
        "{}",
        ran.stderr
    );
    assert_eq!(read(&tree.path("zones/example.test.zone")), before);
    assert_eq!(nsd.serial(ZONE), Some(serial), "the served zone stays");

    std::fs::remove_file(filler).expect("room again");
    build(&tree).expect(0);
    let new = nsd
        .wait_serial_change(ZONE, Some(serial))
        .expect("reloaded");
    assert!(new > serial);
    assert_eq!(
        answered(&nsd, "A", "new.example.test", false, |r| r.len() == 1).len(),
        1
    );
}

#[test]
fn a_full_zone_directory_is_73_and_the_served_zone_stays() {
    full_disk("zones");
}

#[test]
fn a_full_build_tree_is_73_and_the_served_zone_stays() {
    full_disk("build");
}

#[test]
fn a_read_only_zone_directory_is_73() {
    let tree = Tree::new();
    let fs = Tmpfs::mount(&tree.path("zones"), "64k");
    let _nsd = served(&tree);
    build(&tree).expect(0);
    let before = read(&tree.path("zones/example.test.zone"));
    let ok = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(fs.path())
        .status()
        .expect("remount");
    assert!(ok.success());
    tree.write(&format!("primary/{ZONE}"), PRIMARY_V2);
    let ran = build(&tree).expect(73);
    assert!(
        ran.stderr.contains("Read-only file system"),
        "{}",
        ran.stderr
    );
    assert_eq!(read(&tree.path("zones/example.test.zone")), before);
}

#[test]
fn a_stopped_nsd_is_69_and_the_next_build_after_it_is_back_succeeds() {
    let tree = Tree::new();
    let nsd = served(&tree);
    build(&tree).expect(0);
    nsd.wait_serial_change(ZONE, None).expect("served");
    drop(nsd);

    tree.write(&format!("primary/{ZONE}"), PRIMARY_V2);
    let ran = build(&tree).expect(69);
    assert!(
        ran.stderr
            .contains("zone example.test: reload: nsd-control"),
        "{}",
        ran.stderr
    );
    // Nothing new since: a build retries the reload, and fails alike.
    build(&tree).expect(69);

    // nsd back (same configuration file, a new port).
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    let ran = build(&tree).expect(0);
    assert!(
        ran.stdout.contains("installed and reloaded"),
        "{}",
        ran.stdout
    );
    assert!(nsd.wait_serial_change(ZONE, None).is_some());
    assert_eq!(
        answered(&nsd, "A", "new.example.test", false, |r| r.len() == 1).len(),
        1
    );
    build(&tree).expect(2);
}

#[test]
fn a_signer_that_cannot_run_is_69() {
    let tree = Tree::new();
    tree.sources(ZONE);
    let keys: Vec<String> = tree
        .keys(ZONE)
        .iter()
        .map(|k| format!("\"{}\"", k.display()))
        .collect();
    tree.config(ZONE, "[]", &format!("keys = [{}]\n", keys.join(", ")));
    // No ldns-signzone on the PATH.
    let out = Command::new(env!("CARGO_BIN_EXE_certdrop-zone"))
        .arg("-c")
        .arg(tree.path("zone.toml"))
        .arg("build")
        .env("PATH", tree.path("nowhere"))
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(69), "{stderr}");
    assert!(stderr.contains("ldns-signzone: cannot run"), "{stderr}");
    assert!(!tree.path("zones/example.test.zone").exists());
}

#[test]
fn bad_data_missing_input_bad_config_and_a_held_lock() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    build(&tree).expect(0);
    let before = read(&tree.path("zones/example.test.zone"));

    // 65: a CNAME beside other data.
    tree.write(
        &format!("primary/{ZONE}"),
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nwww CNAME ns1\n",
    );
    let ran = build(&tree).expect(65);
    assert!(
        ran.stderr.contains("CNAME beside other data"),
        "{}",
        ran.stderr
    );

    // 66: the primary file is gone.
    std::fs::remove_file(tree.path(&format!("primary/{ZONE}"))).expect("rm");
    let ran = build(&tree).expect(66);
    assert!(
        ran.stderr
            .contains(&format!("primary/{ZONE}: cannot read: No such file")),
        "{}",
        ran.stderr
    );
    tree.sources(ZONE);

    // 78: an unknown key; a [zone.caa] without an issuer.
    let good = read(&tree.path("zone.toml"));
    tree.write("zone.toml", &format!("{good}bogus = 1\n"));
    build(&tree).expect(78);
    tree.write("zone.toml", &format!("{good}[zone.caa]\nissuer = \"\"\n"));
    let ran = build(&tree).expect(78);
    assert!(
        ran.stderr.contains("zone.toml: zone example.test"),
        "{}",
        ran.stderr
    );

    // 75: another run holds the build tree's lock.
    tree.write("zone.toml", &format!("lock_wait = \"0s\"\n{good}"));
    tree.write(&format!("primary/{ZONE}"), PRIMARY_V2);
    // Held by this process, as another run would hold it.
    let holder =
        certdrop_core::lock::StateLock::acquire(&tree.path("build"), Duration::ZERO).expect("lock");
    let ran = build(&tree).expect(75);
    assert!(
        ran.stderr.contains("another run holds the lock"),
        "{}",
        ran.stderr
    );
    drop(holder);

    // Every failure above left the installed zone alone; now it moves on.
    assert_eq!(read(&tree.path("zones/example.test.zone")), before);
    build(&tree).expect(0);
    assert!(read(&tree.path("zones/example.test.zone")).contains("127.0.0.2"));
}

/// `primary` with many names, so that the signed zone is many pages.
fn big_primary(last: u8) -> String {
    let mut text = String::from("@ NS ns1\nns1 A 127.0.0.1\n");
    for i in 0..100 {
        text.push_str(&format!("h{i} A 127.0.0.{last}\n"));
    }
    text
}

#[test]
fn a_full_disk_while_signing_is_no_space_left_not_a_parse_error() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.write(&format!("primary/{ZONE}"), &big_primary(1));
    let keys = tree.keys(ZONE);
    tree.config(ZONE, "[]", &crate::site::keys_toml(&keys));
    let fs = Tmpfs::mount(&tree.path("build"), "1m");
    build(&tree).expect(0);
    let before = read(&tree.path("zones/example.test.zone"));
    // Room for the unsigned zone (one page), not for the signed one.
    let filler = fs.fill();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&filler)
        .expect("filler");
    let len = f.metadata().expect("filler size").len();
    f.set_len(len.saturating_sub(8192)).expect("two pages free");
    // Closed, so that removing it later frees its pages.
    drop(f);
    tree.write(&format!("primary/{ZONE}"), &big_primary(2));
    let ran = build(&tree).expect(73);
    let signed = tree.path("build/tmp/example.test.signed");
    ran.stderr_has(&format!(
        "{}: cannot write: No space left on device",
        signed.display()
    ));
    assert!(!ran.stderr.contains("parse"), "{}", ran.stderr);
    assert!(!signed.exists(), "a cut signed zone is left");
    assert_eq!(read(&tree.path("zones/example.test.zone")), before);
    // Room again: the build goes on.
    std::fs::remove_file(filler).expect("room again");
    build(&tree).expect(0);
    assert!(read(&tree.path("zones/example.test.zone")).contains("127.0.0.2"));
}
