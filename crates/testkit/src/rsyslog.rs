//! A real rsyslogd in a directory of the test's tree, for the tests of
//! `--log syslog`: no system socket, no privileges, one input socket
//! (`DIR/log`, what `--syslog-socket` names) and one file where every
//! message it receives is written as one tab-separated line (facility,
//! severity, program name, pid, message), so a test asserts on what syslog
//! made of a datagram, not on the datagram. Killed and reaped on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::{wait_for, within};

/// How long rsyslogd may take to make its socket.
const READY: Duration = Duration::from_secs(10);
/// How long a message may take from the socket to the file (a batch is
/// written when rsyslogd's queue runs empty: at once on an idle machine).
pub const ARRIVE: Duration = Duration::from_secs(10);

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

    /// Every message written so far, in order.
    pub fn entries(&self) -> Vec<Entry> {
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
