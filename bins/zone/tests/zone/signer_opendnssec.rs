//! `signer = "opendnssec"` against the real engine: OpenDNSSEC 2.1 with
//! SoftHSM (certdrop-testkit's `opendnssec`) signs what certdrop builds,
//! a real nsd serves it, and delv validates what nsd answers with the
//! zone's KSK as trust anchor. The enforcer rolls the ZSK while certdrop
//! keeps building; the signer down costs one build, not the served zone.

use std::time::{Duration, Instant};

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::opendnssec::Ods;
use certdrop_testkit::Run;

use crate::site::{answered, Tree};

const ZONE: &str = "example.test";

/// A tree with nsd and OpenDNSSEC running and zone.toml pointing at both.
struct Site {
    tree: Tree,
    nsd: Nsd,
    ods: Ods,
}

fn site() -> Site {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    let ods = Ods::start(&tree.path("ods"), ZONE);
    let top = format!(
        "{}\nserver = \"{}\"\nserve_wait = \"20s\"",
        nsd.reload_command(),
        nsd.addr
    );
    tree.config(
        ZONE,
        &top,
        &format!(
            "signer = \"opendnssec\"\n\n[zone.opendnssec]\nunsigned = \"{}\"\nsigned = \"{}\"\n\
             signconf = \"{}\"\nsocket = \"{}\"\nwait = \"30s\"\n",
            ods.unsigned.display(),
            ods.signed.display(),
            ods.signconf.display(),
            ods.signer_socket.display()
        ),
    );
    Site { tree, nsd, ods }
}

impl Site {
    /// New content: a TXT record saying `round`.
    fn content(&self, round: &str) {
        self.tree.write(
            &format!("primary/{ZONE}"),
            &format!("@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nround TXT \"{round}\"\n"),
        );
    }

    /// A build that changed the zone: its serial, after nsd serves it.
    #[track_caller]
    fn build(&self) -> u32 {
        let ran = self.tree.run(&["build"]);
        assert_eq!(
            ran.code,
            0,
            "{}{}\n{}",
            ran.stdout,
            ran.stderr,
            self.ods.logs()
        );
        assert_eq!(ran.stdout.lines().count(), 1, "{}", ran.stdout);
        ran.stdout_has(&format!("; {} serves it", self.nsd.addr));
        let serial: u32 = ran
            .stdout
            .split("serial ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no serial in {}", ran.stdout));
        assert_eq!(self.nsd.serial(ZONE), Some(serial));
        serial
    }

    /// delv's verdict on `rtype name` as nsd serves it, the KSK of the
    /// signer's output as the only trust anchor: Ok when "fully validated".
    fn validate(&self, rtype: &str, name: &str) -> Result<(), String> {
        self.validate_with(&self.ods.trust_anchors(), rtype, name)
    }

    fn validate_with(&self, anchors: &str, rtype: &str, name: &str) -> Result<(), String> {
        let anchors = self.tree.write("anchors.conf", anchors);
        let ran = std::process::Command::new("delv")
            .arg("-a")
            .arg(&anchors)
            .args(["-p", &self.nsd.addr.port().to_string()])
            .arg(format!("@{}", self.nsd.addr.ip()))
            .arg(format!("+root={ZONE}"))
            .args([name, rtype])
            .ran();
        if ran.code == 0 && ran.stdout.contains("; fully validated") {
            Ok(())
        } else {
            Err(format!("delv {rtype} {name}: {}{}", ran.stdout, ran.stderr))
        }
    }

    /// The key tag of the RRSIG nsd serves over `round.ZONE` TXT.
    fn txt_signer(&self) -> Option<u16> {
        let name = format!("round.{ZONE}");
        let rows = answered(&self.nsd, "TXT", &name, true, |r| {
            r.iter().any(|(_, t, _)| t == "RRSIG")
        });
        rows.iter()
            .find(|(_, t, _)| t == "RRSIG")
            .and_then(|(_, _, rdata)| rdata.split_whitespace().nth(6)?.parse().ok())
    }
}

