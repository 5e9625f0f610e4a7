//! Tests of [`wait_visible`] against real servers: nsd on loopback (a
//! reload makes values appear), a port where nothing listens, and
//! pebble-challtestsrv's DNS. The queries themselves are tested in
//! certdrop-dns.
use super::*;
use std::net::Ipv4Addr;
use std::thread;

use certdrop_testkit::nsd::challenge_zone;
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pebble::{Pebble, PebbleOpts};
use certdrop_testkit::{free_port, Tree};

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SHORT: Duration = Duration::from_secs(2);
const CHALLENGE: &str = "_acme-challenge.www.example.test";

/// The test kit's nsd serving example.test ([`zone`] plus `extra`) on
/// 127.0.0.1, in a temp tree of its own.
struct Server {
    addr: SocketAddr,
    nsd: Nsd,
    dir: Tree,
}

impl Server {
    fn start(extra: &str) -> Server {
        let dir = Tree::new();
        dir.write("zones/example.test.zone", &challenge_zone(extra));
        let nsd = Nsd::start(&dir.path("nsd"), &dir.path("zones"), &["example.test"]);
        Server {
            addr: nsd.addr,
            nsd,
            dir,
        }
    }

    /// Rewrite the zone (serial 2) and make nsd reload it.
    fn reload(&self, extra: &str) {
        let text = challenge_zone(extra).replace("(1 3600", "(2 3600");
        self.dir.write("zones/example.test.zone", &text);
        assert!(
            self.nsd.control(&["reload", "example.test"]),
            "nsd-control reload failed:\n{}",
            self.nsd.log()
        );
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn wait_visible_sees_values_added_by_reload() {
    let first = Server::start("_acme-challenge.www IN TXT \"v3\"\n");
    let second = Server::start("");
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
    let nsd = Server::start("");
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
    let nsd = Server::start("");
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

#[tokio::test]
async fn pebble_challtestsrv_txt_and_cname() {
    // The kit's Pebble, for the pebble-challtestsrv it runs beside it.
    let pebble = Pebble::start(PebbleOpts::default());
    let dns = pebble.dns_addr;
    let host = "_acme-challenge.x.test.";
    let values = vec!["token-1".to_string()];
    let servers = [dns];
    let waiting = wait_visible(
        &servers,
        "_ACME-Challenge.X.test",
        &values,
        Duration::from_secs(5),
        Duration::from_millis(200),
    );
    let setter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        pebble.set_txt(host, "token-1");
        pebble
    });
    let took = waiting.await.expect("visible on challtestsrv");
    let pebble = setter.join().expect("setter");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    pebble.set_cname("_acme-challenge.y.test.", "_acme-challenge.X.test.");
    assert_eq!(
        query_cname(dns, "_acme-challenge.y.test", SHORT).expect("cname"),
        Some("_acme-challenge.x.test.".to_string())
    );
    pebble.clear_txt(host);
    assert!(query_txt(dns, host, SHORT).expect("cleared").is_empty());
}
