//! Hostile trees do not flood the log: thousands of bad fragments, host
//! directories and files in one host directory give, per directory, the
//! first few lines and one line with the count, from a build and from the
//! make path's filter commands alike; `watch` does not say again
//! what its previous build said, only what changed. A legitimate night's
//! worth of fragments is all published; files past the cap on files read
//! are counted in one line.

use std::fs::File;
use std::time::Duration;

use nix::sys::signal::Signal;

use certdrop_testkit::{within, Proc, Run};

use crate::site::{read, zone, Tree, V1};

const ZONE: &str = "example.test";
/// Lines shown per directory, and the summary line after them.
const PER_DIR: usize = 5 + 1;
/// A build over the hostile tree, on a busy machine.
const ROUND: Duration = Duration::from_secs(60);

/// 3,000 bad fragments, 2,000 bad host directories, 100 files that are no
/// key in one good host directory.
fn hostile_tree() -> Tree {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\nsshfp = true\n");
    for i in 0..3000 {
        std::fs::write(tree.path(&format!("dnsextra/f{i:05}")), "junk\n").expect("fragment");
    }
    for i in 0..2000 {
        std::fs::create_dir(tree.path(&format!("phonehome/bad_{i:05}"))).expect("host dir");
    }
    std::fs::create_dir(tree.path("phonehome/a.example.test")).expect("host dir");
    for i in 0..100 {
        std::fs::write(tree.path(&format!("phonehome/a.example.test/k{i:03}")), "x").expect("file");
    }
    tree
}

/// Warning lines on `stderr`.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("certdrop-zone: warning: "))
        .collect()
}

#[test]
fn thousands_of_bad_entries_give_a_few_lines_per_directory() {
    let tree = hostile_tree();
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stderr.lines().count(), 3 * PER_DIR, "{}", ran.stderr);
    let dnsextra = tree.path("dnsextra").display().to_string();
    ran.stderr_has(&format!(
        "{dnsextra}: 2995 more rejected entries not shown (3000 in all"
    ));
    let phonehome = tree.path("phonehome").display().to_string();
    ran.stderr_has(&format!(
        "{phonehome}: 1995 more rejected entries not shown (2000 in all"
    ));
    ran.stderr_has(&format!(
        "{phonehome}/a.example.test: 95 more rejected entries not shown (100 in all"
    ));
    // -v lists every one.
    let ran = tree.run(&["-v", "-f", "build"]).expect(0);
    assert!(
        ran.stderr.lines().count() >= 5100,
        "{}",
        ran.stderr.lines().count()
    );
    the_filter_commands_of_the_make_path_say_as_little(&tree);
}