#[test]
fn opendnssec_signs_what_certdrop_builds_and_nsd_serves_it_validated() {
    let s = site();
    s.content("one");
    let first = s.build();
    let installed = s.tree.path(&format!("zones/{ZONE}.zone"));
    std::process::Command::new("ldns-verify-zone")
        .arg(&installed)
        .ran()
        .expect(0);
    // keep: the serial certdrop built is the one signed and served.
    assert_eq!(
        certdrop_testkit::tree::read_text(&s.ods.signed)
            .lines()
            .find(|l| l.contains("SOA")),
        certdrop_testkit::tree::read_text(&installed)
            .lines()
            .find(|l| l.contains("SOA"))
    );
    for (rtype, name) in [
        ("SOA", ZONE),
        ("TXT", "round.example.test"),
        ("A", "www.example.test"),
    ] {
        s.validate(rtype, name).expect("validates");
    }
    // The check can fail: another key as the anchor does not validate.
    let other = "trust-anchors {\n  example.test. static-key 257 3 13 \"mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\";\n};\n";
    assert!(
        s.validate_with(other, "SOA", ZONE).is_err(),
        "validated with a stranger's key"
    );
    let zsk = s
        .ods
        .keys()
        .into_iter()
        .find(|k| k.keytype == "ZSK")
        .expect("a ZSK");
    assert_eq!(s.txt_signer(), Some(zsk.tag), "signed by OpenDNSSEC's ZSK");
    // New content: a new serial, served and validated.
    s.content("two");
    let second = s.build();
    assert!(second > first, "{second} after {first}");
    let rows = answered(&s.nsd, "TXT", "round.example.test", false, |r| {
        r.iter().any(|(_, _, v)| v.contains("two"))
    });
    assert!(rows.iter().any(|(_, _, v)| v.contains("two")), "{rows:?}");
    s.validate("TXT", "round.example.test").expect("validates");
    // The DS hand-over as certdrop-zone(8) tells it: export the KSK's DS
    // once the enforcer waits for it, and say when the parent has it.
    let ksk = s
        .ods
        .wait_keys(Duration::from_secs(30), |keys| {
            keys.iter()
                .find(|k| k.keytype == "KSK" && k.state == "ready")
                .cloned()
        })
        .unwrap_or_else(|| panic!("no KSK waiting for its DS: {:?}", s.ods.keys()));
    let ds = s.ods.enforcer_ok(&[
        "key",
        "export",
        "--zone",
        ZONE,
        "--keystate",
        "ready",
        "--keytype",
        "KSK",
        "--ds",
    ]);
    let line = ds
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some("DS"))
        .unwrap_or_else(|| panic!("no DS in {ds}"));
    assert_eq!(
        line.split_whitespace().nth(4),
        Some(ksk.tag.to_string().as_str()),
        "{line}"
    );
    let tag = ksk.tag.to_string();
    s.ods
        .enforcer_ok(&["key", "ds-seen", "--zone", ZONE, "--keytag", &tag]);
    let active = s.ods.wait_keys(Duration::from_secs(30), |keys| {
        keys.iter()
            .any(|k| k.tag == ksk.tag && k.state == "active")
            .then_some(())
    });
    assert!(active.is_some(), "KSK not active: {:?}", s.ods.keys());
}

