//! What the kill -9 tests of zone, publish and trigger share (issue 12,
//! "Crash tests in the suite"; certdrop-issue's own soak is
//! bins/issue/tests/issue/soak.rs, and this follows its approach).
//!
//! Each test runs a binary on a change, SIGKILLs it at a point drawn from
//! a seeded generator, checks that the previous good state is intact,
//! runs the binary again and checks that it converged and left no
//! temporary file. The points are:
//! - a delay from the start, up to a little past a calibration run's time;
//! - a delay after the run's first visible write (polled for briskly);
//! - a gate in a command the binary runs (a reload, a pre-flight): the
//!   run is killed while the command waits before doing its work (which
//!   it then never does, as if the kill had come just before it started),
//!   or while it waits right after its work.
//!
//! The delays are kill points, not waits for a result: nothing asserts on
//! timing. The seed is printed; `CERTDROP_CRASH_SEED` replays the same
//! points (the delays as the same fractions of the calibration run's
//! times), and `CERTDROP_CRASH_ITERATIONS` sets the number of killed runs
//! per test (`make crash` runs 100).
//!
//! Each test's tree lives on a tmpfs of its own ([`tree_in_memory`]).
//!
//! The defects these tests found (temporary files no later run removed,
//! unlinked versions counted as published or kept over the real previous
//! one) are fixed; each test now fails on them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_testkit::{bin, Proc, Ran, Run, Tmpfs, Tree};

/// Killed runs per test in the normal suite.
pub const DEFAULT_ITERATIONS: usize = 30;
/// Environment variable with the number of killed runs per test.
pub const ITERATIONS_VAR: &str = "CERTDROP_CRASH_ITERATIONS";
/// Environment variable that replays a test's kill points from its seed.
pub const SEED_VAR: &str = "CERTDROP_CRASH_SEED";
/// Longest any one run may take on a busy machine before the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);
/// How often a run is looked at while a kill point is awaited: finer than
/// the kit's tick, since a publish run lasts a few milliseconds.
const POLL: Duration = Duration::from_micros(250);

/// A test tree on a tmpfs of its own, with `dirs` made: a kill -9 is not
/// a power loss, so what the binaries' fsyncs buy is not under test, and
/// on a busy disk they cost most of a run's time. Keep the [`Tmpfs`] in
/// a field declared before the tree's (it is unmounted first).
pub fn tree_in_memory(dirs: &[&str]) -> (Tmpfs, Tree) {
    let tree = Tree::new();
    let fs = Tmpfs::mount(tree.root(), "256m");
    tree.mkdirs(dirs);
    (fs, tree)
}

/// The number of killed runs per test: `CERTDROP_CRASH_ITERATIONS`, or 30.
pub fn iterations() -> usize {
    match std::env::var(ITERATIONS_VAR) {
        Ok(s) => s
            .parse()
            .unwrap_or_else(|e| panic!("{ITERATIONS_VAR}={s}: not a number: {e}")),
        Err(_) => DEFAULT_ITERATIONS,
    }
}

/// A small seeded generator (SplitMix64), as the issuer's soak has: the
/// kill points must replay from a printed seed.
pub struct Rng(u64);

impl Rng {
    /// The generator of the test `name`: from `CERTDROP_CRASH_SEED` or the
    /// clock, mixed with the name so that tests draw their own points; the
    /// seed is printed.
    pub fn for_test(name: &str) -> Rng {
        let seed = match std::env::var(SEED_VAR) {
            Ok(s) => s
                .parse()
                .unwrap_or_else(|e| panic!("{SEED_VAR}={s}: not a number: {e}")),
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after the epoch")
                .as_nanos() as u64,
        };
        eprintln!("crash {name}: seed {seed} ({SEED_VAR}={seed} replays it)");
        Rng(seed
            ^ name
                .bytes()
                .fold(0, |h: u64, b| h.wrapping_mul(31) ^ u64::from(b)))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `0..=max`.
    pub fn duration(&mut self, max: Duration) -> Duration {
        let micros = u64::try_from(max.as_micros()).expect("a short duration");
        Duration::from_micros(self.below(micros + 1))
    }
}

/// Where a run is killed.
#[derive(Clone, Debug)]
pub enum KillPoint {
    /// This long after it started.
    Delay(Duration),
    /// This long after its first write was seen.
    AfterWrite(Duration),
    /// While the gated command `gate` waits, before its work (`after`
    /// false) or after it.
    Gate { gate: &'static str, after: bool },
}

/// A gated command: a shell script that runs `work`, and waits before and
/// after it while the test holds it (files in `dir`). A run killed at the
/// first wait is told so (`abort`) and the work is never done; unheld,
/// the script just does the work. Its exit status is the work's.
pub struct Gate {
    /// Where its files are.
    dir: PathBuf,
    /// Its name (files `<name>.before.hold` etc.).
    pub name: &'static str,
}

impl Gate {
    /// Write the script `dir/<name>.sh` that runs `work` (sh text; `$1`
    /// is the script's first argument).
    pub fn new(dir: &Path, name: &'static str, work: &str) -> Gate {
        let d = dir.display();
        // The waits are bounded (a minute) so that a test that fails
        // between holding and releasing leaves no script behind for long.
        let script = format!(
            "gate() {{\n  [ -e {d}/{name}.$1.hold ] || return 0\n  : > {d}/{name}.$1.at\n  n=0\n  \
             while [ -e {d}/{name}.$1.hold ] && [ $n -lt 12000 ]; do sleep 0.005; n=$((n+1)); done\n  \
             if [ -e {d}/{name}.$1.abort ]; then rm -f {d}/{name}.$1.abort; exit 1; fi\n}}\n\
             gate before\n{work}\nrc=$?\ngate after\nexit $rc\n"
        );
        std::fs::write(dir.join(format!("{name}.sh")), script).expect("gate script");
        Gate {
            dir: dir.to_path_buf(),
            name,
        }
    }

