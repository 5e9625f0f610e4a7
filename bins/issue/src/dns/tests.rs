//! Tests of the DNS checks against a real nsd on loopback, and the shared
//! fixtures (ports, zone, [`Nsd`]); tests against other servers are in
//! [`other_servers`].
use super::wire::{exchange_udp, random_id, UdpOutcome};
use super::*;
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;

mod other_servers;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SHORT: Duration = Duration::from_secs(2);
const CHALLENGE: &str = "_acme-challenge.www.example.test";

/// Ports for test servers: a process-wide counter from a pid-dependent base, checked free on UDP and TCP.
fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 2_000) as u16 * 10;
    loop {
        let port = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed) % 20_000);
        if port < 1024 {
            continue;
        }
        let udp = UdpSocket::bind((LOOPBACK, port));
        let tcp = TcpListener::bind((LOOPBACK, port));
        if udp.is_ok() && tcp.is_ok() {
            return port;
        }
    }
}

fn zone(extra: &str) -> String {
    format!(
        "$ORIGIN example.test.\n$TTL 60\n\
         @ IN SOA ns1.example.test. hostmaster.example.test. (1 3600 600 86400 60)\n\
         @ IN NS ns1.example.test.\n\
         ns1 IN A 127.0.0.1\n\
         ns1 IN AAAA ::1\n\
         _acme-challenge.www IN TXT \"v1\"\n\
         _acme-challenge.www IN TXT \"v2\"\n\
         multi IN TXT \"abc\" \"def\" \"ghi\"\n\
         _acme-challenge.alias IN CNAME _acme-challenge.target.example.test.\n\
         _acme-challenge.target IN TXT \"via-alias\"\n\
         sub IN NS ns.sub.example.test.\n\
         ns.sub IN A 127.0.0.2\n\
         {extra}"
    )
}

/// A real authoritative server (nsd) on 127.0.0.1, killed on drop.
struct Nsd {
    dir: tempfile::TempDir,
    conf: PathBuf,
    addr: SocketAddr,
    child: Child,
}