#[test]
fn watch_does_not_repeat_what_it_said() {
    let tree = hostile_tree();
    let err = tree.path("watch.err");
    let mut watch = Proc(
        zone()
            .arg("-c")
            .arg(tree.path("zone.toml"))
            .arg("watch")
            // The daemon logs to syslog by default; this test reads stderr.
            .args(["--log", "stderr"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(File::create(&err).expect("watch.err"))
            .spawn()
            .expect("start watch"),
    );
    let phonehome = tree.path("phonehome").display().to_string();
    // phonehome/'s summary is the last line of a round.
    let first = format!("{phonehome}: 1995 more rejected entries not shown (2000 in all");
    assert!(
        within(ROUND, || read(&err).contains(&first)),
        "{}",
        read(&err)
    );
    assert_eq!(warnings(&read(&err)).len(), 3 * PER_DIR, "{}", read(&err));
    // One more bad host: a new round, which says only the new count.
    std::fs::create_dir(tree.path("phonehome/bad_99999")).expect("host dir");
    let second = format!("{phonehome}: 1996 more rejected entries not shown (2001 in all");
    assert!(
        within(ROUND, || read(&err).contains(&second)),
        "{}",
        read(&err)
    );
    let said = read(&err);
    assert_eq!(warnings(&said).len(), 3 * PER_DIR + 1, "{said}");
    assert_eq!(
        watch.stop(Signal::SIGTERM, Duration::from_secs(30)),
        Some(0)
    );
}

/// The make path's filter commands over the same tree (one tree for both:
/// making it is most of the time): as few lines as a build.
fn the_filter_commands_of_the_make_path_say_as_little(tree: &Tree) {
    // 1,000 files that are no key in one more host directory.
    std::fs::create_dir(tree.path("phonehome/b.example.test")).expect("host dir");
    for i in 0..1000 {
        std::fs::write(tree.path(&format!("phonehome/b.example.test/k{i:04}")), "x").expect("file");
    }
    let dir = |d: &str| tree.path(d).display().to_string();
    let ran = zone()
        .args(["fragments", "--origin", ZONE])
        .arg(tree.path("dnsextra"))
        .ran()
        .expect(0);
    assert_eq!(ran.stdout, "");
    assert_eq!(warnings(&ran.stderr).len(), PER_DIR, "{}", ran.stderr);
    assert_eq!(ran.stderr.lines().count(), PER_DIR, "{}", ran.stderr);
    ran.stderr_has(&format!(
        "{}: 2995 more rejected entries not shown (3000 in all; -v lists them)",
        dir("dnsextra")
    ));
    ran.stderr_has(&format!("{}/f00000: rejected: ", dir("dnsextra")));

    let ran = zone()
        .args(["sshfp", "--origin", ZONE])
        .arg(tree.path("phonehome"))
        .ran()
        .expect(0);
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr.lines().count(), 3 * PER_DIR, "{}", ran.stderr);
    for (group, rest, all) in [
        ("phonehome", 1995, 2000),
        ("phonehome/a.example.test", 95, 100),
        ("phonehome/b.example.test", 995, 1000),
    ] {
        ran.stderr_has(&format!(
            "{}: {rest} more rejected entries not shown ({all} in all",
            dir(group)
        ));
    }
    // -v lists every one.
    let ran = zone()
        .args(["-v", "sshfp", "--origin", ZONE])
        .arg(tree.path("phonehome"))
        .ran()
        .expect(0);
    assert_eq!(ran.stderr.lines().count(), 3100 + 3, "{}", ran.stderr);

    // A map of 300 lines whose certificates are not there yet.
    let map: String = (0..300)
        .map(|i| format!("_443._tcp.h{i}.{ZONE} line{i} 3 1 1\n"))
        .collect();
    tree.write("big.map", &map);
    let ran = zone()
        .args(["tlsa", "--origin", ZONE, "--map"])
        .arg(tree.path("big.map"))
        .arg("--certs")
        .arg(tree.path("certs"))
        .ran()
        .expect(0);
    assert_eq!(ran.stderr.lines().count(), PER_DIR, "{}", ran.stderr);
    ran.stderr_has(&format!(
        "{}: 295 more rejected entries not shown (300 in all",
        dir("big.map")
    ));
}

/// The cap on fragment files read in one build (certdrop-zone(8)).
const CAP: usize = 20_000;

#[test]
fn five_thousand_fragments_are_all_published() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    for i in 0..5000 {
        tree.fragment(
            &format!("f{i:05}"),
            &format!("_acme-challenge.h{i}.{ZONE}. 60 IN TXT \"{V1}\"\n"),
        );
    }
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stderr, "");
    let zone = read(&tree.path(&format!("zones/{ZONE}.zone")));
    let txt = zone
        .lines()
        .filter(|l| l.starts_with("_acme-challenge.") && l.contains("TXT"))
        .count();
    assert_eq!(txt, 5000);
}

#[test]
fn files_past_the_cap_are_counted_in_one_line() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    for i in 0..CAP + 3 {
        std::fs::write(tree.path(&format!("dnsextra/f{i:05}")), "junk\n").expect("fragment");
    }
    let ran = tree.run(&["build"]).expect(0);
    let dnsextra = tree.path("dnsextra").display().to_string();
    ran.stderr_has(&format!(
        "certdrop-zone: warning: {dnsextra}: 3 fragments not read: more than the cap of {CAP}\n"
    ));
    // The ones read were refused as usual, a few lines and the count.
    ran.stderr_has(&format!(
        "{dnsextra}: {} more rejected entries not shown ({CAP} in all",
        CAP - 5
    ));
    assert_eq!(ran.stderr.lines().count(), PER_DIR + 1, "{}", ran.stderr);
    // The make path's filter says the same.
    let ran = zone()
        .args(["fragments", "--origin", ZONE])
        .arg(tree.path("dnsextra"))
        .ran()
        .expect(0);
    ran.stderr_has(&format!(
        "{dnsextra}: 3 fragments not read: more than the cap of {CAP}"
    ));
    // Under the cap again: no such line.
    for i in 0..3 {
        std::fs::remove_file(tree.path(&format!("dnsextra/f{i:05}"))).expect("rm");
    }
    let ran = tree.run(&["-f", "build"]).expect(0);
    assert!(!ran.stderr.contains("not read"), "{}", ran.stderr);
}
