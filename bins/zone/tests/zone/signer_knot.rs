//! `signer = "knot"` against a real knotd (certdrop-testkit's, signing
//! with a policy of test timings): certdrop builds the content and the
//! serial, Knot signs; what Knot serves validates (delv from the KSK as
//! trust anchor, ldns-verify-zone on an AXFR) after each build, all
//! through a ZSK rollover Knot runs while certdrop keeps building; with
//! Knot down, one line and 69, and the next build finishes the work.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certdrop_testkit::knot::{Knot, Policy};

use crate::site::{Ran, Tree, V1, V2};

pub(crate) const ZONE: &str = "example.test";

/// A tree with sources, a knotd signing ZONE from tree/zones, and a
/// zone.toml with `signer = "knot"` (`zone_extra` added to the zone).
pub(crate) fn knot_tree(zone_extra: &str) -> (Tree, Knot) {
    let tree = Tree::new();
    tree.sources(ZONE);
    let knot = Knot::start(
        &tree.path("knot"),
        &tree.path("zones"),
        &[ZONE],
        &Policy::default(),
    );
    configure(&tree, &knot, zone_extra);
    (tree, knot)
}

fn configure(tree: &Tree, knot: &Knot, zone_extra: &str) {
    tree.config(
        ZONE,
        &format!(
            "[\"false\"]\nserver = \"{}\"\nserve_wait = \"20s\"",
            knot.addr
        ),
        &format!("signer = \"knot\"\n{zone_extra}{}", knot.zone_table()),
    );
}

/// A dns-01 fragment for `_acme-challenge.www` with `value`.
pub(crate) fn challenge(tree: &Tree, file: &str, value: &str) {
    tree.fragment(
        file,
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{value}\"\n"),
    );
}

/// The serial of an action line: `zone Z: serial N installed ...`.
pub(crate) fn built_serial(ran: &Ran) -> u32 {
    ran.stdout
        .split("serial ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no serial in {}", ran.stdout))
}

/// The KSK of what Knot serves, as delv's trust anchor file.
pub(crate) fn anchor(tree: &Tree, knot: &Knot) -> PathBuf {
    tree.write("anchor.conf", &knot.anchors(ZONE))
}

#[test]
fn knot_signs_what_certdrop_builds_and_it_validates() {
    let (tree, knot) = knot_tree("");
    challenge(&tree, "a", V1);
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(ran.stdout.lines().count(), 1, "{}", ran.stdout);
    ran.stdout_has(&format!(
        "zone {ZONE}: serial {} installed and reloaded (content changed); {} serves it signed by Knot",
        built_serial(&ran),
        knot.addr
    ));
    ran.stdout_has("verified");
    let first = built_serial(&ran);
    let anchor = anchor(&tree, &knot);
    let served = knot.validate(ZONE, &anchor).expect("validates");
    assert!(served >= first, "served {served}, built {first}");
    assert!(knot
        .dig(&["+short", "TXT", "_acme-challenge.www.example.test"])
        .contains(V1));

    // New content: a bumped serial, served signed, validating.
    challenge(&tree, "b", V2);
    let ran = tree.run(&["build"]).expect(0);
    let second = built_serial(&ran);
    assert!(second > served, "built {second} after serving {served}");
    let served = knot.validate(ZONE, &anchor).expect("validates");
    assert!(served >= second, "served {served}, built {second}");
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V1) && txt.contains(V2), "{txt}");

    // Nothing new: nothing to do, nothing said.
    tree.run(&["build"]).expect(2).silent();
}

#[test]
fn ldns_settings_say_they_have_no_effect_and_knot_needs_a_server() {
    let (tree, knot) = knot_tree("nsec3 = false\nsignature_validity = \"30d\"\n");
    let ran = tree.run(&["-n"]).expect(0);
    ran.stderr_has("zone 'example.test': nsec3: has no effect: signer is \"knot\"");
    ran.stderr_has("zone 'example.test': signature_validity: has no effect: signer is \"knot\"");
    // A [zone.knot] table under another signer does nothing either.
    let knot_toml = certdrop_testkit::tree::read_text(&tree.path("zone.toml"));
    tree.write(
        "zone.toml",
        &knot_toml.replace("signer = \"knot\"", "signer = \"none\""),
    );
    let ran = tree.run(&["-n"]).expect(0);
    ran.stderr_has("zone 'example.test': knot: has no effect: signer is not \"knot\"");
    tree.write("zone.toml", &knot_toml);
    // Without a server there is nothing to look at after a reload: 78.
    let text = certdrop_testkit::tree::read_text(&tree.path("zone.toml"))
        .replace(&format!("server = \"{}\"\n", knot.addr), "");
    tree.write("zone.toml", &text);
    let ran = tree
        .run(&["build"])
        .one_error("zone 'example.test': signer: knot needs server");
    assert_eq!(ran.code, 78, "{}", ran.stderr);
    let line = 1 + text
        .lines()
        .position(|l| l == "signer = \"knot\"")
        .expect("signer line");
    ran.stderr_has(&format!("zone.toml:{line}: zone 'example.test': signer: "));
}

