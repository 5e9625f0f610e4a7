//! Network namespaces a test creates and removes itself, for tests of
//! several sites on one machine: a hub namespace holding a bridge, and one
//! namespace per site joined to it by a veth pair, each with its
//! documentation-range address (192.0.2.N/24 and 2001:db8::N/64) and its
//! loopback up. A site's link is cut and restored on the hub side, so the
//! site keeps its own address (its own servers still answer inside it).
//!
//! Nothing here touches the root namespace's interfaces: every link is
//! made inside the hub namespace and its peer moved straight into the
//! site's. Names carry the pid (and a counter), so parallel test runs do
//! not collide; [`Net`]'s drop removes every namespace (and with them
//! every interface), after a panic too, and a new [`Net`] sweeps away what
//! a killed run of an earlier process left behind.
//!
//! Processes run inside a site with `ip netns exec` ([`Net::command`],
//! [`Net::spawn`]: a process group of its own, killed on drop), or a
//! closure runs on a thread that joined the site's namespace
//! ([`Net::enter`]): what it starts, connects to or binds is the site's.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sched::CloneFlags;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::run::{Ran, Run};

/// The prefix of every namespace this kit makes: `certdrop-<pid>-<k>-`.
const PREFIX: &str = "certdrop-";

/// The hub's own host number on the bridge (192.0.2.254, 2001:db8::fe).
pub const HUB: u8 = 254;

/// Nets made by this process so far (the `<k>` in the names).
static NEXT: AtomicU32 = AtomicU32::new(0);

/// A hub and its sites; every namespace is removed on drop.
#[derive(Debug)]
pub struct Net {
    base: String,
    sites: Vec<u8>,
}

/// A site's IPv4 address: 192.0.2.`n`.
pub fn addr(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

/// A site's IPv6 address: 2001:db8::`n` (hex digits of n).
pub fn addr6(n: u8) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(n)))
}

impl Net {
    /// A hub and one site per host number in `sites` (each 1..=253,
    /// unique); panics (after removing what it made) if `ip` refuses.
    pub fn new(sites: &[u8]) -> Net {
        let mut seen = std::collections::HashSet::new();
        for &n in sites {
            assert!(
                (1..HUB).contains(&n) && seen.insert(n),
                "site host numbers must be unique, 1..=253: {sites:?}"
            );
        }
        sweep_stale();
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let net = Net {
            base: format!(
                "{PREFIX}{}-{k}",
                owner(std::process::id()).unwrap_or_default()
            ),
            sites: Vec::new(),
        };
        let hub = net.hub();
        ip(&["netns", "add", &hub]);
        let mut net = net;
        in_ns(&hub, &["link", "set", "lo", "up"]);
        in_ns(&hub, &["link", "add", "br0", "type", "bridge"]);
        in_ns(
            &hub,
            &["addr", "add", &format!("{}/24", addr(HUB)), "dev", "br0"],
        );
        in_ns(
            &hub,
            &[
                "addr",
                "add",
                &format!("{}/64", addr6(HUB)),
                "dev",
                "br0",
                "nodad",
            ],
        );
        in_ns(&hub, &["link", "set", "br0", "up"]);
        for &n in sites {
            net.add_site(n);
        }
        net
    }

    fn add_site(&mut self, n: u8) {
        let hub = self.hub();
        let site = self.ns(n);
        ip(&["netns", "add", &site]);
        self.sites.push(n);
        let port = format!("v{n}");
        // Made in the hub, the peer moved straight into the site: neither
        // end ever exists in the root namespace.
        in_ns(
            &hub,
            &[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &site,
            ],
        );
        in_ns(&hub, &["link", "set", &port, "master", "br0"]);
        in_ns(&hub, &["link", "set", &port, "up"]);
        in_ns(&site, &["link", "set", "lo", "up"]);
        in_ns(
            &site,
            &["addr", "add", &format!("{}/24", addr(n)), "dev", "eth0"],
        );
        // nodad: usable at once, not after duplicate address detection.
        in_ns(
            &site,
            &[
                "addr",
                "add",
                &format!("{}/64", addr6(n)),
                "dev",
                "eth0",
                "nodad",
            ],
        );
        in_ns(&site, &["link", "set", "eth0", "up"]);
    }

    /// The hub namespace's name.
    pub fn hub(&self) -> String {
        format!("{}-hub", self.base)
    }

    /// Site `n`'s namespace name ([`HUB`]: the hub's).
    pub fn ns(&self, n: u8) -> String {
        if n == HUB {
            return self.hub();
        }
        format!("{}-s{n}", self.base)
    }

    /// The sites' host numbers, in the order given.
    pub fn sites(&self) -> &[u8] {
        &self.sites
    }

    /// Cut site `n` off: its port on the hub's bridge goes down.
    pub fn link_down(&self, n: u8) {
        in_ns(&self.hub(), &["link", "set", &format!("v{n}"), "down"]);
    }

    /// Join site `n` again.
    pub fn link_up(&self, n: u8) {
        in_ns(&self.hub(), &["link", "set", &format!("v{n}"), "up"]);
    }

