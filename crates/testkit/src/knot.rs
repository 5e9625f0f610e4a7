//! A Knot DNS (knotd) on a loopback port, in a directory of the test's
//! tree, signing its zones itself (automatic DNSSEC signing under a
//! policy with test timings: TTLs of seconds, a propagation delay of one
//! second, so that a ZSK rollover runs its steps in a few seconds).
//! Started in the foreground as a tracked child (killed and reaped on
//! drop), dropping to its own user `knot` when the tests run as root and
//! that user exists (as in production), controlled with knotc over a unix
//! socket, ready when knotc says so. Reads zone files from `zonesdir/<zone>.zone`, the name
//! certdrop-zone installs. Independent checks of what it serves: `delv`
//! with the zone's KSK as trust anchor, and ldns-verify-zone on an AXFR.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::ports::free_port;
use crate::run::Run;
use crate::wait::{wait_for, within};

/// How long knotd may take to start, or to load and sign a zone.
const READY: Duration = Duration::from_secs(15);

/// The DNSSEC policy of the test Knot. Timings are seconds; a ZSK lives
/// forever unless `zsk_lifetime` says otherwise (tests that roll start
/// the rollover themselves with `knotc zone-key-rollover`, or set it).
#[derive(Debug, Clone)]
pub struct Policy {
    /// `zsk-lifetime` (0: none, Knot's "infinity").
    pub zsk_lifetime: u32,
    /// `nsec3: on` (RFC 9276 parameters: no iterations, no salt).
    pub nsec3: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            zsk_lifetime: 0,
            nsec3: true,
        }
    }
}

/// A running knotd that signs `zones`.
pub struct Knot {
    /// Where it answers (UDP and TCP, 127.0.0.1).
    pub addr: SocketAddr,
    /// Its knot.conf.
    pub conf: PathBuf,
    /// Its control socket (`knotc -s`).
    pub socket: PathBuf,
    /// Its directory: knot.conf, knot.log, the socket, keys and journal.
    pub dir: PathBuf,
    zonesdir: PathBuf,
    zones: Vec<String>,
    policy: Policy,
    user: Option<String>,
    child: Option<Child>,
}

/// The user knotd drops to: `knot`, when we are root and it exists.
fn daemon_user() -> Option<nix::unistd::User> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name("knot").ok().flatten()
}

impl Knot {
    /// Start knotd in `dir` for `zones`, reading zone files from
    /// `zonesdir` (both made if missing; a zone file may come later, from
    /// the first build); panics with knotd's log if it does not start.
    pub fn start(dir: &Path, zonesdir: &Path, zones: &[&str], policy: &Policy) -> Knot {
        std::fs::create_dir_all(dir).expect("knot dir");
        std::fs::create_dir_all(zonesdir).expect("zones dir");
        let user = daemon_user();
        if let Some(u) = &user {
            // Its directory is its own (keys, journal, socket); the zone
            // files it only reads, by name.
            nix::unistd::chown(dir, Some(u.uid), Some(u.gid)).expect("chown knot dir");
            crate::unpriv::traversable(dir);
            crate::unpriv::traversable(zonesdir);
        }
        let mut knot = Knot {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            conf: dir.join("knot.conf"),
            socket: dir.join("knot.sock"),
            dir: dir.to_path_buf(),
            zonesdir: zonesdir.to_path_buf(),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            policy: policy.clone(),
            user: user.map(|u| u.name),
            child: None,
        };
        // Another process can take a free port before knotd binds it:
        // try again on a fresh port (not a fixed one).
        for _attempt in 0..3 {
            knot.addr.set_port(free_port());
            if knot.try_start() {
                return knot;
            }
        }
        panic!("knotd did not start:\n{}{}", knot.log(), knot.conf_check());
    }