    /// The script's path.
    pub fn script(&self) -> PathBuf {
        self.dir.join(format!("{}.sh", self.name))
    }

    fn file(&self, after: bool, what: &str) -> PathBuf {
        let at = if after { "after" } else { "before" };
        self.dir.join(format!("{}.{at}.{what}", self.name))
    }

    /// Hold the next run of the script at one of its waits.
    fn hold(&self, after: bool) {
        let _ = std::fs::remove_file(self.file(after, "at"));
        std::fs::write(self.file(after, "hold"), "").expect("hold");
    }

    /// Whether the script waits there now.
    fn reached(&self, after: bool) -> bool {
        self.file(after, "at").exists()
    }

    /// Let the script go on (its run was killed: from the first wait it
    /// exits without doing its work), and wait until it did.
    fn release(&self, after: bool) {
        let abort = self.file(after, "abort");
        if self.reached(after) && !after {
            std::fs::write(&abort, "").expect("abort");
        }
        let _ = std::fs::remove_file(self.file(after, "hold"));
        let _ = std::fs::remove_file(self.file(after, "at"));
        assert!(
            certdrop_testkit::within(RUN_LIMIT, || !abort.exists()),
            "the gated command {} did not end",
            self.name
        );
    }
}

/// What a killed run did.
#[derive(Debug)]
pub struct Killed {
    /// It was killed (false: it ended first, and succeeded).
    pub killed: bool,
    /// What it printed before.
    pub output: String,
}

/// Sleep `d`, or less if `proc` ends first.
fn pause(proc: &mut Proc, d: Duration) {
    let end = Instant::now() + d;
    while proc.running() {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(POLL * 4));
    }
}

/// Wait until `cond` holds or `proc` ends (or the run limit passes).
fn until(proc: &mut Proc, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + RUN_LIMIT;
    while proc.running() && !cond() && Instant::now() < end {
        std::thread::sleep(POLL);
    }
}

/// Start `cmd` (output to `log`), SIGKILL it at `point` unless it ended
/// first (it must then have exited 0 or 2). `written` tells whether the
/// run's first write is visible; `gates` are the gated commands the run
/// calls.
pub fn kill_at(
    mut cmd: Command,
    log: &Path,
    point: &KillPoint,
    mut written: impl FnMut() -> bool,
    gates: &[&Gate],
) -> Killed {
    let gate = match point {
        KillPoint::Gate { gate, after } => {
            let g = gates
                .iter()
                .find(|g| g.name == *gate)
                .unwrap_or_else(|| panic!("no gate {gate}"));
            g.hold(*after);
            Some((*g, *after))
        }
        _ => None,
    };
    let mut proc = cmd.logged(log);
    match point {
        KillPoint::Delay(d) => pause(&mut proc, *d),
        KillPoint::AfterWrite(d) => {
            until(&mut proc, &mut written);
            pause(&mut proc, *d);
        }
        KillPoint::Gate { .. } => {
            let (g, after) = gate.expect("a gate");
            until(&mut proc, || g.reached(after));
        }
    }
    let killed = proc.running();
    if killed {
        proc.0.kill().expect("kill -9");
    }
    let status = proc.0.wait().expect("reap");
    if let Some((g, after)) = gate {
        g.release(after);
    }
    let output = std::fs::read_to_string(log).unwrap_or_default();
    if !killed {
        assert!(
            matches!(status.code(), Some(0 | 2)),
            "a run that was not killed: {status}\n{output}"
        );
    }
    Killed { killed, output }
}

/// A calibration run of `cmd` to the end (it must change something: exit
/// 0): how long it
/// took, and how long from its first write (as `written` sees it) to its
/// end.
pub fn calibrate(
    mut cmd: Command,
    log: &Path,
    mut written: impl FnMut() -> bool,
) -> (Duration, Duration) {
    let started = Instant::now();
    let mut proc = cmd.logged(log);
    until(&mut proc, &mut written);
    let first = Instant::now();
    until(&mut proc, || false);
    let ended = Instant::now();
    let status = proc.0.wait().expect("reap");
    let output = std::fs::read_to_string(log).unwrap_or_default();
    assert!(
        status.code() == Some(0),
        "calibration run: {status}\n{output}"
    );
    (ended - started, ended - first)
}

/// A command for the workspace's binary `name` with `args`, with the
/// environment's trust settings removed.
pub fn binary(name: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.args(args).env_remove("SSL_CERT_FILE");
    cmd
}

/// Run `cmd` to the end within the run limit.
pub fn finish(mut cmd: Command) -> Ran {
    cmd.ended_within(RUN_LIMIT)
}

/// Temporary files (`.tmp.*`, files or directories) anywhere under `dir`,
/// sorted.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in rd.filter_map(|e| e.ok()) {
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with(".tmp.") {
            found.push(p);
        } else if e.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(temp_files(&p));
        }
    }
    found.sort();
    found
}

