//! A real postfix on loopback: one master (`postfix -c DIR start-fg`)
//! with its own configuration, queue and log in a directory of the test's
//! tree, and one smtpd per [`Smtpd`] listener on 127.0.0.1, each with its
//! STARTTLS policy. Ready when every listener accepts a connection;
//! stopped on drop (SIGTERM to the master by its pid file, which stops its
//! smtpd processes). Needs root: the master starts as root and its
//! daemons run as the `postfix` user (Debian's package makes it).
//!
//! Facts found running it (postfix 3.7): `maillog_file` must lie under
//! `maillog_file_prefixes`; the data directory must belong to `postfix`
//! (the master's lock file is made there); smtpd needs the `proxymap`,
//! `anvil`, `tlsmgr`, `rewrite` and `cleanup` services in master.cf even
//! to say EHLO; the `postfix` command reports configuration errors only
//! on a terminal or in the log, so a failed start shows `maillog`;
//! postfix waits while main.cf is younger than a second, so the files are
//! backdated; `postfix check` takes seconds, so the queue is made here.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, SystemTime};

use nix::sys::signal::{kill, Signal};
use nix::unistd::{chown, Gid, Group, Pid, User};

use crate::run::Run;
use crate::wait::within;

/// The queue directories owned by `postfix`, mode 0700.
const QUEUES: [&str; 11] = [
    "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private",
    "saved", "trace",
];

/// How long postfix may take to listen.
const READY: Duration = Duration::from_secs(15);

/// An smtpd listener's STARTTLS policy (`smtpd_tls_security_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// `may`: STARTTLS offered (an MX on port 25).
    May,
    /// `encrypt`: STARTTLS offered and required (submission on 587).
    Encrypt,
    /// `none`: no STARTTLS.
    None,
}

/// One smtpd listener on 127.0.0.1.
#[derive(Clone, Copy, Debug)]
pub struct Smtpd {
    /// Its port.
    pub port: u16,
    /// Its STARTTLS policy.
    pub tls: Tls,
}

/// A running postfix.
pub struct Postfix {
    /// Its directory: conf/ (main.cf, master.cf), queue/, data/, maillog.
    pub dir: PathBuf,
    /// The first listener's port.
    pub port: u16,
    child: Child,
}

impl Postfix {
    /// postfix in `dir` with one smtpd on 127.0.0.1:`port` offering
    /// STARTTLS with `cert` (the chain, leaf first) and `key`.
    pub fn start(dir: &Path, port: u16, cert: &Path, key: &Path) -> Postfix {
        Postfix::with(
            dir,
            &[Smtpd {
                port,
                tls: Tls::May,
            }],
            cert,
            key,
        )
    }

    /// postfix in `dir` with the `listeners` given, all serving `cert` and `key`.
    pub fn with(dir: &Path, listeners: &[Smtpd], cert: &Path, key: &Path) -> Postfix {
        write_conf(dir, listeners, cert, key);
        let child = Command::new("postfix")
            .arg("-c")
            .arg(dir.join("conf"))
            .arg("start-fg")
            .quiet();
        let mut postfix = Postfix {
            dir: dir.to_path_buf(),
            port: listeners[0].port,
            child,
        };
        let mut exited = false;
        let up = within(READY, || {
            exited = postfix.child.try_wait().ok().flatten().is_some();
            exited
                || listeners
                    .iter()
                    .all(|l| TcpStream::connect(("127.0.0.1", l.port)).is_ok())
        });
        assert!(up && !exited, "postfix did not start: {}", postfix.log());
        postfix
    }

    /// The first listener's address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The configuration directory (`postfix -c` takes it).
    pub fn conf_dir(&self) -> PathBuf {
        self.dir.join("conf")
    }

    /// The shell command that makes postfix re-read its configuration
    /// (its smtpd processes finish their sessions and new ones start).
    pub fn reload_command(&self) -> String {
        format!("postfix -c {} reload", self.conf_dir().display())
    }

    /// postfix's log so far (`maillog_file`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    /// The master's pid, from its pid file.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("queue/pid/master.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // The master stops its daemons, then postfix-script (our child) ends.
        if let Some(pid) = self.pid() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        let child = &mut self.child;
        within(READY, || child.try_wait().ok().flatten().is_some());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `dir/conf/{main,master}.cf` and make the queue and data
/// directories (data owned by `postfix`).
fn write_conf(dir: &Path, listeners: &[Smtpd], cert: &Path, key: &Path) {
    std::fs::create_dir_all(dir.join("conf")).expect("postfix dir");
    let user = User::from_name("postfix")
        .expect("getpwnam")
        .expect("a postfix user (is postfix installed?)");
    let postdrop = Group::from_name("postdrop")
        .expect("getgrnam")
        .expect("a postdrop group (is postfix installed?)");
    let own = |rel: &str, mode: u32, group: Gid| {
        let p = dir.join(rel);
        std::fs::create_dir_all(&p).expect("postfix dir");
        chown(&p, Some(user.uid), Some(group)).expect("chown");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    own("data", 0o700, user.gid);
    // The queue as `postfix check` makes it (owners and modes of postfix's
    // postfix-files), and quick-start to skip that check: it runs postconf
    // some twenty times, three seconds on a busy machine.
    for q in QUEUES {
        own(&format!("queue/{q}"), 0o700, Gid::from_raw(0));
    }
    own("queue/maildrop", 0o730, postdrop.gid);
    own("queue/public", 0o710, postdrop.gid);
    std::fs::create_dir_all(dir.join("queue/pid")).expect("pid dir");
    std::fs::write(dir.join("queue/quick-start"), "").expect("quick-start");
    // The daemons, as postfix, must reach their queue through our tree.
    crate::unpriv::traversable(dir);
    let d = dir.display();
    let main = format!(
        "compatibility_level = 3.6\n\
         queue_directory = {d}/queue\n\
         data_directory = {d}/data\n\
         maillog_file_prefixes = {d}\n\
         maillog_file = {d}/maillog\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         myhostname = mx.example.test\n\
         mydestination =\n\
         local_recipient_maps =\n\
         alias_maps =\n\
         alias_database =\n\
         smtpd_tls_cert_file = {}\n\
         smtpd_tls_key_file = {}\n",
        cert.display(),
        key.display()
    );
    let mut master: String = listeners
        .iter()
        .map(|l| {
            let level = match l.tls {
                Tls::May => "may",
                Tls::Encrypt => "encrypt",
                Tls::None => "none",
            };
            format!(
                "127.0.0.1:{} inet n - n - - smtpd -o smtpd_tls_security_level={level}\n",
                l.port
            )
        })
        .collect();
    master.push_str(
        "proxymap unix - - n - - proxymap\n\
         anvil unix - - n - 1 anvil\n\
         tlsmgr unix - - n 1000? 1 tlsmgr\n\
         rewrite unix - - n - - trivial-rewrite\n\
         cleanup unix n - n - 0 cleanup\n\
         postlog unix-dgram n - n - 1 postlogd\n",
    );
    for (name, text) in [("main.cf", main), ("master.cf", master)] {
        let file = dir.join("conf").join(name);
        std::fs::write(&file, text).expect("postfix conf");
        // postfix re-reads a configuration file younger than a second
        // until it is not (in case it is still being written): 2.4 s.
        let past = SystemTime::now() - Duration::from_secs(10);
        File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(past))
            .expect("backdate conf");
    }
}
