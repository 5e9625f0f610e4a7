//! An nsd on a loopback port, in a directory of the test's tree: started
//! in the foreground as a tracked child (killed and reaped on drop),
//! controlled over a local socket with nsd-control, ready when nsd-control
//! says so; and `drill` to ask it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::run::Run;
use crate::wait::{wait_for, within};

/// How long nsd may take to start, or to serve a reloaded zone.
const READY: Duration = Duration::from_secs(10);

/// The zone file of `example.test` that the DNS client's and the
/// issuer's propagation tests ask: its name server on loopback, two dns-01
/// values at `_acme-challenge.www` (apex and wildcard), then `extra`
/// records (master-file lines relative to the origin).
pub fn challenge_zone(extra: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 60\n\
         @ IN SOA ns1.example.test. hostmaster.example.test. (1 3600 600 86400 60)\n\
         @ IN NS ns1.example.test.\n\
         ns1 IN A 127.0.0.1\n\
         ns1 IN AAAA ::1\n\
         _acme-challenge.www IN TXT \"v1\"\n\
         _acme-challenge.www IN TXT \"v2\"\n\
         {extra}"
    )
}

/// What a test adds to the nsd.conf [`Nsd::start_with`] writes: a fixed
/// port (when the other end's configuration must name it before this nsd
/// starts), top-level text (an `include:` of a TSIG key) and text inside
/// every `zone:` clause (`notify:`/`provide-xfr:` on a primary,
/// `allow-notify:`/`request-xfr:` on a secondary).
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// Listen here instead of a fresh free port (one attempt only).
    pub port: Option<u16>,
    /// Top-level clauses, after `remote-control:`.
    pub top: String,
    /// Lines inside each `zone:` clause (indented by the caller).
    pub zone: String,
}

/// A running nsd serving zones from `zonesdir/<zone>.zone`.
pub struct Nsd {
    /// Where it answers (UDP and TCP, 127.0.0.1).
    pub addr: SocketAddr,
    /// Its nsd.conf (also nsd-control's).
    pub conf: PathBuf,
    /// Its directory: nsd.conf, nsd.log, the control socket.
    pub dir: PathBuf,
    child: Child,
}

impl Nsd {
    /// Start nsd in `dir` for `zones`, reading zone files from `zonesdir`
    /// (both made if missing); panics with nsd's log if it does not start.
    pub fn start(dir: &Path, zonesdir: &Path, zones: &[&str]) -> Nsd {
        Nsd::start_with(dir, zonesdir, zones, &Extra::default())
    }

    /// [`Nsd::start`] with `extra` in its nsd.conf (a primary that
    /// notifies and provides transfers, a secondary that requests them; a
    /// secondary's zone file need not exist: nsd transfers it).
    pub fn start_with(dir: &Path, zonesdir: &Path, zones: &[&str], extra: &Extra) -> Nsd {
        std::fs::create_dir_all(dir).expect("nsd dir");
        std::fs::create_dir_all(zonesdir).expect("zones dir");
        // Another process can take a free port before nsd binds it: nsd
        // then exits, and we try again on a fresh port (not a fixed one).
        let attempts = if extra.port.is_some() { 1 } else { 3 };
        for _attempt in 0..attempts {
            if let Some(nsd) = Nsd::try_start(dir, zonesdir, zones, extra) {
                return nsd;
            }
        }
        panic!("nsd did not start:\n{}", log(dir));
    }

    fn try_start(dir: &Path, zonesdir: &Path, zones: &[&str], extra: &Extra) -> Option<Nsd> {
        let port = extra.port.unwrap_or_else(free_port);
        let d = dir.display();
        // rrl-ratelimit 0: tests ask many questions quickly, and response
        // rate limiting would drop some of them.
        let mut conf = format!(
            "server:\n  port: {port}\n  ip-address: 127.0.0.1\n  username: \"\"\n  database: \"\"\n  zonesdir: \"{}\"\n  \
             pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             logfile: \"{d}/nsd.log\"\n  verbosity: 1\n  rrl-ratelimit: 0\n\
             remote-control:\n  control-enable: yes\n  control-interface: \"{d}/nsd.sock\"\n",
            zonesdir.display()
        );
        conf.push_str(&extra.top);
        for z in zones {
            conf.push_str(&format!(
                "zone:\n  name: {z}\n  zonefile: \"{z}.zone\"\n{}",
                extra.zone
            ));
        }
        let conf_path = dir.join("nsd.conf");
        std::fs::write(&conf_path, conf).expect("nsd.conf");
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .quiet();
        let mut nsd = Nsd {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            conf: conf_path,
            dir: dir.to_path_buf(),
            child,
        };
        let mut exited = false;
        let up = within(READY, || {
            exited = nsd.child.try_wait().ok().flatten().is_some();
            exited || nsd.control(&["status"])
        });
        (up && !exited).then_some(nsd)
    }

    /// `nsd-control -c nsd.conf ARGS`: whether it succeeded.
    pub fn control(&self, args: &[&str]) -> bool {
        Command::new("nsd-control")
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// The reload command for zone.toml (a TOML array).
    pub fn reload_command(&self) -> String {
        format!(
            "[\"nsd-control\", \"-c\", \"{}\", \"reload\", \"{{zone}}\"]",
            self.conf.display()
        )
    }

    /// nsd's log so far.
    pub fn log(&self) -> String {
        log(&self.dir)
    }

    /// Kill nsd now (for tests of what happens when it is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Answer records (owner lower-cased, type, rdata) for `name`/`rtype`,
    /// with DNSSEC records when `dnssec`, as `drill` prints them.
    pub fn ask(&self, rtype: &str, name: &str, dnssec: bool) -> Vec<(String, String, String)> {
        let mut cmd = Command::new("drill");
        if dnssec {
            cmd.arg("-D");
        }
        let out = cmd
            .args([
                "-p",
                &self.addr.port().to_string(),
                &format!("@{}", self.addr.ip()),
                rtype,
                name,
            ])
            .output()
            .expect("drill (ldnsutils)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows = Vec::new();
        let mut in_answer = false;
        for line in text.lines() {
            if line.starts_with(";; ANSWER SECTION") {
                in_answer = true;
                continue;
            }
            if line.starts_with(";;") && in_answer && !line.starts_with(";; ANSWER") {
                in_answer = false;
            }
            if in_answer && !line.trim().is_empty() && !line.starts_with(';') {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 5 {
                    rows.push((f[0].to_ascii_lowercase(), f[3].to_owned(), f[4..].join(" ")));
                }
            }
        }
        rows
    }

    /// The serial nsd serves for `zone`.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        self.ask("SOA", zone, false)
            .into_iter()
            .find(|(_, t, _)| t == "SOA")
            .and_then(|(_, _, rdata)| rdata.split_whitespace().nth(2)?.parse().ok())
    }

    /// Wait until nsd serves serial `want` for `zone` (a secondary after
    /// NOTIFY and a transfer); whether it did in time.
    pub fn wait_serial(&self, zone: &str, want: u32) -> bool {
        within(READY, || self.serial(zone) == Some(want))
    }

    /// Wait until nsd serves `zone` with a serial other than `old`: the new
    /// serial, or None if that did not happen in time.
    pub fn wait_serial_change(&self, zone: &str, old: Option<u32>) -> Option<u32> {
        wait_for(READY, || self.serial(zone).filter(|s| Some(*s) != old))
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
}
