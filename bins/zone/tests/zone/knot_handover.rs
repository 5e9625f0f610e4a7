//! How certdrop hands a zone to a real knotd, at the edges: make's
//! install step and a repeated build leave a zone Knot already has alone
//! (no new serial every cron run); a knotd that hangs ends the build
//! within serve_wait; a re-sign by Knot racing the reload is overtaken
//! within the same build; a build cut off after the reload is finished
//! without a new serial; a zone served by Knot beside one served by nsd.

use std::path::Path;
use std::time::{Duration, Instant};

use certdrop_testkit::knot::{Knot, Policy};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::Run;

use crate::signer_knot::{anchor, built_serial, challenge, knot_tree, ZONE};
use crate::site::{Tree, V1, V2};
use crate::zonebuild::{copy_tree, make};

#[test]
fn make_and_build_leave_a_zone_knot_has_alone() {
    let tmp = Tree::new();
    let tree = tmp.path("zonebuild");
    std::fs::create_dir_all(&tree).expect("mkdir");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../zonebuild"),
        &tree,
    );
    let knot = Knot::start(
        &tmp.path("knot"),
        &tree.join("zones"),
        &[ZONE],
        &Policy::default(),
    );
    let conf = std::fs::read_to_string(tree.join("zone.toml")).expect("zone.toml");
    let keys = conf
        .lines()
        .find(|l| l.starts_with("keys = "))
        .expect("keys line");
    let conf = conf.replace(keys, "signer = \"knot\"").replace(
        "reload = [",
        &format!(
            "server = \"{}\"\nserve_wait = \"20s\"\nreload = [",
            knot.addr
        ),
    ) + &knot.zone_table();
    std::fs::write(tree.join("zone.toml"), conf).expect("write");
    std::fs::write(
        tree.join("dnsextra/a"),
        format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    )
    .expect("frag");

    let (ok, text) = make(&tree, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("signed by Knot"), "{text}");
    let served = knot.serial(ZONE).expect("served");
    // Knot signs what it loads: it serves a serial above certdrop's now,
    // and make runs install again (sign writes no signed/ for Knot).
    for _ in 0..2 {
        let (ok, text) = make(&tree, &[]);
        assert!(ok, "{text}");
        assert!(
            !text.contains("installed") && !text.contains("assembled"),
            "{text}"
        );
        assert_eq!(knot.serial(ZONE), Some(served), "{}", knot.log());
    }
    crate::site::zone()
        .arg("-c")
        .arg(tree.join("zone.toml"))
        .args(["install", ZONE])
        .ran()
        .expect(2)
        .silent();
    // build and watch share the check: twice nothing to do, Knot untouched
    // (the example's map names certificates it does not have: warnings).
    for _ in 0..2 {
        let ran = crate::site::zone()
            .arg("-c")
            .arg(tree.join("zone.toml"))
            .arg("build")
            .ran()
            .expect(2);
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
        assert!(
            ran.stderr
                .lines()
                .all(|l| l.contains(": warning: map line")),
            "{}",
            ran.stderr
        );
    }
    assert_eq!(knot.serial(ZONE), Some(served), "{}", knot.log());

    // New content still goes through.
    std::fs::write(
        tree.join("dnsextra/b"),
        format!("_acme-challenge.www.example.test. 60 IN TXT \"{V2}\"\n"),
    )
    .expect("frag");
    let (ok, text) = make(&tree, &[]);
    assert!(ok && text.contains("signed by Knot"), "{text}");
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V2), "{txt}");
}

fn set_serve_wait(tree: &Tree, wait: &str) {
    let text = certdrop_testkit::tree::read_text(&tree.path("zone.toml"));
    let old = text
        .lines()
        .find(|l| l.starts_with("serve_wait = "))
        .expect("serve_wait line")
        .to_owned();
    tree.write(
        "zone.toml",
        &text.replace(&old, &format!("serve_wait = \"{wait}\"")),
    );
}

#[test]
fn a_hanging_knotd_ends_the_build_within_serve_wait() {
    let (tree, knot) = knot_tree("");
    challenge(&tree, "a", V1);
    tree.run(&["build"]).expect(0);
    set_serve_wait(&tree, "3s");
    challenge(&tree, "b", V2);
    knot.pause();
    let start = Instant::now();
    let ran = tree
        .run(&["build"])
        .one_error(&format!("zone {ZONE}: knotc zone-status: "));
    let took = start.elapsed();
    knot.resume();
    assert_eq!(ran.code, 69, "{}", ran.stderr);
    // serve_wait and a generous margin, not knotc's own 60 s.
    assert!(took < Duration::from_secs(25), "took {took:?}");

    // knotd continues: the next build hands the new content over.
    set_serve_wait(&tree, "20s");
    let ran = tree.run(&["build"]).expect(0);
    ran.stdout_has("signed by Knot");
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V1) && txt.contains(V2), "{txt}");
}