#[test]
fn a_serial_knot_raised_by_re_signing_is_overtaken() {
    // Date serials move by one per build: Knot's own re-signing (two
    // of them here) leaves it ahead of the serial certdrop would pick.
    let (tree, knot) = knot_tree("serial = \"date\"\n");
    challenge(&tree, "a", V1);
    let first = built_serial(&tree.run(&["build"]).expect(0));
    // Knot may already have raised it once, signing the first load.
    let before = knot.wait_serial(ZONE, first).expect("served");
    for _ in 0..2 {
        assert!(knot.knotc_ok(&["-b", "zone-sign", ZONE]), "{}", knot.log());
    }
    let knots = knot.wait_serial(ZONE, before + 2).expect("Knot re-signed");
    assert_eq!(knots, before + 2);
    challenge(&tree, "b", V2);
    let ran = tree.run(&["build"]).expect(0);
    assert_eq!(built_serial(&ran), knots + 1, "{}", ran.stdout);
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V2), "{txt}");
    let anchor = anchor(&tree, &knot);
    assert_eq!(knot.validate(ZONE, &anchor), Ok(knots + 1));
}

/// The key tag of the ZSK signing the SOA now, and how many DNSKEYs are served.
fn zsk_state(knot: &Knot) -> (String, usize) {
    let soa = knot.dig(&["+short", "+dnssec", "SOA", ZONE]);
    let tag = soa
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.first() == Some(&"SOA") && f.len() > 6)
        .map(|f| f[6].to_owned())
        .unwrap_or_default();
    let keys = knot.dig(&["+short", "DNSKEY", ZONE]).lines().count();
    (tag, keys)
}

#[test]
fn a_zsk_rollover_by_knot_validates_throughout_while_certdrop_builds() {
    let (tree, knot) = knot_tree("");
    challenge(&tree, "roll", V1);
    tree.run(&["build"]).expect(0);
    let anchor = anchor(&tree, &knot);
    let (old_zsk, keys) = zsk_state(&knot);
    assert_eq!(keys, 2, "a KSK and a ZSK before the rollover");

    // A sampler asks and validates what is served, over and over.
    let knot = Arc::new(knot);
    let done = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (knot, done, seen, anchor) = (knot.clone(), done.clone(), seen.clone(), anchor.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                let got = knot.validate(ZONE, &anchor);
                seen.lock().expect("samples").push(got);
            }
        })
    };

    assert!(
        knot.knotc_ok(&["zone-key-rollover", ZONE, "zsk"]),
        "{}",
        knot.log()
    );
    // certdrop keeps building new content until Knot has finished: the
    // SOA signed by another ZSK, and the old one withdrawn.
    let start = Instant::now();
    let mut builds = 0;
    let mut rolled = false;
    while start.elapsed() < Duration::from_secs(45) {
        builds += 1;
        challenge(&tree, "roll", &format!("{builds:0>43}"));
        let ran = tree.run(&["build"]);
        assert_eq!(ran.code, 0, "build {builds}: {}{}", ran.stdout, ran.stderr);
        let (zsk, keys) = zsk_state(&knot);
        if zsk != old_zsk && !zsk.is_empty() && keys == 2 {
            rolled = true;
            break;
        }
    }
    done.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    assert!(rolled, "no rollover within 45 s:\n{}", knot.log());
    let seen = seen.lock().expect("samples");
    let bad: Vec<&String> = seen.iter().filter_map(|s| s.as_ref().err()).collect();
    assert!(
        bad.is_empty(),
        "{} of {} samples failed: {}",
        bad.len(),
        seen.len(),
        bad[0]
    );
    let mut serials: Vec<u32> = seen
        .iter()
        .filter_map(|s| s.as_ref().ok().copied())
        .collect();
    serials.dedup();
    assert!(
        builds >= 3 && serials.len() >= 3,
        "{builds} builds, serials seen {serials:?}"
    );
    // The log says Knot itself ran the steps.
    assert!(
        knot.log().contains("ZSK rollover started"),
        "{}",
        knot.log()
    );
}

#[test]
fn knot_down_is_one_line_and_the_next_build_finishes() {
    let (tree, mut knot) = knot_tree("");
    challenge(&tree, "a", V1);
    tree.run(&["build"]).expect(0);
    knot.stop();
    challenge(&tree, "b", V2);
    let ran = tree
        .run(&["build"])
        .one_error(&format!("zone {ZONE}: knotc zone-status: "));
    assert_eq!(ran.code, 69, "{}", ran.stderr);
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);

    // Back up: the next build hands over what the failed one built.
    knot.restart();
    let ran = tree.run(&["build"]).expect(0);
    ran.stdout_has("signed by Knot");
    let anchor = anchor(&tree, &knot);
    knot.validate(ZONE, &anchor).expect("validates");
    let txt = knot.dig(&["+short", "TXT", "_acme-challenge.www.example.test"]);
    assert!(txt.contains(V1) && txt.contains(V2), "{txt}");
}

#[test]
fn a_zone_knot_does_not_serve_is_one_line_in_knots_words() {
    let (tree, knot) = knot_tree("");
    // zone.toml names a zone knot.conf does not have.
    let text = certdrop_testkit::tree::read_text(&tree.path("zone.toml"))
        .replace("name = \"example.test\"", "name = \"other.test\"")
        .replace("soa/example.test", "soa/other.test")
        .replace("primary/example.test", "primary/other.test");
    tree.write("zone.toml", &text);
    tree.sources("other.test");
    let ran = tree
        .run(&["build"])
        .one_error("zone other.test: knotc zone-status: error: [other.test] (no such zone found)");
    assert_eq!(ran.code, 69, "{}", ran.stderr);
    assert!(knot.serial(ZONE).is_none(), "nothing was loaded for {ZONE}");
}
