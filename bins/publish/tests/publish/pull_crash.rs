//! kill -9 of `pull` while it switches: each round every line is renewed
//! upstream and staged (the test fills staging itself, the transport is
//! `true`, so the run's time is its verdict and its switches), the pull is
//! SIGKILLed at a point drawn from a seeded generator within a calibration
//! run's time, and then:
//! - every line of recv/pub holds the old certificate or the new one, and
//!   the tree verifies (`certdrop-publish verify`);
//! - the next pull converges (0, or 2 if the killed one had switched every
//!   line), every line new, verifiable, no `.tmp.*` left and no version
//!   directory that was never switched on.
//!
//! The delays are kill points, not waits for a result. The seed is printed;
//! `CERTDROP_CRASH_SEED` replays it, `CERTDROP_CRASH_ITERATIONS` sets the
//! number of rounds (a few in the normal suite, as tests/e2e/crash*.rs).

use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_testkit::{Proc, Run, Tmpfs};
use nix::sys::signal::Signal;

use crate::receiver::{config, pull, verify, words, PULL_LIMIT};
use crate::site::{names, sh, Site};

/// Rounds in the normal suite.
const ROUNDS: usize = 4;
/// The lines: enough that a kill can fall between two switches.
const LINES: [&str; 3] = ["www", "mail", "ftp"];

/// SplitMix64: small, seeded, replayable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Renew every line upstream (serial `round * 10 + i`), publish, and stage
/// the tree as a transport would: the new certificates, by line.
fn renew_and_stage(site: &Site, round: u32) -> Vec<Vec<u8>> {
    for (i, line) in LINES.iter().enumerate() {
        let name = format!("{line}.example.org");
        site.install(line, &site.leaf(round * 10 + i as u32, &[&name], 30));
    }
    site.run(&["run"]).expect(0);
    sh(site.root(), "rsync -a --delete pub/ recv/staging/");
    LINES
        .iter()
        .map(|l| site.read(&format!("pub/{l}/cert.pem")))
        .collect()
}

/// The certificates recv/pub holds, by line.
fn held(site: &Site) -> Vec<Vec<u8>> {
    LINES
        .iter()
        .map(|l| site.read(&format!("recv/pub/{l}/cert.pem")))
        .collect()
}

fn start(site: &Site, log: &str) -> Proc {
    Command::new(env!("CARGO_BIN_EXE_certdrop-publish"))
        .arg("-c")
        .arg(site.path("recv/pull.toml"))
        .arg("pull")
        .env_remove("CERTDROP_PUBLISH_CONFIG")
        .logged(&site.path(log))
}

/// No temporary file in recv/pub, and each line's newest version is the
/// one its link points at (no orphan).
fn clean(site: &Site, context: &str) {
    let top = site.listing("recv/pub");
    assert!(
        top.iter().all(|n| !n.starts_with(".tmp.")),
        "{top:?}\n{context}"
    );
    let versions = site.listing("recv/pub/.v");
    for line in LINES {
        let link = std::fs::read_link(site.path(&format!("recv/pub/{line}"))).expect("link");
        let current = link.file_name().expect("name").to_string_lossy();
        let newest = versions
            .iter()
            .filter(|v| v.strip_prefix(line).is_some_and(|r| r.starts_with('.')))
            .max()
            .expect("a version");
        assert_eq!(*newest, current, "{line}: an orphan is left\n{context}");
        assert!(!newest.contains(".tmp."), "{context}");
    }
}

#[test]
fn kill_9_during_the_switch_leaves_every_line_old_or_new() {
    let seed = env_number("CERTDROP_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos() as u64
    });
    let rounds = env_number("CERTDROP_CRASH_ITERATIONS").map_or(ROUNDS, |n| n as usize);
    eprintln!("crash pull: seed {seed} (CERTDROP_CRASH_SEED), {rounds} rounds");
    let mut rng = Rng(seed);
    let mut site = Site::new();
    site.lines = LINES
        .iter()
        .map(|l| (l.to_string(), names(&[&format!("{l}.example.org")])))
        .collect();
    site.keep = 2;
    // The receiver's tree in memory: a kill -9 is not a power loss, so
    // what the fsyncs buy is not under test, and on a busy disk they
    // would be most of a run's time (declared after the site's tree, so
    // unmounted before it is removed).
    let _fs = Tmpfs::mount(&site.path("recv"), "64m");
    let _pub_fs = Tmpfs::mount(&site.path("pub"), "64m");
    config(&site, "pub", &words(&["true"]), "pub", "");
    renew_and_stage(&site, 1);
    pull(&site, &[]).expect(0);
    // Calibration: one pull of three renewals to the end.
    renew_and_stage(&site, 2);
    let begun = Instant::now();
    let mut proc = start(&site, "calibration.log");
    while proc.running() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let took = begun.elapsed();
    assert_eq!(
        held(&site),
        LINES
            .iter()
            .map(|l| site.read(&format!("pub/{l}/cert.pem")))
            .collect::<Vec<_>>(),
        "calibration: {}",
        site.read_text("calibration.log")
    );
    eprintln!("crash pull: calibration {took:?}");
    let mut killed = 0;
    for round in 3..3 + rounds as u32 {
        let old = held(&site);
        let new = renew_and_stage(&site, round);
        // A point within the run's calibrated time.
        let point = took.mul_f64((rng.next() % 1000) as f64 / 1000.0);
        let log = format!("round-{round}.log");
        let mut proc = start(&site, &log);
        let t0 = Instant::now();
        while t0.elapsed() < point && proc.running() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let was_killed = proc.running();
        if was_killed {
            killed += 1;
            proc.stop(Signal::SIGKILL, PULL_LIMIT);
        }
        let context = format!(
            "round {round}, seed {seed}, kill at {point:?} ({}): {}",
            if was_killed { "killed" } else { "ended" },
            site.read_text(&log)
        );
        for (i, cert) in held(&site).iter().enumerate() {
            assert!(
                *cert == old[i] || *cert == new[i],
                "{}: neither old nor new\n{context}",
                LINES[i]
            );
        }
        verify(&site, "recv/pub").expect(0);
        let all_new = held(&site) == new;
        let ran = pull(&site, &[]);
        let ok: &[i32] = if all_new { &[2] } else { &[0] };
        assert!(
            ok.contains(&ran.code),
            "did not converge: {ran:?}\n{context}"
        );
        assert_eq!(held(&site), new, "{context}");
        verify(&site, "recv/pub").expect(0).silent();
        clean(&site, &context);
    }
    eprintln!("crash pull: {killed} of {rounds} runs killed");
}
