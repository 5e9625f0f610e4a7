//! The syslog sink of the output module: one RFC 3164-style datagram per
//! line, `<PRI>TAG[PID]: MSG`, to the local syslogd's Unix datagram socket
//! (rsyslog and FreeBSD syslogd stamp the time and host themselves, so the
//! datagram carries neither). Written here rather than taken from a crate:
//! the whole protocol is one `format!` and one `send`, and the part that
//! matters to a daemon (a failed send is said, the line kept on
//! stdout/stderr, syslog left alone for a while) lives in the output
//! module, which only needs this to say, quickly, whether a line went out.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The local syslogd's socket: `/var/run/log` on FreeBSD, NetBSD and
/// DragonFly (syslogd(8) `-l` adds one inside a jail), `/var/run/syslog`
/// on macOS, `/dev/log` elsewhere (Linux, OpenBSD).
#[cfg(any(target_os = "freebsd", target_os = "netbsd", target_os = "dragonfly"))]
pub const DEFAULT_SOCKET: &str = "/var/run/log";
/// The local syslogd's socket (see the FreeBSD variant).
#[cfg(target_os = "macos")]
pub const DEFAULT_SOCKET: &str = "/var/run/syslog";
/// The local syslogd's socket (see the FreeBSD variant).
#[cfg(not(any(
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "dragonfly",
    target_os = "macos"
)))]
pub const DEFAULT_SOCKET: &str = "/dev/log";

/// The facility when none is named: certdrop's binaries are system daemons
/// and the cron jobs that feed them.
pub const DEFAULT_FACILITY: &str = "daemon";

/// The largest datagram sent, header included. FreeBSD refuses local
/// datagrams above `net.local.dgram.maxdgram` (2048 before 14.0) and
/// rsyslog cuts at its `maxMessageSize` (8k); a longer line is cut at a
/// character boundary below this.
pub const MAX_DATAGRAM: usize = 2048;

/// The longest tag: RFC 3164 §4.1.3 allows 32 characters.
pub const MAX_TAG: usize = 32;

/// How long one send may wait for room in syslogd's receive buffer before
/// the line is given up (and kept on stdout/stderr). A syslogd under load
/// empties its buffer in milliseconds: rsyslog's imuxsock reads into a
/// queue of 100,000 messages, FreeBSD's syslogd reads one datagram per
/// select(2) wakeup. A buffer still full after this is a syslogd that has
/// stopped reading, and a build must not wait on it line after line (the
/// output module then skips syslog for a while, `RETRY_AFTER` there).
pub const SEND_WAIT: Duration = Duration::from_millis(100);

/// Severities used by certdrop (RFC 5424 §6.2.1, the same numbers as
/// RFC 3164 §4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A failure (`error`).
    Err = 3,
    /// Something to know although nothing failed (`warn`).
    Warning = 4,
    /// One line per change (`action`).
    Notice = 5,
    /// `-v` narration.
    Info = 6,
    /// `-vv` detail.
    Debug = 7,
}

/// The facility names syslog.conf(5) knows on both Linux and FreeBSD, with
/// their codes (RFC 5424 §6.2.1). `kern` is left out: only the kernel logs
/// there.
const FACILITIES: &[(&str, u8)] = &[
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

/// A syslog facility, parsed from its syslog.conf(5) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(u8);

impl Facility {
    /// The facility called `name` (`daemon`, `local3`, ...), or a one-line
    /// reason listing the names known.
    pub fn parse(name: &str) -> Result<Facility, String> {
        FACILITIES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, code)| Facility(code))
            .ok_or_else(|| {
                let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                format!(
                    "--syslog-facility: unknown facility '{name}' (one of: {})",
                    names.join(", ")
                )
            })
    }

    /// The facility's code (`daemon` is 3).
    pub fn code(self) -> u8 {
        self.0
    }
}

/// Check a tag: 1 to [`MAX_TAG`] characters from `[A-Za-z0-9._-]`, so that
/// a receiver cannot mistake part of it for the `[PID]:` that follows
/// (rsyslog's program name also ends at a `/`).
pub fn check_tag(tag: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if tag.is_empty() || tag.len() > MAX_TAG || !tag.chars().all(ok) {
        return Err(format!(
            "--syslog-tag: '{tag}' is not a tag (1 to {MAX_TAG} of A-Z a-z 0-9 . _ -)"
        ));
    }
    Ok(())
}

/// One datagram: `<PRI>TAG[PID]: MSG`, cut to [`MAX_DATAGRAM`] bytes at a
/// character boundary (a cut line ends in `...`).
pub fn datagram(facility: Facility, severity: Severity, tag: &str, pid: u32, msg: &str) -> String {
    let pri = u16::from(facility.code()) * 8 + severity as u16;
    let mut d = format!("<{pri}>{tag}[{pid}]: {msg}");
    if d.len() > MAX_DATAGRAM {
        let mut end = MAX_DATAGRAM - 3;
        while !d.is_char_boundary(end) {
            end -= 1;
        }
        d.truncate(end);
        d.push_str("...");
    }
    d
}

/// A connection to the local syslogd.
#[derive(Debug)]
pub struct Syslog {
    path: PathBuf,
    facility: Facility,
    tag: String,
    pid: u32,
    socket: Mutex<UnixDatagram>,
}

impl Syslog {
    /// Connect to the socket at `path`; an error means no syslogd listens
    /// there (missing socket, refused, not a socket).
    pub fn connect(path: &Path, facility: Facility, tag: &str) -> io::Result<Syslog> {
        Ok(Syslog {
            path: path.to_path_buf(),
            facility,
            tag: tag.to_string(),
            pid: std::process::id(),
            socket: Mutex::new(open(path)?),
        })
    }

