//! A real dovecot on loopback: IMAP, POP3 and ManageSieve listeners on
//! 127.0.0.1 with `ssl = required` (STARTTLS offered, plaintext logins
//! refused), and when asked an imaps listener (implicit TLS, 993's role),
//! in a directory of the test's tree (base_dir, state, log),
//! run in the foreground (`dovecot -F`) as a tracked child, stopped on
//! drop. Ready when every listener accepts a connection.
//!
//! Facts found running it (dovecot 2.3.19): the login processes refuse to
//! run as root ("This process must not be run as root"), so
//! `default_login_user` is Debian's `dovenull` and `default_internal_user`
//! `dovecot`; the certificate and key are read by the config process (as
//! root) with the `<file` syntax; a passdb and a userdb must exist even
//! though nobody logs in; two dovecots with different base_dirs coexist.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::run::Run;
use crate::wait::within;

/// How long dovecot may take to listen, and to stop.
const READY: Duration = Duration::from_secs(15);

/// The ports dovecot listens on (127.0.0.1), STARTTLS on each.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// IMAP (143's role).
    pub imap: u16,
    /// POP3 (110's role).
    pub pop3: u16,
    /// ManageSieve (4190's role).
    pub sieve: u16,
}

/// A running dovecot.
pub struct Dovecot {
    /// Its directory: dovecot.conf, run/ (base_dir), state/, dovecot.log.
    pub dir: PathBuf,
    /// Its ports.
    pub ports: Ports,
    /// Its imaps port (implicit TLS), if it has one.
    pub imaps: Option<u16>,
    child: Child,
}

impl Dovecot {
    /// dovecot in `dir` listening on `ports`, serving `cert` (the chain,
    /// leaf first) and `key`.
    pub fn start(dir: &Path, ports: Ports, cert: &Path, key: &Path) -> Dovecot {
        Dovecot::with(dir, ports, None, cert, key)
    }

    /// The same with an imaps listener (implicit TLS) on 127.0.0.1:`imaps`
    /// too.
    pub fn with_imaps(dir: &Path, ports: Ports, imaps: u16, cert: &Path, key: &Path) -> Dovecot {
        Dovecot::with(dir, ports, Some(imaps), cert, key)
    }

    fn with(dir: &Path, ports: Ports, imaps: Option<u16>, cert: &Path, key: &Path) -> Dovecot {
        write_conf(dir, ports, imaps, cert, key);
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .quiet();
        let mut dovecot = Dovecot {
            dir: dir.to_path_buf(),
            ports,
            imaps,
            child,
        };
        let mut exited = false;
        let up = within(READY, || {
            exited = dovecot.child.try_wait().ok().flatten().is_some();
            exited
                || [ports.imap, ports.pop3, ports.sieve]
                    .iter()
                    .chain(&imaps)
                    .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        assert!(up && !exited, "dovecot did not start: {}", dovecot.log());
        dovecot
    }

    /// The configuration file (`dovecot -c`, `doveadm -c` take it).
    pub fn conf(&self) -> PathBuf {
        self.dir.join("dovecot.conf")
    }

    /// The shell command that makes dovecot re-read its configuration
    /// and certificates (SIGHUP to the master).
    pub fn reload_command(&self) -> String {
        format!("doveadm -c {} reload", self.conf().display())
    }

    /// The master's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// dovecot's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // The master stops its children on SIGTERM.
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        let child = &mut self.child;
        within(READY, || child.try_wait().ok().flatten().is_some());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `dir/dovecot.conf` and make its directories.
fn write_conf(dir: &Path, ports: Ports, imaps: Option<u16>, cert: &Path, key: &Path) {
    for sub in ["run", "state", "home"] {
        std::fs::create_dir_all(dir.join(sub)).expect("dovecot dir");
    }
    // The login processes (dovenull) reach their sockets in run/.
    crate::unpriv::traversable(&dir.join("run"));
    let d = dir.display();
    let listener = |service: &str, name: &str, port: u16| {
        format!(
            "service {service} {{\n  inet_listener {name} {{\n    address = 127.0.0.1\n    \
             port = {port}\n  }}\n}}\n"
        )
    };
    // imaps: `ssl = yes` on the listener is implicit TLS; port 0 turns
    // the default 993 off (a test runs on high ports only).
    let imaps = match imaps {
        Some(port) => format!(
            "service imap-login {{\n  inet_listener imaps {{\n    address = 127.0.0.1\n    \
             port = {port}\n    ssl = yes\n  }}\n}}\n"
        ),
        None => "service imap-login {\n  inet_listener imaps {\n    port = 0\n  }\n}\n".into(),
    };
    let conf = format!(
        "base_dir = {d}/run\n\
         state_dir = {d}/state\n\
         log_path = {d}/dovecot.log\n\
         protocols = imap pop3 sieve\n\
         listen = 127.0.0.1\n\
         ssl = required\n\
         ssl_cert = <{}\n\
         ssl_key = <{}\n\
         ssl_dh = </usr/share/dovecot/dh.pem\n\
         default_internal_user = dovecot\n\
         default_login_user = dovenull\n\
         passdb {{\n  driver = static\n  args = nopassword=y\n}}\n\
         userdb {{\n  driver = static\n  args = uid=root gid=root home={d}/home\n}}\n\
         {}{}{}{imaps}\
         service pop3-login {{\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n",
        cert.display(),
        key.display(),
        listener("imap-login", "imap", ports.imap),
        listener("pop3-login", "pop3", ports.pop3),
        listener("managesieve-login", "sieve", ports.sieve),
    );
    std::fs::write(dir.join("dovecot.conf"), conf).expect("dovecot.conf");
}
