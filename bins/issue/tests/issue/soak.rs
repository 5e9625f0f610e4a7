//! The kill -9 soak (issue 11): forced renewals (`issue --force`) of one
//! line through the fault proxy, each run SIGKILLed at a random point,
//! then the next run without a kill: the same forced renewal if the
//! killed run had not installed its certificate yet, else cron's `run`.
//! Every round must converge: that run succeeds; a new certificate is
//! installed, openssl verifies it against Pebble's roots, and it carries
//! the key the line's policy asks for; the CA issued exactly one
//! certificate in the round and it was downloaded; a kept order was
//! resumed, and a second order was placed only when the kill lost the
//! first; the state file parses with no order left in progress and no
//! failure; no temporary file is left in keys/, archive/ or state/, no
//! staged key, no challenge file.
//!
//! Two lines, one test each (they run side by side): a fresh key per
//! certificate, and a key reused across renewals; 15 rounds each.
//!
//! Kill points, from a seeded generator (the seed is printed; set
//! `CERTDROP_SOAK_SEED` to replay the same points, the delays as the same
//! fractions of the calibration run's times): (a) one round per endpoint
//! of a forced renewal as a calibration run sent them (directory, nonce,
//! order, authorization, challenge, finalize, certificate...), at a random
//! one of its requests there, killed as the proxy sees it, while the proxy
//! holds it from Pebble, or while it holds Pebble's answer; (b) after a
//! random delay from the start, and after a random delay from the
//! certificate's download (the local writes: archive, install, key
//! promotion, state). The delays are kill points, not waits for a result:
//! nothing asserts on timing.
//!
//! The defects the soak found are reproduced one by one, at one chosen
//! point each, in interrupted.rs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::proxied_line::{soon, temp_files, Policy, ProxiedLine, RUN_LIMIT};
use certdrop_testkit::pebble::{Endpoint, Fault, FaultProxy};
use certdrop_testkit::{Ran, Run};

/// Killed rounds per line.
const ROUNDS: usize = 15;
/// Environment variable that replays a soak with its printed seed.
const SEED_VAR: &str = "CERTDROP_SOAK_SEED";

/// A small seeded generator (SplitMix64): the soak's kill points must
/// replay from a printed seed, and no dependency is needed for that.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `0..=max`.
    fn duration(&mut self, max: Duration) -> Duration {
        let micros = u64::try_from(max.as_micros()).expect("a short duration");
        Duration::from_micros(self.below(micros + 1))
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The seed of this soak: `CERTDROP_SOAK_SEED`, or one from the clock.
fn seed() -> u64 {
    match std::env::var(SEED_VAR) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("{SEED_VAR}={s}: not a number: {e}")),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_nanos() as u64,
    }
}

/// How a request chosen as the kill point is treated until the kill.
#[derive(Clone, Copy, Debug)]
enum Hold {
    /// Relayed as usual: the kill lands as the proxy sees it, a little
    /// before or after Pebble's answer.
    None,
    /// Held by the proxy, never reaching Pebble (Fault::Stall).
    BeforeCa,
    /// Taken by Pebble, its answer held back from the client.
    AfterCa,
}

/// Where a round's run is killed.
#[derive(Clone, Debug)]
enum KillPoint {
    /// At the `nth` (from 0) request to `endpoint` of the run.
    Request {
        endpoint: Endpoint,
        nth: u32,
        hold: Hold,
    },
    /// This long after the run started.
    Delay(Duration),
    /// This long after the proxy relayed the certificate download.
    AfterDownload(Duration),
}

/// What the CA counted at one moment (through the proxy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counts {
    orders: u32,
    issued: u32,
    downloaded: usize,
}

impl Counts {
    fn of(proxy: &FaultProxy) -> Counts {
        Counts {
            orders: proxy.orders_created(),
            issued: proxy.certificates_issued(),
            downloaded: proxy.certificates_downloaded(),
        }
    }

    fn since(self, before: Counts) -> Counts {
        Counts {
            orders: self.orders - before.orders,
            issued: self.issued - before.issued,
            downloaded: self.downloaded - before.downloaded,
        }
    }
}

/// A forced renewal run to the end, as the kill points are drawn from.
struct Calibration {
    /// The endpoints of its requests, in order.
    sequence: Vec<Endpoint>,
    /// How long it took.
    took: Duration,
    /// From the proxy seeing the certificate download to the run's end:
    /// the time of the local writes.
    after_download: Duration,
}

impl ProxiedLine {
    /// The line's first certificate (and the account), then one forced
    /// renewal without a kill, watched.
    fn calibrate(&self) -> Calibration {
        self.command(&["run"]).ended_within(RUN_LIMIT).expect(0);
        let from = self.proxy.requests().len();
        let log = self.site.path("calibration.log");
        let started = Instant::now();
        let mut proc = self.forced().logged(&log);
        assert!(soon(RUN_LIMIT, || !proc.running()), "calibration run stuck");
        let ended = Instant::now();
        let status = proc.0.wait().expect("reap");
        let out = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(status.code(), Some(0), "calibration run:\n{out}");
        let requests = self.proxy.requests().split_off(from);
        let download = requests
            .iter()
            .rev()
            .find(|(_, e)| *e == Endpoint::Certificate)
            .map(|(at, _)| *at)
            .expect("the calibration run downloaded its certificate");
        Calibration {
            sequence: requests.iter().map(|(_, e)| *e).collect(),
            took: ended - started,
            after_download: ended.saturating_duration_since(download),
        }
    }
}