    /// The socket's path, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Send one line, waiting at most about [`SEND_WAIT`] for room. A
    /// syslogd restarted since the last send has a new socket: connect
    /// again once and resend. A full buffer is not a restart (as FreeBSD's
    /// syslog(3) reasons): that error is returned at once, without a
    /// reconnect that would only wait on the same buffer again.
    pub fn send(&self, severity: Severity, line: &str) -> io::Result<()> {
        let d = datagram(self.facility, severity, &self.tag, self.pid, line);
        // A poisoned lock only means another thread panicked mid-send; the
        // socket itself is still whole.
        let mut socket = self.socket.lock().unwrap_or_else(|p| p.into_inner());
        match send_within(&socket, d.as_bytes()) {
            Err(e) if !is_full(&e) => {
                *socket = open(&self.path)?;
                send_within(&socket, d.as_bytes())
            }
            sent => sent,
        }
    }
}

/// Whether `e` says the receiver's buffer is full: Linux blocks the send
/// and, after the send timeout, says `EAGAIN`; FreeBSD says `ENOBUFS` at
/// once.
fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    ) || e.raw_os_error() == Some(nix::libc::ENOBUFS)
}

/// Send `d`; an `ENOBUFS` (FreeBSD does not block on a full local
/// datagram socket) is tried again every millisecond up to [`SEND_WAIT`],
/// so that both systems give a busy syslogd the same short while.
fn send_within(socket: &UnixDatagram, d: &[u8]) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match socket.send(d) {
            Ok(_) => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(nix::libc::ENOBUFS) && start.elapsed() < SEND_WAIT =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// An unbound datagram socket connected to `path`; a send blocks at most
/// [`SEND_WAIT`] on a full buffer.
fn open(path: &Path) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    s.set_write_timeout(Some(SEND_WAIT))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_is_facility_times_eight_plus_severity() {
        let local3 = Facility::parse("local3").expect("local3");
        let d = datagram(local3, Severity::Err, "certdrop-zone", 42, "x: y: z");
        assert_eq!(d, "<155>certdrop-zone[42]: x: y: z");
        let daemon = Facility::parse("DAEMON").expect("daemon");
        assert!(datagram(daemon, Severity::Notice, "t", 1, "m").starts_with("<29>t[1]"));
    }

    #[test]
    fn unknown_facilities_and_bad_tags_are_refused() {
        let e = Facility::parse("kern").expect_err("kern");
        assert!(e.contains("unknown facility 'kern' (one of: user,"), "{e}");
        assert!(!e.contains('\n'));
        for bad in ["", "a b", "x:", "x[1]", "a/b", &"t".repeat(33), "é"] {
            assert!(check_tag(bad).is_err(), "{bad:?}");
        }
        check_tag("certdrop-zone").expect("the program name");
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let f = Facility::parse("user").expect("user");
        for pad in 0..4 {
            let msg = "x".repeat(pad) + &"é".repeat(MAX_DATAGRAM);
            let d = datagram(f, Severity::Info, "t", 7, &msg);
            assert!(d.len() <= MAX_DATAGRAM, "{}", d.len());
            assert!(d.len() >= MAX_DATAGRAM - 4, "{}", d.len());
            assert!(d.ends_with("é..."), "{pad}");
        }
        let short = datagram(f, Severity::Info, "t", 7, "short");
        assert_eq!(short, "<14>t[7]: short");
    }

    #[test]
    fn a_send_reconnects_to_a_new_socket_and_fails_without_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let first = UnixDatagram::bind(&path).expect("bind");
        let f = Facility::parse("local0").expect("local0");
        let log = Syslog::connect(&path, f, "t").expect("connect");
        log.send(Severity::Notice, "one").expect("send");
        let mut buf = [0u8; 64];
        let n = first.recv(&mut buf).expect("recv");
        assert!(buf[..n].ends_with(b"]: one"));
        // A restarted syslogd: the old socket gone, a new one at the path.
        drop(first);
        std::fs::remove_file(&path).expect("remove");
        let second = UnixDatagram::bind(&path).expect("bind again");
        log.send(Severity::Notice, "two")
            .expect("send after restart");
        let n = second.recv(&mut buf).expect("recv");
        assert!(buf[..n].ends_with(b"]: two"));
        // No syslogd at all: the caller learns it.
        drop(second);
        std::fs::remove_file(&path).expect("remove");
        assert!(log.send(Severity::Err, "three").is_err());
        assert!(Syslog::connect(&path, f, "t").is_err());
    }

    #[test]
    fn a_full_buffer_fails_the_send_quickly_and_a_drained_one_takes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("log");
        let syslogd = UnixDatagram::bind(&path).expect("bind");
        let f = Facility::parse("daemon").expect("daemon");
        let log = Syslog::connect(&path, f, "t").expect("connect");
        // A syslogd that stopped reading: its buffer filled by another
        // sender, which does not wait.
        let filler = UnixDatagram::unbound().expect("socket");
        filler.connect(&path).expect("connect filler");
        filler.set_nonblocking(true).expect("nonblocking");
        while filler.send(b"<14>filler[1]: x").is_ok() {}
        let start = Instant::now();
        let e = log.send(Severity::Notice, "lost").expect_err("full");
        assert!(is_full(&e), "{e}");
        // SEND_WAIT (and no second wait on a reconnected socket), with
        // room for a busy machine.
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        let mut buf = [0u8; 64];
        syslogd.recv(&mut buf).expect("recv");
        log.send(Severity::Notice, "taken").expect("room again");
    }
}