impl Nsd {
    fn start(extra: &str) -> Nsd {
        for _attempt in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = free_port();
            let d = dir.path().display();
            let conf = dir.path().join("nsd.conf");
            std::fs::write(dir.path().join("example.test.zone"), zone(extra)).expect("write zone");
            std::fs::write(
                &conf,
                format!(
                    "server:\n  port: {port}\n  ip-address: 127.0.0.1\n  username: \"\"\n  database: \"\"\n  \
                     zonesdir: {d}\n  pidfile: {d}/nsd.pid\n  xfrdfile: {d}/xfrd.state\n  \
                     zonelistfile: {d}/zone.list\n  logfile: {d}/nsd.log\n  rrl-ratelimit: 0\n\
                     remote-control:\n  control-enable: yes\n  control-interface: {d}/nsd.sock\n\
                     zone:\n  name: example.test\n  zonefile: example.test.zone\n"
                ),
            )
            .expect("write config");
            let child = Command::new("nsd")
                .arg("-d")
                .arg("-c")
                .arg(&conf)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nsd must be installed (apt-get install nsd)");
            let mut nsd = Nsd {
                dir,
                conf,
                addr: SocketAddr::from((LOOPBACK, port)),
                child,
            };
            if nsd.wait_ready() {
                return nsd;
            }
        }
        panic!("nsd did not start in 5 attempts");
    }

    /// Poll until nsd answers for its zone; false if it exited (port race) or never answered.
    fn wait_ready(&mut self) -> bool {
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(ns) = query_ns(self.addr, "example.test", Duration::from_millis(200)) {
                if !ns.is_empty() {
                    return true;
                }
            }
            thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Rewrite the zone (serial 2) and make nsd reload it.
    fn reload(&self, extra: &str) {
        let text = zone(extra).replace("(1 3600", "(2 3600");
        std::fs::write(self.path().join("example.test.zone"), text).expect("rewrite zone");
        let status = Command::new("nsd-control")
            .arg("-c")
            .arg(&self.conf)
            .arg("reload")
            .arg("example.test")
            .stdout(Stdio::null())
            .status()
            .expect("nsd-control must be installed");
        assert!(status.success(), "nsd-control reload failed");
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn names_parse() {
    assert_eq!(
        absolute_lower(&parse_name("WWW.Example.test").expect("valid")),
        "www.example.test."
    );
    assert_eq!(
        absolute_lower(&parse_name("www.example.test.").expect("valid")),
        "www.example.test."
    );
    assert_eq!(absolute_lower(&parse_name(".").expect("root")), ".");
    for bad in ["", " ", "a..b", ".a", "bücher.test", &"x".repeat(64)] {
        let err = parse_name(bad).expect_err(bad);
        assert!(matches!(err, DnsError::InvalidName { .. }), "{bad}: {err}");
    }
}

#[test]
fn random_ids_vary() {
    let ids: std::collections::HashSet<u16> = (0..200).map(|_| random_id()).collect();
    assert!(
        ids.len() > 150,
        "only {} distinct IDs out of 200",
        ids.len()
    );
}

#[test]
fn txt_values_from_nsd() {
    let nsd = Nsd::start("");
    for name in [
        CHALLENGE,
        "_acme-challenge.www.example.test.",
        "_ACME-Challenge.WWW.Example.TEST",
    ] {
        assert_eq!(
            sorted(query_txt(nsd.addr, name, SHORT).expect(name)),
            ["v1", "v2"],
            "{name}"
        );
    }
    // Several character-strings in one RR are concatenated (RFC 1035 §3.3.14).
    assert_eq!(
        query_txt(nsd.addr, "multi.example.test", SHORT).expect("multi"),
        ["abcdefghi"]
    );
    // NXDOMAIN and NODATA are empty.
    assert!(query_txt(nsd.addr, "nothing.example.test", SHORT)
        .expect("nxdomain")
        .is_empty());
    assert!(query_txt(nsd.addr, "ns1.example.test", SHORT)
        .expect("nodata")
        .is_empty());
    // A CNAME is not followed, even though nsd adds the target's TXT to the answer.
    assert!(
        query_txt(nsd.addr, "_acme-challenge.alias.example.test", SHORT)
            .expect("alias")
            .is_empty()
    );
}

#[test]
fn cname_from_nsd() {
    let nsd = Nsd::start("");
    assert_eq!(
        query_cname(nsd.addr, "_ACME-challenge.Alias.example.test.", SHORT).expect("cname"),
        Some("_acme-challenge.target.example.test.".to_string())
    );
    assert_eq!(
        query_cname(nsd.addr, CHALLENGE, SHORT).expect("no cname"),
        None
    );
    assert_eq!(
        query_cname(nsd.addr, "nothing.example.test", SHORT).expect("nxdomain"),
        None
    );
}

#[test]
fn ns_and_addresses_from_nsd() {
    let nsd = Nsd::start("");
    assert_eq!(
        query_ns(nsd.addr, "Example.Test", SHORT).expect("ns"),
        ["ns1.example.test."]
    );
    let v6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let v4: IpAddr = LOOPBACK.into();
    assert_eq!(
        query_addrs(nsd.addr, "ns1.example.test.", SHORT).expect("addrs"),
        [v4, v6]
    );
    assert!(query_addrs(nsd.addr, "nothing.example.test", SHORT)
        .expect("nx")
        .is_empty());
    assert_eq!(
        resolve_ns_set(nsd.addr, "example.test", SHORT).expect("ns set"),
        [NameServer {
            name: "ns1.example.test.".to_string(),
            addrs: vec![v4, v6]
        }]
    );
    // A delegated child zone: the parent refers; NS and glue come from the referral.
    assert_eq!(
        query_ns(nsd.addr, "sub.example.test", SHORT).expect("ns"),
        ["ns.sub.example.test."]
    );
    let glue: IpAddr = Ipv4Addr::new(127, 0, 0, 2).into();
    assert_eq!(
        query_addrs(nsd.addr, "ns.sub.example.test", SHORT).expect("glue"),
        [glue]
    );
    // TXT under the delegation is not this server's to answer.
    let err = query_txt(nsd.addr, "_acme-challenge.sub.example.test", SHORT).expect_err("referral");
    assert!(matches!(err, DnsError::NotAuthoritative { .. }), "{err}");
    assert!(
        err.to_string().contains("referral to sub.example.test."),
        "{err}"
    );
}

#[test]
fn refused_outside_zone() {
    let nsd = Nsd::start("");
    let err = query_txt(nsd.addr, "_acme-challenge.other.test", SHORT).expect_err("refused");
    assert!(
        matches!(
            err,
            DnsError::Rcode {
                rcode: ResponseCode::Refused,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains(&nsd.addr.to_string()) && text.contains("REFUSED"),
        "{text}"
    );
    assert!(text.contains("_acme-challenge.other.test."), "{text}");
    assert!(err.is_permanent());
}

#[test]
fn tcp_fallback_on_truncation() {
    // 40 RRs of 100 bytes each do not fit into 1232 bytes of UDP.
    let big: String = (0..40)
        .map(|i| format!("big IN TXT \"{i:03}{}\"\n", "x".repeat(97)))
        .collect();
    let nsd = Nsd::start(&big);
    let qname = parse_name("big.example.test").expect("valid");
    let ctx = Ctx::new(nsd.addr, &qname, RecordType::TXT, SHORT);
    assert!(
        matches!(
            exchange_udp(&ctx, &qname, true).expect("udp"),
            UdpOutcome::Truncated
        ),
        "expected TC over UDP"
    );
    let values = query_txt(nsd.addr, "big.example.test", SHORT).expect("tcp");
    assert_eq!(values.len(), 40);
    assert!(values.iter().all(|v| v.len() == 100), "{values:?}");
}

#[tokio::test]
async fn wait_visible_sees_values_added_by_reload() {
    let first = Nsd::start("_acme-challenge.www IN TXT \"v3\"\n");
    let second = Nsd::start("");
    let servers = [first.addr, second.addr];
    let values = vec!["v1".to_string(), "v3".to_string()];
    let delay = Duration::from_millis(700);
    let reloader = thread::spawn(move || {
        thread::sleep(delay);
        second.reload("_acme-challenge.www IN TXT \"v3\"\n");
        second
    });
    let took = wait_visible(
        &servers,
        CHALLENGE,
        &values,
        Duration::from_secs(10),
        Duration::from_millis(300),
    )
    .await
    .expect("visible after reload");
    let second = reloader.join().expect("reloader");
    assert!(took >= delay, "returned before the reload: {took:?}");
    assert!(took < delay + Duration::from_secs(2), "slow: {took:?}");
    assert_eq!(
        sorted(query_txt(second.addr, CHALLENGE, SHORT).expect("after")),
        ["v1", "v2", "v3"]
    );
    // Already visible: returns on the first poll.
    let quick = wait_visible(&servers, CHALLENGE, &values, SHORT, Duration::from_secs(1))
        .await
        .expect("quick");
    assert!(quick < Duration::from_millis(500), "{quick:?}");
}

#[tokio::test]
async fn wait_visible_times_out_naming_what_is_missing() {
    let nsd = Nsd::start("");
    let values = vec!["v1".to_string(), "never".to_string()];
    let timeout = Duration::from_millis(900);
    let started = Instant::now();
    let err = wait_visible(
        &[nsd.addr],
        CHALLENGE,
        &values,
        timeout,
        Duration::from_millis(200),
    )
    .await
    .expect_err("never visible");
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(500),
        "took {took:?}"
    );
    match &err {
        DnsError::NotVisible { missing, .. } => {
            assert_eq!(
                missing,
                &[MissingValues {
                    server: nsd.addr,
                    values: vec!["never".to_string()],
                    last_error: None
                }]
            );
        }
        other => panic!("unexpected {other}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("TXT _acme-challenge.www.example.test.: values not visible after "),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{} lacks \"never\"", nsd.addr)),
        "{text}"
    );
    assert!(!text.contains('\n'));
}

#[tokio::test]
async fn wait_visible_reports_unreachable_servers_and_stops_on_refused() {
    let nsd = Nsd::start("");
    let dead = SocketAddr::from((LOOPBACK, free_port()));
    let values = vec!["v1".to_string()];
    let err = wait_visible(
        &[nsd.addr, dead],
        CHALLENGE,
        &values,
        Duration::from_millis(600),
        Duration::from_millis(100),
    )
    .await
    .expect_err("dead server");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{dead} lacks \"v1\" (last poll failed: DNS TXT")),
        "{text}"
    );
    assert!(!text.contains(&format!("{} lacks", nsd.addr)), "{text}");

    let started = Instant::now();
    let err = wait_visible(
        &[nsd.addr],
        "_acme-challenge.other.test",
        &values,
        Duration::from_secs(5),
        Duration::from_secs(1),
    )
    .await
    .expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "REFUSED must end the wait at once"
    );
    assert!(
        matches!(
            err,
            DnsError::Rcode {
                rcode: ResponseCode::Refused,
                ..
            }
        ),
        "{err}"
    );

    let err = wait_visible(&[], CHALLENGE, &values, SHORT, SHORT)
        .await
        .expect_err("no servers");
    assert!(matches!(err, DnsError::NoServers { .. }), "{err}");
    let none = wait_visible(&[nsd.addr], CHALLENGE, &[], SHORT, SHORT)
        .await
        .expect("nothing to wait for");
    assert!(none < Duration::from_millis(50), "{none:?}");
}
