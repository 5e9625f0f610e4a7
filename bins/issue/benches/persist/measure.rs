//! One measured renewal: `certdrop-issue -c issue.toml -v issue LINE
//! --force` spawned inside the namespace; wall clock from spawn to exit,
//! user and system CPU of the reaped process (getrusage of children,
//! before and after: nothing else of ours exits meanwhile), the files
//! created or renamed into dnsextra/ (inotify, so even a fragment that
//! lives a few milliseconds counts), the -v lines stamped on arrival,
//! and whether certs/LINE/cert.pem changed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::resource::{getrusage, UsageWho};
use serde::Serialize;

use crate::fixture::Fixture;

/// Pause after the zone is at rest before the next run: certdrop-zone
/// builds a completion marker no sooner than 200 ms after its previous
/// build ended, so a dns-01 run right after a clean-up rebuild would wait
/// for that instead of for its own record. `--rest-ms` changes it.
pub const REST: Duration = Duration::from_millis(500);

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Line `persist`: dns-persist-01, the record served, answered by us.
    Persist,
    /// Line `dns01` (`persist = false`), same name, same account:
    /// dns-01 through dnsextra/.
    Dns01,
    /// Line `jit` on the second acme2certifier (just-in-time validation).
    Jit,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Persist => "persist",
            Kind::Dns01 => "dns01",
            Kind::Jit => "jit",
        }
    }
}

/// One renewal.
#[derive(Debug, Serialize)]
pub struct Sample {
    pub kind: Kind,
    /// 0 is the unmeasured warm-up.
    pub rep: usize,
    /// Seconds, spawn to exit.
    pub wall: f64,
    pub user: f64,
    pub sys: f64,
    pub code: i32,
    /// certs/LINE/cert.pem differs from before the run.
    pub changed: bool,
    /// Names created or moved into dnsextra/ while it ran.
    pub files: Vec<String>,
    /// The -v lines: seconds since spawn, text.
    pub lines: Vec<(f64, String)>,
    #[serde(skip)]
    pub stderr: String,
}

impl Sample {
    /// Exit 0, a new certificate, and over the challenge its row is
    /// about (the -v line that says so).
    pub fn ok(&self) -> bool {
        let over = match self.kind {
            Kind::Persist => "challenge dns-persist-01: TXT",
            Kind::Dns01 => "TXT _acme-challenge.www.example.test. written",
            Kind::Jit => "already authorized",
        };
        self.code == 0 && self.changed && self.at(over).is_some()
    }

    /// Seconds since spawn of the first line containing `what`.
    pub fn at(&self, what: &str) -> Option<f64> {
        self.lines
            .iter()
            .find(|(_, l)| l.contains(what))
            .map(|(t, _)| *t)
    }
}

/// Renew `kind`'s line once, inside the fixture's namespace.
pub fn renew(fx: &Fixture, kind: Kind, rep: usize) -> Sample {
    let line = kind.label();
    let cert = fx.dir.path(&format!("certs/{line}/cert.pem"));
    let before = std::fs::read(&cert).unwrap_or_default();
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).expect("inotify");
    inotify
        .add_watch(
            &fx.dir.path("dnsextra"),
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO,
        )
        .expect("watch dnsextra/");
    let config = fx.dir.path("issue.toml");
    let (wall, code, lines, ru0, ru1) = fx.a2c.enter(|| {
        let ru0 = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
        let t0 = Instant::now();
        let mut child = Command::new(&fx.issue)
            .arg("-c")
            .arg(&config)
            .args(["-v", "issue", line, "--force"])
            .env_remove("SSL_CERT_FILE")
            .env_remove("CERTDROP_ISSUE_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn certdrop-issue");
        let err = child.stderr.take().expect("stderr pipe");
        let reader = std::thread::spawn(move || {
            BufReader::new(err)
                .lines()
                .map_while(Result::ok)
                .map(|l| (t0.elapsed().as_secs_f64(), l))
                .collect::<Vec<_>>()
        });
        let status = child.wait().expect("wait");
        let wall = t0.elapsed().as_secs_f64();
        let ru1 = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
        let lines = reader.join().expect("stderr reader");
        (wall, status.code().unwrap_or(-1), lines, ru0, ru1)
    });
    let mut files: Vec<String> = Vec::new();
    loop {
        match inotify.read_events() {
            Ok(events) => files.extend(
                events
                    .into_iter()
                    .filter_map(|e| e.name.map(|n| n.to_string_lossy().into_owned())),
            ),
            Err(nix::errno::Errno::EAGAIN) => break,
            Err(e) => panic!("dnsextra/: inotify: {e}"),
        }
    }
    files.sort();
    files.dedup();
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    let after = std::fs::read(&cert).unwrap_or_default();
    let stderr = lines.iter().map(|(t, l)| format!("{t:.3} {l}\n")).collect();
    Sample {
        kind,
        rep,
        wall,
        user: secs(ru1.user_time()) - secs(ru0.user_time()),
        sys: secs(ru1.system_time()) - secs(ru0.system_time()),
        code,
        changed: !after.is_empty() && after != before,
        files,
        lines,
        stderr,
    }
}