    /// `ip netns exec <site n> program`: add arguments and run it.
    pub fn command(&self, n: u8, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(n)]).arg(program);
        c
    }

    /// Start `program args` in site `n` in the background, in a process
    /// group of its own (all of it killed on drop), output to `log`.
    pub fn spawn(
        &self,
        n: u8,
        program: impl AsRef<std::ffi::OsStr>,
        args: &[&str],
        log: &Path,
    ) -> NsProc {
        let f = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let mut c = self.command(n, program);
        let child = c
            .args(args)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup log"))
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("start {c:?}: {e}"));
        NsProc(child)
    }

    /// Run `f` on a thread that joined site `n`'s namespace: the sockets
    /// it opens and the processes it starts are the site's.
    pub fn enter<T: Send>(&self, n: u8, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.join(n);
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Move the calling thread into site `n`'s namespace for good: for a
    /// thread of the caller's own that lives on (a sampler); never call it
    /// on the test's main thread.
    pub fn join(&self, n: u8) {
        join(&self.path(n));
    }

    /// Site `n`'s namespace file, what [`Net::join`] opens.
    pub fn path(&self, n: u8) -> std::path::PathBuf {
        Path::new("/run/netns").join(self.ns(n))
    }

    /// Whether site `from` gets an answer to one ping of `to` (an
    /// address) within 2 s.
    pub fn ping(&self, from: u8, to: IpAddr) -> bool {
        self.command(from, "ping")
            .args(["-c1", "-W2", "-n", "-q", &to.to_string()])
            .ran_within(Duration::from_secs(10))
            .code
            == 0
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its interfaces, the veth peers with
        // them; the bridge goes with the hub.
        for n in self.sites.clone() {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(n)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.hub()])
            .output();
    }
}

/// Move the calling thread into the network namespace at `path` (a
/// [`Net::path`]), for a thread that outlives a borrow of the [`Net`].
pub fn join(path: &Path) {
    let fd = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    nix::sched::setns(fd, CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("setns {}: {e}", path.display()));
}

/// A process inside a site, in its own process group; the whole group is
/// killed and the process reaped on drop.
#[derive(Debug)]
pub struct NsProc(pub Child);

impl NsProc {
    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }

    /// Kill the group now.
    pub fn kill(&mut self) {
        let pgid = Pid::from_raw(i32::try_from(self.0.id()).expect("pid fits i32"));
        let _ = killpg(pgid, Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for NsProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Namespaces of this kit whose process is gone (a run killed before its
/// drop ran) are removed; another live process's are left alone. A
/// process is its pid and start time (`<pid>.<start>`), so a pid used
/// again by a later run is not taken for the dead one.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(who) = rest.split('-').next() else {
            continue;
        };
        let Some(pid) = who.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if owner(pid).as_deref() != Some(who) {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// `<pid>.<start time in clock ticks>` of a live process (from
/// /proc/PID/stat), or None if it is gone.
fn owner(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count from its ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let start = after.split_whitespace().nth(19)?;
    Some(format!("{pid}.{start}"))
}

/// `ip ARGS`, which must succeed.
#[track_caller]
fn ip(args: &[&str]) -> Ran {
    let ran = Command::new("ip").args(args).ran();
    assert_eq!(ran.code, 0, "ip {}: {}", args.join(" "), ran.stderr);
    ran
}

/// `ip -n NS ARGS`, which must succeed.
#[track_caller]
fn in_ns(ns: &str, args: &[&str]) -> Ran {
    let mut all = vec!["-n", ns];
    all.extend_from_slice(args);
    ip(&all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn namespaces() -> String {
        String::from_utf8_lossy(
            &Command::new("ip")
                .args(["netns", "list"])
                .output()
                .expect("ip")
                .stdout,
        )
        .into_owned()
    }

    #[test]
    fn sites_reach_each_other_until_a_link_is_cut_and_vanish_on_drop() {
        let net = Net::new(&[1, 11]);
        let (hub, s1, s11) = (net.hub(), net.ns(1), net.ns(11));
        assert!(namespaces().contains(&s11), "{}", namespaces());
        assert!(net.ping(1, addr(11)), "192.0.2.1 -> .11");
        assert!(net.ping(11, addr6(1)), "2001:db8::b -> ::1");
        assert!(net.ping(HUB, addr(1)), "hub -> .1");
        // Cut on the hub side: the site is unreachable, its own address
        // still answers inside it.
        net.link_down(11);
        assert!(!net.ping(1, addr(11)), "reached a site whose link is down");
        assert!(net.ping(11, addr(11)), "its own address, inside");
        net.link_up(11);
        assert!(
            crate::wait::within(Duration::from_secs(10), || net.ping(1, addr(11))),
            "not reachable again after link_up"
        );
        // A thread that entered a site sees its interfaces, not ours.
        let seen = net.enter(11, || std::net::UdpSocket::bind((addr(11), 0)).is_ok());
        assert!(seen, "cannot bind the site's address inside it");
        assert!(
            std::net::UdpSocket::bind((addr(11), 0)).is_err(),
            "site address in the root namespace"
        );
        // A process group inside a site is killed on drop.
        let tree = crate::Tree::new();
        let mut p = net.spawn(1, "sh", &["-c", "sleep 600 & wait"], &tree.path("log"));
        assert!(p.running());
        let pgid = p.0.id();
        drop(p);
        assert!(
            crate::wait::within(Duration::from_secs(10), || {
                Command::new("pgrep")
                    .args(["-g", &pgid.to_string()])
                    .output()
                    .is_ok_and(|o| !o.status.success())
            }),
            "a process of the group outlived its drop"
        );
        drop(net);
        let left = namespaces();
        for ns in [hub, s1, s11] {
            assert!(!left.contains(&ns), "{ns} left: {left}");
        }
    }

    #[test]
    fn a_panic_removes_the_namespaces_too() {
        let name = std::sync::Mutex::new(String::new());
        let r = std::panic::catch_unwind(|| {
            let net = Net::new(&[7]);
            *name.lock().expect("lock") = net.ns(7);
            panic!("on purpose");
        });
        assert!(r.is_err());
        let name = name.into_inner().expect("lock");
        assert!(name.starts_with(PREFIX), "{name}");
        assert!(!namespaces().contains(&name), "{name} left after a panic");
    }
}