    /// Start knotd again after [`Knot::stop`], on the same port, with the
    /// same keys and journal (a signer that was down and came back).
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "knotd did not start again:\n{}{}",
            self.log(),
            self.conf_check()
        );
    }

    fn try_start(&mut self) -> bool {
        self.write_conf();
        let _ = std::fs::remove_file(&self.socket);
        self.child = Some(
            Command::new("knotd")
                .arg("-c")
                .arg(&self.conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .quiet(),
        );
        let mut exited = false;
        let up = within(READY, || {
            exited = self
                .child
                .as_mut()
                .is_some_and(|c| c.try_wait().ok().flatten().is_some());
            exited || self.knotc_ok(&["status"])
        });
        up && !exited
    }

    /// What `knotc conf-check` says of knot.conf (for a start that failed).
    fn conf_check(&self) -> String {
        let out = Command::new("knotc")
            .arg("-c")
            .arg(&self.conf)
            .arg("conf-check")
            .ran();
        format!("{}{}", out.stdout, out.stderr)
    }

    fn write_conf(&self) {
        let d = self.dir.display();
        let nsec3 = if self.policy.nsec3 {
            "    nsec3: on\n    nsec3-iterations: 0\n    nsec3-salt-length: 0\n"
        } else {
            ""
        };
        // zone-max-ttl and dnskey-ttl are what the rollover waits on (with
        // propagation-delay); the zone's own TTLs do not hold it up.
        // zonefile-load: difference with zonefile-sync -1 is Knot's
        // input-only zone file: never written back, signatures in the
        // journal, a new file taken when its serial is above Knot's (the
        // serial is certdrop's, so not difference-no-serial).
        let mut conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {addr}\n{user}\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             database:\n    storage: \"{d}\"\n\
             acl:\n  - id: local_transfer\n    address: 127.0.0.1\n    action: transfer\n\
             policy:\n  - id: test\n    algorithm: ecdsap256sha256\n    dnskey-ttl: 2\n    zone-max-ttl: 2\n\
             \x20   propagation-delay: 1\n    zsk-lifetime: {zsk}\n    ksk-lifetime: 0\n\
             \x20   rrsig-lifetime: 3600\n    rrsig-refresh: 600\n    rrsig-pre-refresh: 60\n{nsec3}\
             template:\n  - id: default\n    storage: \"{zones}\"\n    file: \"%s.zone\"\n\
             \x20   dnssec-signing: on\n    dnssec-policy: test\n    zonefile-sync: -1\n\
             \x20   zonefile-load: difference\n    journal-content: all\n    acl: local_transfer\n\
             zone:\n",
            addr = format_args!("{}@{}", self.addr.ip(), self.addr.port()),
            zsk = self.policy.zsk_lifetime,
            user = match &self.user {
                Some(u) => format!("    user: {u}\n"),
                None => String::new(),
            },
            zones = self.zonesdir.display(),
        );
        for z in &self.zones {
            conf.push_str(&format!("  - domain: {z}\n"));
        }
        std::fs::write(&self.conf, conf).expect("knot.conf");
    }

    /// `knotc -s SOCKET ARGS`, its output.
    pub fn knotc(&self, args: &[&str]) -> Output {
        Command::new("knotc")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("knotc (knot)")
    }

    /// Whether `knotc ARGS` succeeded (and said no error).
    pub fn knotc_ok(&self, args: &[&str]) -> bool {
        let out = self.knotc(args);
        out.status.success() && !String::from_utf8_lossy(&out.stdout).contains("error:")
    }

    /// The `[zone.knot]` table of zone.toml for this knotd.
    pub fn zone_table(&self) -> String {
        format!("[zone.knot]\ncontrol = \"{}\"\n", self.socket.display())
    }

    /// knotd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("knot.log")).unwrap_or_default()
    }

    /// Kill knotd now (a signer that is down); [`Knot::restart`] brings it back.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stop knotd without ending it (SIGSTOP): a signer that hangs, its
    /// sockets open and silent. [`Knot::resume`] continues it; drop ends
    /// it either way.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Continue a knotd [`Knot::pause`] stopped (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, sig: nix::sys::signal::Signal) {
        let child = self.child.as_ref().expect("knotd is running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
        nix::sys::signal::kill(pid, sig).expect("signal knotd");
    }

    /// The SOA serial knotd serves for `zone`.
    pub fn serial(&self, zone: &str) -> Option<u32> {
        self.dig(&["+short", "SOA", zone])
            .split_whitespace()
            .nth(2)?
            .parse()
            .ok()
    }

    /// Wait until knotd serves `zone` with a serial `want` or later (RFC
    /// 1982); the serial seen, or None if that did not happen in time.
    pub fn wait_serial(&self, zone: &str, want: u32) -> Option<u32> {
        wait_for(READY, || {
            self.serial(zone)
                .filter(|s| *s == want || s.wrapping_sub(want) < (1 << 31))
        })
    }

    /// `kdig @ADDR -p PORT ARGS`, its standard output.
    pub fn dig(&self, args: &[&str]) -> String {
        let out = Command::new("kdig")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string(), "+time=2", "+retry=1"])
            .args(args)
            .ran();
        out.stdout
    }

    /// The zone's KSK DNSKEY records (flags 257) as served, in the
    /// `trust-anchors` clause delv reads.
    pub fn anchors(&self, zone: &str) -> String {
        let text = self.dig(&["+short", "DNSKEY", zone]);
        let mut clause = String::from("trust-anchors {\n");
        for line in text.lines().filter(|l| l.starts_with("257 ")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert!(f.len() >= 4, "DNSKEY {line}");
            clause.push_str(&format!(
                "  {zone}. static-key {} {} {} \"{}\";\n",
                f[0],
                f[1],
                f[2],
                f[3..].concat()
            ));
        }
        clause.push_str("};\n");
        assert!(clause.contains("static-key"), "no KSK served: {text}");
        clause
    }

    /// Validate what knotd serves now for `zone`: `delv` from the trust
    /// anchor `anchor_file` (the KSK) must say "fully validated" for the
    /// SOA, and an AXFR of the whole zone must pass ldns-verify-zone. The
    /// serial validated, or what failed.
    pub fn validate(&self, zone: &str, anchor_file: &Path) -> Result<u32, String> {
        let out = Command::new("delv")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string()])
            .arg("-a")
            .arg(anchor_file)
            .arg(format!("+root={zone}"))
            .args(["+nocrypto", "SOA", zone])
            .ran();
        if !out.stdout.contains("; fully validated") {
            return Err(format!("delv: {}{}", out.stdout, out.stderr));
        }
        let serial: u32 = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some("SOA"))
            .and_then(|l| l.split_whitespace().nth(6)?.parse().ok())
            .ok_or_else(|| format!("delv printed no SOA: {}", out.stdout))?;
        // Validations may run from several threads at once.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let axfr = self.dir.join(format!("{zone}.axfr-{n}"));
        let text = Command::new("drill")
            .args(["-t", "-p", &self.addr.port().to_string()])
            .arg(format!("@{}", self.addr.ip()))
            .args(["AXFR", zone])
            .ran()
            .stdout;
        std::fs::write(&axfr, &text).expect("axfr file");
        let verified = Command::new("ldns-verify-zone").arg(&axfr).ran();
        let _ = std::fs::remove_file(&axfr);
        if verified.code != 0 {
            return Err(format!(
                "ldns-verify-zone on AXFR: {}{}",
                verified.stdout, verified.stderr
            ));
        }
        Ok(serial)
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        self.stop();
    }
}