/// `path` relative to `root`, with the parts that differ from run to run
/// (a process id, a counter, a stamp) replaced by `*`: the pattern of a
/// leftover, for the summary.
pub fn pattern(root: &Path, path: &Path) -> String {
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let mut out = String::new();
    let mut digits = false;
    for c in rel.chars() {
        if c.is_ascii_digit() || (digits && matches!(c, 'T' | 'Z' | '-')) {
            if !digits {
                out.push('*');
            }
            digits = true;
        } else {
            digits = false;
            out.push(c);
        }
    }
    out
}

/// How soon after the first write half of the kill points after it land:
/// among the writes that follow it at once, where a temporary file is
/// being written.
const RIGHT_AFTER: Duration = Duration::from_millis(3);

/// A kill point: a gate of `gates` (before or after its work), or a
/// delay from the start (up to 5/4 of a calibration run's time `took`),
/// or after the first write (up to `write_span`, the calibration run's
/// time from its first write to its end, or right after it).
pub fn draw(
    rng: &mut Rng,
    gates: &[&'static str],
    took: Duration,
    write_span: Duration,
) -> KillPoint {
    // Two delays from the start and two after the first write for each
    // gate point: the gates are single points, the delays cover the rest.
    let kinds = 4 + gates.len() * 2;
    match rng.below(kinds as u64) as usize {
        0 | 1 => KillPoint::Delay(rng.duration(took * 5 / 4)),
        2 => KillPoint::AfterWrite(rng.duration(write_span)),
        3 => KillPoint::AfterWrite(rng.duration(write_span.min(RIGHT_AFTER))),
        k => KillPoint::Gate {
            gate: gates[(k - 4) / 2],
            after: (k - 4) % 2 == 1,
        },
    }
}

/// Assert that no temporary file of ours is left (`left`, as found below
/// `root`): each is named by its pattern, with the round's `context`.
#[track_caller]
pub fn assert_no_temp_left(root: &Path, left: &[PathBuf], context: &str) {
    let left: Vec<String> = left.iter().map(|p| pattern(root, p)).collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "temporary files left\n{context}"
    );
}

/// A renewal of line `www` for `name` with `key`, as the issuer stores
/// it: a new leaf from `pki` written to `out`, stored with its chain and
/// public key. Returns the leaf (PEM).
pub fn store_renewal(
    pki: &certdrop_testkit::pki::Pki,
    store: &certdrop_core::store::Store,
    key: &Path,
    out: &Path,
    name: &str,
) -> Vec<u8> {
    pki.leaf(key, &[name], None, 30, out);
    let cert = std::fs::read(out).expect("leaf");
    let chain = std::fs::read(pki.int()).expect("int");
    let files = certdrop_core::store::CertFiles {
        fullchain: [cert.clone(), chain.clone()].concat(),
        cert: cert.clone(),
        chain,
        pubkey: certdrop_testkit::pki::public_key(key).into_bytes(),
    };
    store
        .publish("www", Some(&files), None, None)
        .expect("store");
    cert
}
