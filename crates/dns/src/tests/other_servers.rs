//! Tests of the queries against servers other than nsd: a port where
//! nothing listens, a socket that never answers, and a fake server that
//! sends junk before the real answer. (pebble-challtestsrv's DNS is tested
//! with the issuer's `wait_visible`, in certdrop-issue.)
use super::*;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::Record;

#[test]
fn nothing_listening_fails_fast() {
    let port = free_port();
    let addr = SocketAddr::from((LOOPBACK, port));
    let timeout = Duration::from_millis(800);
    let started = Instant::now();
    let err = query_txt(addr, CHALLENGE, timeout).expect_err("nobody there");
    assert!(
        started.elapsed() < timeout + Duration::from_millis(300),
        "took {:?}",
        started.elapsed()
    );
    // Linux reports ICMP port unreachable on a connected UDP socket; elsewhere it is a timeout.
    assert!(
        matches!(err, DnsError::Io { .. } | DnsError::Timeout { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(!err.is_permanent());
}

#[test]
fn silent_server_times_out() {
    // A bound socket that never answers: a pure timeout, no ICMP.
    let silent = UdpSocket::bind((LOOPBACK, 0)).expect("bind");
    let addr = silent.local_addr().expect("addr");
    let timeout = Duration::from_millis(400);
    let started = Instant::now();
    let err = query_txt(addr, CHALLENGE, timeout).expect_err("silence");
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(300),
        "took {took:?}"
    );
    assert!(matches!(err, DnsError::Timeout { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("DNS TXT _acme-challenge.www.example.test. @{addr}: no response within 400ms")
    );
}

/// A fake server that answers with junk first: wrong ID, wrong question, then the right answer.
#[test]
fn ignores_mismatched_datagrams() {
    let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind");
    let addr = sock.local_addr().expect("addr");
    let server = thread::spawn(move || {
        let mut buf = [0u8; 2048];
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let (len, peer) = sock.recv_from(&mut buf).expect("query");
        let query = Message::from_vec(&buf[..len]).expect("decode query");
        let reply = |id: u16, qname: &str, value: &str| {
            let name = Name::from_ascii(qname).expect("name");
            let mut msg = Message::new();
            msg.set_id(id)
                .set_message_type(MessageType::Response)
                .set_authoritative(true);
            msg.add_query(Query::query(name.clone(), RecordType::TXT));
            msg.add_answer(Record::from_rdata(
                name,
                60,
                RData::TXT(hickory_proto::rr::rdata::TXT::new(vec![value.to_string()])),
            ));
            msg.to_vec().expect("encode")
        };
        let id = query.id();
        sock.send_to(
            &reply(
                id.wrapping_add(1),
                "_acme-challenge.www.example.test.",
                "wrong-id",
            ),
            peer,
        )
        .expect("send");
        sock.send_to(&reply(id, "other.example.test.", "wrong-question"), peer)
            .expect("send");
        sock.send_to(&[0xde, 0xad], peer).expect("send");
        sock.send_to(
            &reply(id, "_ACME-CHALLENGE.www.example.test.", "right"),
            peer,
        )
        .expect("send");
        query
    });
    let values = query_txt(addr, CHALLENGE, SHORT).expect("answer");
    assert_eq!(values, ["right"]);
    let query = server.join().expect("fake server");
    assert!(!query.recursion_desired(), "RD must be 0");
    assert_eq!(query.max_payload(), EDNS_UDP_PAYLOAD);
    assert_eq!(query.queries().len(), 1);
    assert_eq!(
        query.queries()[0].name().to_ascii(),
        "_acme-challenge.www.example.test."
    );
}
