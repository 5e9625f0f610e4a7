//! Tests of the DNS checks against servers other than nsd: a port where
//! nothing listens, a socket that never answers, a fake server that sends
//! junk before the real answer, and pebble-challtestsrv's DNS.
use super::*;
use hickory_proto::op::{Message, MessageType, Query};
use hickory_proto::rr::Record;
use std::io::{Read, Write};
use std::net::TcpStream;

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

/// POST JSON to pebble-challtestsrv's management API (plain HTTP/1.0 over std).
fn pebble_post(mgmt: SocketAddr, path: &str, body: &str) {
    let mut stream = TcpStream::connect(mgmt).expect("management API");
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {mgmt}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply");
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{path}: {reply}"
    );
}

#[tokio::test]
async fn pebble_challtestsrv_txt_and_cname() {
    let (dns, mgmt) = (free_port(), free_port());
    let mut child = Command::new("pebble-challtestsrv")
        .args([
            "-dns01",
            &format!("127.0.0.1:{dns}"),
            "-management",
            &format!("127.0.0.1:{mgmt}"),
        ])
        .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("pebble-challtestsrv must be installed");
    struct Kill<'a>(&'a mut Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut child);
    let (dns, mgmt) = (
        SocketAddr::from((LOOPBACK, dns)),
        SocketAddr::from((LOOPBACK, mgmt)),
    );
    let until = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(mgmt).is_err()
        || query_txt(dns, "x.test", Duration::from_millis(200)).is_err()
    {
        assert!(Instant::now() < until, "pebble-challtestsrv did not start");
        thread::sleep(Duration::from_millis(50));
    }
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
        pebble_post(
            mgmt,
            "/set-txt",
            &format!(r#"{{"host":"{host}","value":"token-1"}}"#),
        );
    });
    let took = waiting.await.expect("visible on challtestsrv");
    setter.join().expect("setter");
    assert!(took >= Duration::from_millis(300), "{took:?}");
    pebble_post(
        mgmt,
        "/set-cname",
        r#"{"host":"_acme-challenge.y.test.","target":"_acme-challenge.X.test."}"#,
    );
    assert_eq!(
        query_cname(dns, "_acme-challenge.y.test", SHORT).expect("cname"),
        Some("_acme-challenge.x.test.".to_string())
    );
    pebble_post(mgmt, "/clear-txt", &format!(r#"{{"host":"{host}"}}"#));
    assert!(query_txt(dns, host, SHORT).expect("cleared").is_empty());
}
