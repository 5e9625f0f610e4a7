//! A real rsyslogd in a directory of the test's tree, for the tests of
//! `--log syslog`: no system socket, no privileges, one input socket
//! (`DIR/log`, what `--syslog-socket` names) and one file where every
//! message it receives is written as one tab-separated line (facility,
//! severity, program name, pid, message), so a test asserts on what syslog
//! made of a datagram, not on the datagram. rsyslogd writes behind the
//! senders' backs, so a test that asserts a line is absent first calls
//! [`Rsyslog::sync`]: a marker sent after the run, once in the file, says
//! every line the run sent is there too. Killed and reaped on drop.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::wait::{wait_for, within};

/// How long rsyslogd may take to make its socket.
const READY: Duration = Duration::from_secs(10);
/// How long a message may take from the socket to the file (a batch is
/// written when rsyslogd's queue runs empty: at once on an idle machine).
pub const ARRIVE: Duration = Duration::from_secs(10);

/// The tag of [`Rsyslog::sync`]'s markers, which `entries` leaves out.
const MARK_TAG: &str = "certdrop-testkit-mark";

/// One message as rsyslogd parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `daemon`, `local3`, ...
    pub facility: String,
    /// `err`, `warning`, `notice`, `info`, `debug`.
    pub severity: String,
    /// The tag without `[PID]:`.
    pub tag: String,
    /// The pid the sender put in `[PID]`.
    pub pid: String,
    /// The message text.
    pub msg: String,
}

/// A running rsyslogd.
pub struct Rsyslog {
    /// Its directory: rsyslog.conf, the socket, messages, its own stderr.
    pub dir: PathBuf,
    child: Option<Child>,
    /// Markers sent so far, each one's text unique.
    marks: AtomicU32,
}

impl Rsyslog {
    /// Start rsyslogd in the foreground in `dir` (created); ready when its
    /// socket exists.
    pub fn start(dir: &Path) -> Rsyslog {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let conf = dir.join("rsyslog.conf");
        // Tabs cannot be in a message (rsyslogd escapes control characters
        // as #011), so they separate the fields; %msg% keeps the space
        // after the tag's colon, which `entries` drops.
        let text = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imuxsock\" SysSock.Use=\"off\")\n\
             input(type=\"imuxsock\" Socket=\"{d}/log\" RateLimit.Interval=\"0\")\n\
             template(name=\"fields\" type=\"string\" \
             string=\"%syslogfacility-text%\\t%syslogseverity-text%\\t%programname%\\t%procid%\\t%msg%\\n\")\n\
             action(type=\"omfile\" file=\"{d}/messages\" template=\"fields\")\n",
            d = dir.display()
        );
        std::fs::write(&conf, text).unwrap_or_else(|e| panic!("{}: {e}", conf.display()));
        let stderr = std::fs::File::create(dir.join("rsyslogd.err")).expect("rsyslogd.err");
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("start rsyslogd (is rsyslog installed?): {e}"));
        let mut r = Rsyslog {
            dir: dir.to_path_buf(),
            child: Some(child),
            marks: AtomicU32::new(0),
        };
        let socket = r.socket();
        let up = within(READY, || socket.exists() || !r.running());
        assert!(
            up && socket.exists(),
            "rsyslogd made no socket at {}: {}",
            socket.display(),
            r.stderr()
        );
        r
    }

    /// The socket it reads (`--syslog-socket`).
    pub fn socket(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Every message written so far, in order (markers left out).
    pub fn entries(&self) -> Vec<Entry> {
        self.all_entries()
            .into_iter()
            .filter(|e| e.tag != MARK_TAG)
            .collect()
    }

    /// Wait until every datagram sent to the socket before this call is in
    /// the file: a marker is sent behind them and waited for (one socket
    /// is read in order, and one queue worker writes in that order). Call
    /// it after the program under test has exited (or said what it sent),
    /// before asserting that a line is not there.
    #[track_caller]
    pub fn sync(&self) {
        let n = self.marks.fetch_add(1, Ordering::Relaxed);
        let text = format!("mark {n}");
        let sender = UnixDatagram::unbound().expect("socket");
        sender
            .send_to(
                format!("<14>{MARK_TAG}[{}]: {text}", std::process::id()).as_bytes(),
                self.socket(),
            )
            .unwrap_or_else(|e| panic!("{}: send a marker: {e}", self.socket().display()));
        let seen = wait_for(ARRIVE, || {
            self.all_entries()
                .iter()
                .any(|e| e.tag == MARK_TAG && e.msg == text)
                .then_some(())
        });
        assert!(
            seen.is_some(),
            "marker '{text}' not in syslog within {ARRIVE:?}; it has:\n{}\nrsyslogd: {}",
            self.render(),
            self.stderr()
        );
    }

    /// Every message written so far, markers included.
    fn all_entries(&self) -> Vec<Entry> {
        let text = std::fs::read_to_string(self.dir.join("messages")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut f = l.splitn(5, '\t');
                let mut next = || f.next().map(str::to_owned);
                Some(Entry {
                    facility: next()?,
                    severity: next()?,
                    tag: next()?,
                    pid: next()?,
                    msg: next().map(|m| m.strip_prefix(' ').unwrap_or(&m).to_owned())?,
                })
            })
            .collect()
    }

    /// The first message `pred` accepts, waiting up to [`ARRIVE`] for it;
    /// panics showing every message if none comes.
    #[track_caller]
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Entry) -> bool) -> Entry {
        wait_for(ARRIVE, || self.entries().into_iter().find(|e| pred(e))).unwrap_or_else(|| {
            panic!(
                "no message {what} in syslog within {ARRIVE:?}; it has:\n{}\nrsyslogd: {}",
                self.render(),
                self.stderr()
            )
        })
    }

    /// The messages, one per line, for failure output.
    pub fn render(&self) -> String {
        self.entries()
            .iter()
            .map(|e| {
                format!(
                    "{}.{} {}[{}]: {}",
                    e.facility, e.severity, e.tag, e.pid, e.msg
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stop rsyslogd now (SIGKILL): its socket stays, nobody reads it (a
    /// syslogd that died under a running daemon).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("rsyslogd.err")).unwrap_or_default()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.kill();
    }
}