/// The rounds' kill points: one per endpoint of the calibration run (at a
/// random one of its requests there, held in a random way), the others
/// after random delays, from the start or from the download; shuffled.
fn kill_points(cal: &Calibration, rng: &mut Rng) -> Vec<KillPoint> {
    let mut endpoints: Vec<(Endpoint, u32)> = Vec::new();
    for e in &cal.sequence {
        match endpoints.iter_mut().find(|(x, _)| x == e) {
            Some((_, n)) => *n += 1,
            None => endpoints.push((*e, 1)),
        }
    }
    assert!(
        endpoints.len() + 2 <= ROUNDS,
        "more endpoints than rounds: {endpoints:?}"
    );
    let holds = [Hold::None, Hold::BeforeCa, Hold::AfterCa];
    let mut points: Vec<KillPoint> = endpoints
        .iter()
        .map(|(endpoint, count)| KillPoint::Request {
            endpoint: *endpoint,
            nth: rng.below(u64::from(*count)) as u32,
            hold: holds[rng.below(3) as usize],
        })
        .collect();
    let delays = ROUNDS - points.len();
    for i in 0..delays {
        points.push(if i % 2 == 0 {
            KillPoint::AfterDownload(rng.duration(cal.after_download))
        } else {
            KillPoint::Delay(rng.duration(cal.took * 5 / 4))
        });
    }
    rng.shuffle(&mut points);
    points
}

/// What one round saw, for the summary.
struct Outcome {
    killed: bool,
    kept: Option<String>,
    converged_by: &'static str,
    counts: Counts,
}

impl ProxiedLine {
    /// Start a forced renewal, SIGKILL it at `point` (unless it ended
    /// first); true if it was killed. A run that ended by itself must
    /// have succeeded.
    fn killed_at(&self, point: &KillPoint, log: &Path) -> bool {
        let before = Counts::of(&self.proxy);
        let seen = match point {
            KillPoint::Request { endpoint, .. } => self.proxy.seen(*endpoint),
            _ => 0,
        };
        let (reached, release) = match point {
            KillPoint::Request {
                endpoint,
                nth,
                hold: Hold::AfterCa,
            } => {
                let (reached, release) = self.hold_answer(*endpoint, *nth);
                (reached, Some(release))
            }
            KillPoint::Request {
                endpoint,
                nth,
                hold: Hold::BeforeCa,
            } => {
                self.proxy
                    .inject(*endpoint, *nth, 1, Fault::Stall { for_: None });
                (Arc::new(AtomicBool::new(false)), None)
            }
            _ => (Arc::new(AtomicBool::new(false)), None),
        };
        let mut proc = self.forced().logged(log);
        match point {
            KillPoint::Request {
                endpoint,
                nth,
                hold,
            } => {
                soon(RUN_LIMIT, || match hold {
                    Hold::AfterCa => reached.load(Ordering::SeqCst),
                    _ => self.proxy.seen(*endpoint) > seen + nth,
                } || !proc.running());
            }
            KillPoint::Delay(d) => {
                soon(*d, || !proc.running());
            }
            KillPoint::AfterDownload(d) => {
                soon(RUN_LIMIT, || {
                    Counts::of(&self.proxy).downloaded > before.downloaded || !proc.running()
                });
                soon(*d, || !proc.running());
            }
        }
        let killed = proc.running();
        if killed {
            proc.0.kill().expect("kill -9");
        }
        let status = proc.0.wait().expect("reap");
        if !killed {
            let out = std::fs::read_to_string(log).unwrap_or_default();
            assert_eq!(status.code(), Some(0), "a run that was not killed:\n{out}");
        }
        drop(release);
        self.proxy.clear();
        killed
    }
}