#[test]
fn a_zsk_rollover_by_the_enforcer_validates_on_every_served_version() {
    let s = site();
    s.content("0");
    s.build();
    let old = s.txt_signer().expect("signed");
    let mtime = || {
        std::fs::metadata(&s.ods.signconf)
            .and_then(|m| m.modified())
            .ok()
    };
    let before = mtime();
    s.ods.rollover_zsk();
    // The enforcer rewrites the zone's signer configuration: a build with
    // no new content hands the zone over again, with a new serial.
    assert!(
        certdrop_testkit::within(Duration::from_secs(20), || mtime() != before),
        "the enforcer did not rewrite {}",
        s.ods.signconf.display()
    );
    let ran = s.tree.run(&["build"]).expect(0);
    ran.stdout_has("(handed to OpenDNSSEC again: key event or refresh)");
    s.validate("SOA", ZONE).expect("validates");
    // The enforcer publishes a new ZSK, waits out TTLs and margins (seconds
    // in the test policy), then makes it sign; certdrop keeps building and
    // every version nsd serves must validate, until the new key signs.
    let started = Instant::now();
    let mut round = 0;
    let mut bad = Vec::new();
    let mut signer = old;
    while signer == old && started.elapsed() < Duration::from_secs(60) {
        round += 1;
        s.content(&round.to_string());
        let serial = s.build();
        for (rtype, name) in [
            ("SOA", ZONE),
            ("DNSKEY", ZONE),
            ("TXT", "round.example.test"),
        ] {
            if let Err(e) = s.validate(rtype, name) {
                bad.push(format!("serial {serial}: {e}"));
            }
        }
        signer = s.txt_signer().expect("signed");
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_ne!(
        signer,
        old,
        "the new ZSK never signed in {round} builds:\n{}",
        s.ods.logs()
    );
    let keys = s.ods.keys();
    assert!(
        keys.iter().any(|k| k.keytype == "ZSK" && k.tag == signer),
        "{signer} is not the enforcer's: {keys:?}"
    );
}

#[test]
fn the_signer_down_fails_one_build_and_the_served_zone_stays() {
    let mut s = site();
    s.content("one");
    let first = s.build();
    let installed = s.tree.path(&format!("zones/{ZONE}.zone"));
    let before = std::fs::read(&installed).expect("installed");
    s.ods.stop_signer();
    s.content("two");
    let ran = s.tree.run(&["build"]).expect(69);
    assert_eq!(ran.stderr.trim().lines().count(), 1, "{}", ran.stderr);
    // `sign`, or `update` when the enforcer rewrote the signer
    // configuration since the last build (it does, early in a zone's life).
    ran.stderr_has(&format!("zone {ZONE}: ods-signer "));
    ran.stderr_has(": Unable to connect to engine. connect() failed");
    assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    assert_eq!(std::fs::read(&installed).expect("installed"), before);
    assert_eq!(s.nsd.serial(ZONE), Some(first));
    s.validate("SOA", ZONE)
        .expect("the previous zone still validates");
    // The signer back: the next build hands the zone over and it is served.
    s.ods.start_signer();
    let next = s.build();
    assert!(next > first, "{next} after {first}");
    s.validate("TXT", "round.example.test").expect("validates");
}

#[test]
fn configuration_mistakes_and_settings_without_effect() {
    let tree = Tree::new();
    tree.sources(ZONE);
    // No [zone.opendnssec]: where the signer is named, 78.
    tree.config(ZONE, "[]", "signer = \"opendnssec\"\n");
    let ran = tree.run(&["-n"]).expect(78);
    assert_eq!(ran.stderr.trim().lines().count(), 1, "{}", ran.stderr);
    ran.stderr_has(":12: zone 'example.test': opendnssec: signer \"opendnssec\" needs a [zone.opendnssec] table");
    // Input and output the same file.
    tree.config(
        ZONE,
        "[]",
        "signer = \"opendnssec\"\n[zone.opendnssec]\nunsigned = \"u\"\nsigned = \"u\"\nsignconf = \"c\"\n",
    );
    let ran = tree.run(&["-n"]).expect(78);
    ran.stderr_has("zone 'example.test': opendnssec.signed: the same file as unsigned");
    // An unknown key in the table.
    tree.config(
        ZONE,
        "[]",
        "signer = \"opendnssec\"\n[zone.opendnssec]\nunsigned = \"u\"\nsigned = \"s\"\nsignconf = \"c\"\npin = \"1234\"\n",
    );
    let ran = tree.run(&["-n"]).expect(78);
    ran.stderr_has(":17: ");
    ran.stderr_has("pin");
    // ldns settings: accepted, each said to have no effect.
    tree.config(
        ZONE,
        "[]",
        "signer = \"opendnssec\"\nkeys = [\"keys/K\"]\nnsec3 = false\nsignature_validity = \"30d\"\n\
         resign_before = \"5d\"\n[zone.opendnssec]\nunsigned = \"u\"\nsigned = \"s\"\nsignconf = \"c\"\n",
    );
    let ran = tree.run(&["-n"]).expect(0);
    for key in ["keys", "nsec3", "signature_validity", "resign_before"] {
        ran.stderr_has(&format!(
            "zone 'example.test': {key}: has no effect: signer is \"opendnssec\""
        ));
    }
}

#[test]
fn watch_hands_the_zone_over_at_each_key_event_without_new_content() {
    let s = site();
    s.content("one");
    let out = std::fs::File::create(s.tree.path("watch.out")).expect("watch.out");
    let err = std::fs::File::create(s.tree.path("watch.err")).expect("watch.err");
    let _watch = certdrop_testkit::Proc(
        crate::site::zone()
            .arg("-c")
            .arg(s.tree.path("zone.toml"))
            .args(["watch", "--log", "stderr"])
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("certdrop-zone watch"),
    );
    let logs = || {
        format!(
            "{}{}\n{}",
            certdrop_testkit::tree::read_text(&s.tree.path("watch.out")),
            certdrop_testkit::tree::read_text(&s.tree.path("watch.err")),
            s.ods.logs()
        )
    };
    let old = certdrop_testkit::wait_for(Duration::from_secs(30), || s.txt_signer())
        .unwrap_or_else(|| panic!("never served signed:\n{}", logs()));
    s.ods.rollover_zsk();
    // No content changes from here: only the enforcer's rewrites of the
    // signer configuration make watch hand the zone over again.
    let mut bad = Vec::new();
    let new = certdrop_testkit::wait_for(Duration::from_secs(90), || {
        if let Err(e) = s.validate("TXT", "round.example.test") {
            bad.push(e);
        }
        s.txt_signer().filter(|t| *t != old)
    });
    assert!(new.is_some(), "the new ZSK never signed:\n{}", logs());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
