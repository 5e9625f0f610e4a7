//! Tests of the queries against a real nsd on loopback (certdrop-testkit's,
//! serving [`zone`]), with loopback ports from the same kit; tests against
//! other servers are in
//! [`other_servers`]. The issuer's `wait_visible` is tested in certdrop-issue.
use super::wire::{exchange_udp, random_id, UdpOutcome};
use super::*;
use certdrop_testkit::nsd::challenge_zone;
use certdrop_testkit::{free_port, within};
use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
use std::thread;

mod other_servers;

const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SHORT: Duration = Duration::from_secs(2);
const CHALLENGE: &str = "_acme-challenge.www.example.test";
const TLSA_311: &str = "8c4b29a3f7d3d3b4cd5a3f0b1e5c2a9d7f6e4b3a2c1d0e9f8a7b6c5d4e3f2a1b";
const TLSA_200: &str = "30820102";

/// [`challenge_zone`] with the records these tests ask besides.
fn zone(extra: &str) -> String {
    challenge_zone(&format!(
        "multi IN TXT \"abc\" \"def\" \"ghi\"\n\
         _acme-challenge.alias IN CNAME _acme-challenge.target.example.test.\n\
         _acme-challenge.target IN TXT \"via-alias\"\n\
         sub IN NS ns.sub.example.test.\n\
         ns.sub IN A 127.0.0.2\n\
         _443._tcp.www IN TLSA 3 1 1 {TLSA_311}\n\
         _443._tcp.www IN TLSA 2 0 0 {TLSA_200}\n\
         {extra}"
    ))
}

/// A real authoritative server (nsd) on 127.0.0.1 serving [`zone`], killed on drop.
struct Nsd {
    addr: SocketAddr,
    _server: certdrop_testkit::nsd::Nsd,
    _dir: tempfile::TempDir,
}

impl Nsd {
    fn start(extra: &str) -> Nsd {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("example.test.zone"), zone(extra)).expect("write zone");
        let server = certdrop_testkit::nsd::Nsd::start(dir.path(), dir.path(), &["example.test"]);
        let addr = server.addr;
        // Started is not yet serving: wait until it answers for its zone.
        let serving = within(Duration::from_secs(10), || {
            query_ns(addr, "example.test", Duration::from_millis(200))
                .is_ok_and(|ns| !ns.is_empty())
        });
        assert!(
            serving,
            "nsd does not serve example.test:\n{}",
            server.log()
        );
        Nsd {
            addr,
            _server: server,
            _dir: dir,
        }
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
fn tlsa_from_nsd() {
    let nsd = Nsd::start("");
    let mut found = query_tlsa(nsd.addr, "_443._TCP.www.example.test.", SHORT).expect("tlsa");
    found.sort_by_key(|t| t.usage);
    let hex = |data: &[u8]| data.iter().map(|b| format!("{b:02x}")).collect::<String>();
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(
        (found[0].usage, found[0].selector, found[0].matching),
        (2, 0, 0)
    );
    assert_eq!(hex(&found[0].data), TLSA_200);
    assert_eq!(
        (found[1].usage, found[1].selector, found[1].matching),
        (3, 1, 1)
    );
    assert_eq!(hex(&found[1].data), TLSA_311);
    assert_eq!(found[1].ttl, 60);
    // No TLSA at a name (NXDOMAIN): an empty set, not an error.
    assert!(query_tlsa(nsd.addr, "_25._tcp.www.example.test", SHORT)
        .expect("nxdomain")
        .is_empty());
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