/// bin/knotc in the tree, named relatively in zone.toml (resolved against
/// its directory, not the working directory): knotc, except that while
/// the file `resign` exists a zone-reload becomes a zone-sign (Knot
/// re-signing the old content just before the reload, which then finds
/// its serial not above Knot's; "once" removes the file), and while
/// `cutoff` exists a zone-reload is done but reported failed (a build
/// cut off after the reload).
fn racing_knotc(tree: &Tree) {
    let dir = tree.path("");
    let dir = dir.display();
    let script = format!(
        "#!/bin/sh\n: > '{dir}/ran'\n\
         case \" $* \" in\n*\" zone-reload \"*)\n\
         \x20   if [ -e '{dir}/cutoff' ]; then rm -f '{dir}/cutoff'; knotc \"$@\" >/dev/null; echo 'error: cut off' >&2; exit 1; fi\n\
         \x20   if [ -e '{dir}/resign' ]; then\n\
         \x20       grep -q once '{dir}/resign' && rm -f '{dir}/resign'\n\
         \x20       for a; do shift; if [ \"$a\" = zone-reload ]; then set -- \"$@\" zone-sign; else set -- \"$@\" \"$a\"; fi; done\n\
         \x20   fi ;;\nesac\nexec knotc \"$@\"\n"
    );
    let path = tree.write("bin/knotc", &script);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let text = certdrop_testkit::tree::read_text(&tree.path("zone.toml"))
        .replace("[zone.knot]\n", "[zone.knot]\nknotc = \"bin/knotc\"\n");
    tree.write("zone.toml", &text);
}

#[test]
fn a_re_sign_racing_the_reload_is_overtaken_in_the_same_build() {
    // Date serials move by one, so Knot's re-sign lands on the serial
    // certdrop hands over, with the old content.
    let (tree, knot) = knot_tree("serial = \"date\"\n");
    racing_knotc(&tree);
    challenge(&tree, "a", V1);
    tree.run(&["build"]).expect(0);
    assert!(tree.path("ran").exists(), "bin/knotc was not the one run");
    tree.write("resign", "once\n");
    challenge(&tree, "b", V2);
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stdout.lines().count(), 1, "{}", ran.stdout);
    assert!(!tree.path("resign").exists(), "the race did not happen");
    let built = built_serial(&ran);
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V2), "{txt}");
    let served = knot
        .validate(ZONE, &anchor(&tree, &knot))
        .expect("validates");
    assert!(served >= built, "served {served}, built {built}");

    // A difference that stays: the first record that differs, once.
    tree.write("resign", "always\n");
    challenge(&tree, "c", &"c".repeat(43));
    let ran = tree
        .run(&["build"])
        .one_error(&format!("zone {ZONE}: {} serves serial ", knot.addr));
    assert_eq!(ran.code, 75, "{}", ran.stderr);
    ran.stderr_has(&format!(
        "but not this build's records (serial {}): it lacks _acme-challenge.www.example.test.",
        knot.serial(ZONE).expect("served")
    ));
    assert!(!ran.stderr.contains("re-sign"), "{}", ran.stderr);
}

#[test]
fn a_build_cut_off_after_the_reload_is_finished_without_a_new_serial() {
    let (tree, knot) = knot_tree("");
    racing_knotc(&tree);
    challenge(&tree, "a", V1);
    tree.run(&["build"]).expect(0);
    tree.write("cutoff", "");
    challenge(&tree, "b", V2);
    let ran = tree
        .run(&["build"])
        .one_error(&format!("zone {ZONE}: knotc zone-reload: error: cut off"));
    assert_eq!(ran.code, 69, "{}", ran.stderr);
    // Knot loaded it all the same, and signed it.
    let serving = knot.serial(ZONE).expect("served");
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V2), "{txt}");
    let ran = tree.run(&["build"]).expect(0);
    ran.stdout_has("already serves it signed by Knot");
    ran.stdout_has("finishing an interrupted build");
    assert_eq!(knot.serial(ZONE), Some(serving), "{}", knot.log());
    tree.run(&["build"]).expect(2).silent();
}

#[test]
fn a_zone_knot_serves_beside_one_nsd_serves_each_looked_at_its_server() {
    let tree = Tree::new();
    tree.sources("example.test");
    tree.sources("knot.test");
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &["example.test"]);
    let knot = Knot::start(
        &tree.path("knot"),
        &tree.path("zones"),
        &["knot.test"],
        &Policy::default(),
    );
    tree.config(
        "example.test",
        &format!(
            "{}\nserver = \"{}\"\nserve_wait = \"20s\"",
            nsd.reload_command(),
            nsd.addr
        ),
        &format!(
            "signer = \"none\"\n\n[[zone]]\nname = \"knot.test\"\nsoa = \"soa/knot.test\"\n\
             primary = \"primary/knot.test\"\nsigner = \"knot\"\nserver = \"{}\"\n{}",
            knot.addr,
            knot.zone_table()
        ),
    );
    let ran = tree.run(&["build"]).expect(0);
    ran.stdout_has("zone example.test: serial ");
    ran.stdout_has(&format!("; {} serves it", nsd.addr));
    ran.stdout_has(&format!(
        "zone knot.test: serial {}",
        ran.stdout
            .lines()
            .find(|l| l.starts_with("zone knot.test"))
            .and_then(|l| l.split_whitespace().nth(3))
            .expect("knot.test line")
    ));
    ran.stdout_has(&format!("; {} serves it signed by Knot", knot.addr));
    assert_eq!(ran.stdout.lines().count(), 2, "{}", ran.stdout);
    assert!(knot.serial("knot.test").is_some());
    assert!(nsd.serial("example.test").is_some());
    tree.run(&["build"]).expect(2).silent();
    // A server that is not an address is refused where it is written.
    let text = certdrop_testkit::tree::read_text(&tree.path("zone.toml")).replace(
        &format!("server = \"{}\"\n{}", knot.addr, knot.zone_table()),
        &format!("server = \"knot\"\n{}", knot.zone_table()),
    );
    tree.write("zone.toml", &text);
    let ran = tree
        .run(&["-n"])
        .one_error("zone 'knot.test': server: 'knot': expected an address and port");
    assert_eq!(ran.code, 78, "{}", ran.stderr);
}