impl ProxiedLine {
    /// One round: a forced renewal killed at `point`, then the run that
    /// must converge, then every check. `first_key` is the public key of
    /// the line's first certificate (a reused key stays it).
    fn round(&self, n: usize, point: &KillPoint, first_key: &str) -> Outcome {
        let before = Counts::of(&self.proxy);
        let (serial, key) = (self.serial(), self.site.cert_pubkey(self.name));
        let log = self.site.path(&format!("round-{n}.log"));
        let killed = self.killed_at(point, &log);
        let kept = self.kept_order();
        let installed = self.serial() != serial;
        // The operator's next step: a forced renewal that did not happen
        // yet is asked for again; one that did leaves cron's `run`.
        let orders_seen = self.proxy.seen(Endpoint::NewOrder);
        let (converged_by, ran) = match installed {
            true => ("run", self.command(&["-v", "run"]).ended_within(RUN_LIMIT)),
            false => ("issue --force", self.forced().ended_within(RUN_LIMIT)),
        };
        let new_orders = self.proxy.seen(Endpoint::NewOrder) - orders_seen;
        let counts = Counts::of(&self.proxy).since(before);
        let context = format!(
            "round {n}: {point:?}, {}; order kept: {kept:?}, installed: {installed}; \
             converged by {converged_by}: exit {}, {new_orders} new order(s); round: {counts:?}\n\
             killed run:\n{}\nnext run:\n{}{}",
            if killed { "killed" } else { "ended by itself" },
            ran.code,
            std::fs::read_to_string(&log).unwrap_or_default(),
            ran.stdout,
            ran.stderr,
        );
        let ok_codes: &[i32] = if installed { &[0, 2] } else { &[0] };
        assert!(ok_codes.contains(&ran.code), "{context}");
        self.converged(&serial, &key, first_key, &context);
        // At the CA: the round's one certificate, issued once and taken;
        // a kept order is resumed, not placed again (after an install it is
        // forgotten: nothing is due then); a second order only when the
        // first was lost with the kill (placed at the CA, not yet
        // recorded).
        assert_eq!((counts.issued, counts.downloaded), (1, 1), "{context}");
        if kept.is_some() {
            assert_eq!(new_orders, 0, "a kept order not resumed: {context}");
        } else {
            assert!(new_orders <= 1 && counts.orders <= 2, "{context}");
        }
        Outcome {
            killed,
            kept: kept.map(|o| o["stage"].as_str().unwrap_or("?").to_owned()),
            converged_by,
            counts,
        }
    }

    /// The line after a round: a new certificate that openssl verifies,
    /// for the key the policy asks for; no order in progress, no failure
    /// recorded; no key in a temporary file, no staged key left, no
    /// challenge file left.
    fn converged(&self, serial: &str, key: &str, first_key: &str, context: &str) {
        assert_ne!(self.serial(), serial, "no new certificate: {context}");
        self.site.openssl_verify(self.name);
        let now = self.site.cert_pubkey(self.name);
        match self.policy {
            Policy::Fresh => assert_ne!(now, key, "the key was not renewed: {context}"),
            Policy::Reuse => assert_eq!(now, first_key, "the key changed: {context}"),
        }
        assert_eq!(
            self.site.key_pubkey(self.name),
            now,
            "key.pem is not the certificate's key: {context}"
        );
        let state = self.state();
        assert_eq!(
            state.get("order"),
            None,
            "order left in progress: {context}"
        );
        assert_eq!(state["failures"], 0, "{state}: {context}");
        // Temporary files where keys and state live: a key copy in one
        // outlives the key's rotation; none may be left (certs/ is public
        // and its unfinished versions are pruned by the next install).
        let left: Vec<PathBuf> = ["keys", "archive", "state"]
            .iter()
            .flat_map(|d| temp_files(&self.site.path(d)))
            .collect();
        assert_eq!(
            left,
            Vec::<PathBuf>::new(),
            "temporary files left: {context}"
        );
        let next = self.site.path(&format!("keys/{}/next/key.pem", self.name));
        assert!(!next.exists(), "a staged key left: {context}");
        assert_eq!(
            self.site.listing("webroot"),
            Vec::<String>::new(),
            "{context}"
        );
    }
}

/// The soak of one line: calibrate, draw the kill points, run the rounds,
/// print what they did.
fn soak(name: &'static str, policy: Policy) {
    let seed = seed();
    // One seed replays both lines; each line draws its own points.
    let mut rng = Rng(seed
        ^ name
            .bytes()
            .fold(0, |h: u64, b| h.wrapping_mul(31) ^ u64::from(b)));
    eprintln!("soak {name} ({policy:?}): seed {seed} ({SEED_VAR}={seed} replays it)");
    let started = Instant::now();
    let t = ProxiedLine::new(name, policy);
    let cal = t.calibrate();
    let first_key = t.site.cert_pubkey(name);
    let points = kill_points(&cal, &mut rng);
    eprintln!(
        "soak {name}: calibration {} requests in {:?} ({:?} after the download)",
        cal.sequence.len(),
        cal.took,
        cal.after_download
    );
    for (n, point) in points.iter().enumerate() {
        let o = t.round(n, point, &first_key);
        eprintln!(
            "soak {name}: round {n}: {point:?}: {}, kept {:?}, converged by {}, CA {:?}",
            if o.killed { "killed" } else { "ended" },
            o.kept,
            o.converged_by,
            o.counts
        );
    }
    let status = t.command(&["--json", "status"]).ended_within(RUN_LIMIT);
    let status: Ran = status.expect(0);
    let _: serde_json::Value = serde_json::from_str(&status.stdout).expect("status --json");
    eprintln!("soak {name}: {ROUNDS} rounds in {:?}", started.elapsed());
}

#[test]
fn kill_9_soak_of_a_fresh_key_line() {
    soak("fresh", Policy::Fresh);
}

#[test]
fn kill_9_soak_of_a_reused_key_line() {
    soak("reuse", Policy::Reuse);
}
