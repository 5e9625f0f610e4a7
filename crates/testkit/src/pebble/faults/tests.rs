//! Self-tests of the fault proxy: a real Pebble behind it, and each fault
//! kind observed with a raw HTTPS client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{http_date, Endpoint, Fault, FaultProxy, RandomFault, RandomFaults};
use crate::pebble::{https_get, Pebble, PebbleOpts};

/// GET `path` from the proxy; the whole raw answer (head and body) as text.
fn raw_get(pebble: &Pebble, addr: SocketAddr, path: &str) -> io::Result<String> {
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(io::Error::other)?
    .with_root_certificates(pebble.roots.as_ref().clone())
    .with_no_client_auth();
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    let sock = TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut buf = Vec::new();
    tls.read_to_end(&mut buf)?;
    if buf.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no answer"));
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn the_directory_comes_through_with_the_proxy_in_its_urls() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    let (status, body) = https_get(&proxy.directory_url, &pebble.ca_bundle).expect("GET /dir");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("https://{}/order-plz", proxy.addr)),
        "{body}"
    );
    assert_eq!(proxy.seen(Endpoint::Directory), 1);
    assert_eq!(proxy.seen(Endpoint::NewOrder), 0);
    assert!(proxy.errors().is_empty(), "{:?}", proxy.errors());
}

/// What Pebble 2.4 lacks, added by the proxy: the directory (Pebble's,
/// its URLs intact) gains `meta.profiles` and a `renewalInfo` URL on the
/// proxy, whose GET the proxy answers itself with the window and a
/// Retry-After; Pebble never sees that request.
#[test]
fn the_proxy_adds_profiles_and_renewal_information_to_the_directory() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    let (_, plain) = https_get(&proxy.directory_url, &pebble.ca_bundle).expect("GET /dir");
    let plain = String::from_utf8_lossy(&plain).into_owned();
    assert!(
        !plain.contains("profiles") && !plain.contains("renewalInfo"),
        "Pebble 2.4 has neither: {plain}"
    );
    proxy.offer_profiles(&[("classic", "the usual"), ("shortlived", "six days")]);
    proxy.offer_ari("2030-01-01T00:00:00Z", "2030-01-02T00:00:00Z");
    let (status, body) = https_get(&proxy.directory_url, &pebble.ca_bundle).expect("GET /dir");
    let dir: serde_json::Value = serde_json::from_slice(&body).expect("directory is JSON");
    assert_eq!(status, 200);
    assert_eq!(dir["meta"]["profiles"]["shortlived"], "six days", "{dir}");
    assert_eq!(
        dir["newOrder"],
        format!("https://{}/order-plz", proxy.addr),
        "Pebble's own URLs stay"
    );
    let ari = dir["renewalInfo"].as_str().expect("renewalInfo URL");
    assert_eq!(ari, format!("https://{}/renewal-info", proxy.addr));
    let answer = raw_get(&pebble, proxy.addr, "/renewal-info/aaaa.bbbb").expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("Retry-After: 21600"), "{answer}");
    assert!(
        answer.contains("\"start\": \"2030-01-01T00:00:00Z\""),
        "{answer}"
    );
    assert_eq!(proxy.renewal_info_asked(), ["aaaa.bbbb"]);
    assert_eq!(proxy.seen(Endpoint::RenewalInfo), 1);
    assert!(proxy.errors().is_empty(), "{:?}", proxy.errors());
}

#[test]
fn a_status_fault_skips_then_answers_with_a_problem_and_retry_after() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(
        Endpoint::Directory,
        1,
        2,
        Fault::status(503).retry_after_secs(7),
    );
    let at = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
    proxy.inject(
        Endpoint::Directory,
        0,
        1,
        Fault::problem(429, "rateLimited").retry_after_date(at),
    );
    let get = || raw_get(&pebble, proxy.addr, "/dir").expect("answer");
    assert!(get().starts_with("HTTP/1.1 200"));
    for _ in 0..2 {
        let a = get();
        assert!(a.starts_with("HTTP/1.1 503"), "{a}");
        assert!(a.contains("Retry-After: 7\r\n"), "{a}");
        assert!(
            a.contains("urn:ietf:params:acme:error:serverInternal"),
            "{a}"
        );
        assert!(a.contains("application/problem+json"), "{a}");
    }
    let a = get();
    assert!(a.starts_with("HTTP/1.1 429"), "{a}");
    assert!(
        a.contains("Retry-After: Tue, 02 Oct 2096 07:06:40 GMT\r\n"),
        "{a}"
    );
    assert!(a.contains("urn:ietf:params:acme:error:rateLimited"), "{a}");
    assert!(get().starts_with("HTTP/1.1 200"));
    assert_eq!(proxy.seen(Endpoint::Directory), 5);
}

#[test]
fn a_problem_carries_its_detail_and_subproblems_with_their_names() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(
        Endpoint::Directory,
        0,
        1,
        Fault::problem(400, "rejectedIdentifier")
            .detail("2 identifiers \"refused\"\nby policy")
            .subproblem("caa", "a.example.test", "CAA forbids issuance")
            .subproblem("rejectedIdentifier", "b.example.test", "on a block list"),
    );
    let a = raw_get(&pebble, proxy.addr, "/dir").expect("answer");
    assert!(a.starts_with("HTTP/1.1 400"), "{a}");
    let body = a.split("\r\n\r\n").nth(1).expect("a body");
    assert_eq!(
        body,
        r#"{
  "type": "urn:ietf:params:acme:error:rejectedIdentifier",
  "detail": "2 identifiers \"refused\"\nby policy",
  "status": 400,
  "subproblems": [
    {
      "type": "urn:ietf:params:acme:error:caa",
      "detail": "CAA forbids issuance",
      "identifier": {"type": "dns", "value": "a.example.test"}
    },
    {
      "type": "urn:ietf:params:acme:error:rejectedIdentifier",
      "detail": "on a block list",
      "identifier": {"type": "dns", "value": "b.example.test"}
    }
  ]
}"#
    );
    // A detail and a subproblem leave every other fault as it is.
    assert_eq!(
        format!("{:?}", Fault::Reset.detail("x").subproblem("caa", "a", "b")),
        "Reset"
    );
}

#[test]
fn a_problem_without_extras_has_the_proxy_s_words_and_control_characters_escaped() {
    let plain = super::Problem::new("badCSR");
    assert_eq!(
        plain.body(400),
        "{\n  \"type\": \"urn:ietf:params:acme:error:badCSR\",\n  \"detail\": \"injected by the fault proxy\",\n  \"status\": 400\n}"
    );
    let odd = super::Problem {
        detail: "tab\there\u{1}\\".into(),
        ..plain
    };
    assert!(
        odd.body(400).contains(r#""detail": "tab\there\u0001\\","#),
        "{}",
        odd.body(400)
    );
}

#[test]
fn a_reset_is_a_connection_reset() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(Endpoint::Directory, 0, 1, Fault::Reset);
    let err = raw_get(&pebble, proxy.addr, "/dir").expect_err("reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    assert!(raw_get(&pebble, proxy.addr, "/dir")
        .expect("next one passes")
        .starts_with("HTTP/1.1 200"));
}

#[test]
fn a_stall_holds_the_answer_for_its_time_or_until_drop() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(
        Endpoint::Directory,
        0,
        1,
        Fault::Stall {
            for_: Some(Duration::from_millis(500)),
        },
    );
    let t0 = Instant::now();
    raw_get(&pebble, proxy.addr, "/dir").expect_err("no answer");
    assert!(t0.elapsed() >= Duration::from_millis(500));

    proxy.inject(Endpoint::Directory, 0, 1, Fault::Stall { for_: None });
    let addr = proxy.addr;
    let pebble = Arc::new(pebble);
    let p = pebble.clone();
    let client = std::thread::spawn(move || raw_get(&p, addr, "/dir"));
    assert!(crate::within(Duration::from_secs(10), || proxy
        .seen(Endpoint::Directory)
        == 2));
    assert!(!client.is_finished(), "a stall without end answered");
    drop(proxy);
    let got = client.join().expect("client thread");
    assert!(got.is_err(), "{got:?}");
}

#[test]
fn a_lost_answer_reaches_pebble_but_not_the_client() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(Endpoint::NewNonce, 0, 1, Fault::Lost);
    raw_get(&pebble, proxy.addr, "/nonce-plz").expect_err("lost");
    // It was forwarded: no relay error, and the next request passes.
    assert!(proxy.errors().is_empty(), "{:?}", proxy.errors());
    let a = raw_get(&pebble, proxy.addr, "/nonce-plz").expect("answer");
    assert!(a.contains("Replay-Nonce:"), "{a}");
}

#[test]
fn rewrites_add_headers_and_replace_or_extend_bodies() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::start(&pebble);
    proxy.inject(
        Endpoint::Directory,
        0,
        1,
        Fault::add_header("X-Fault", "yes"),
    );
    proxy.inject(Endpoint::Directory, 0, 1, Fault::replace_body("{}"));
    proxy.inject(Endpoint::Directory, 0, 1, Fault::append_body("TAIL"));
    proxy.inject(Endpoint::Directory, 0, 1, Fault::processing(3));
    let get = || raw_get(&pebble, proxy.addr, "/dir").expect("answer");
    let a = get();
    assert!(
        a.contains("X-Fault: yes\r\n") && a.contains("newOrder"),
        "{a}"
    );
    let a = get();
    assert!(
        a.ends_with("\r\n\r\n{}") && a.contains("Content-Length: 2\r\n"),
        "{a}"
    );
    assert!(get().ends_with("}TAIL"));
    // The directory has no status field: only the header is added.
    let a = get();
    assert!(
        a.contains("Retry-After: 3\r\n") && a.contains("newOrder"),
        "{a}"
    );
}

#[test]
fn in_front_of_a_pebble_by_url_with_random_faults_and_fresh_counters() {
    let pebble = Pebble::start(PebbleOpts::default());
    let proxy = FaultProxy::in_front_of(
        &pebble.directory_url,
        &pebble.dir.join("cert.pem"),
        &pebble.dir.join("key.pem"),
        &pebble.ca_bundle,
    )
    .expect("proxy in front of the URL");
    let a = raw_get(&pebble, proxy.addr, "/dir").expect("answer");
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    assert!(
        a.contains(&format!("https://{}/order-plz", proxy.addr)),
        "{a}"
    );

    proxy.set_random(Some(RandomFaults {
        percent: 100,
        kinds: vec![RandomFault::Status503],
        seed: 1,
    }));
    // An armed fault comes first; the random mode takes the rest.
    proxy.inject(Endpoint::Directory, 0, 1, Fault::Reset);
    let err = raw_get(&pebble, proxy.addr, "/dir").expect_err("reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
    let a = raw_get(&pebble, proxy.addr, "/dir").expect("answer");
    assert!(a.starts_with("HTTP/1.1 503"), "{a}");
    assert!(a.contains("Retry-After: 1\r\n"), "{a}");
    let applied: Vec<(Endpoint, String)> = proxy
        .faults_applied()
        .into_iter()
        .map(|(_, e, f)| (e, f))
        .collect();
    assert_eq!(
        applied,
        [
            (Endpoint::Directory, "Reset".to_string()),
            (Endpoint::Directory, "503".to_string())
        ]
    );
    assert_eq!(proxy.seen(Endpoint::Directory), 3);

    proxy.reset_counters();
    proxy.set_random(None);
    assert_eq!(proxy.seen(Endpoint::Directory), 0);
    assert!(proxy.faults_applied().is_empty());
    assert!(raw_get(&pebble, proxy.addr, "/dir")
        .expect("answer")
        .starts_with("HTTP/1.1 200"));
    assert_eq!(proxy.seen(Endpoint::Directory), 1);
}

#[test]
fn in_front_of_refuses_a_url_without_ip_and_port() {
    let pebble = Pebble::start(PebbleOpts::default());
    let (cert, key) = (pebble.dir.join("cert.pem"), pebble.dir.join("key.pem"));
    for url in [
        "http://127.0.0.1:1/dir",
        "https://localhost:1/dir",
        "https://127.0.0.1:1",
    ] {
        let err = FaultProxy::in_front_of(url, &cert, &key, &pebble.ca_bundle)
            .err()
            .expect("refused");
        assert!(
            err.to_string().contains("not https://IP:PORT/path"),
            "{url}: {err}"
        );
    }
}

#[test]
fn answers_are_counted_as_orders_certificates_and_bad_nonces() {
    let mut st = super::State::default();
    let answer = |status: u16, body: &str| super::Answer {
        status,
        body: body.as_bytes().to_vec(),
        ..Default::default()
    };
    let bad_nonce = r#"{"type": "urn:ietf:params:acme:error:badNonce", "status": 400}"#;
    let t0 = Instant::now();
    for (e, path, a) in [
        (Endpoint::NewOrder, "/order-plz", answer(201, "{}")),
        (Endpoint::NewOrder, "/order-plz", answer(400, bad_nonce)),
        (Endpoint::Finalize, "/finalize-order/1", answer(200, "{}")),
        (Endpoint::Certificate, "/certZ/1", answer(200, "PEM")),
        (Endpoint::Certificate, "/certZ/1", answer(200, "PEM")),
        (Endpoint::Order, "/my-order/1", answer(400, "malformed")),
    ] {
        super::count(&mut st, e, path, &a, t0);
    }
    assert_eq!((st.orders, st.finalized, st.downloaded.len()), (1, 1, 1));
    assert_eq!(st.bad_nonces, [(t0, Endpoint::NewOrder)]);
}

#[test]
fn set_json_str_replaces_a_field() {
    let mut a = super::Answer {
        body: b"{\n  \"status\": \"valid\",\n  \"x\": 1\n}".to_vec(),
        ..Default::default()
    };
    a.set_json_str("status", "processing");
    assert_eq!(a.body, b"{\n  \"status\": \"processing\",\n  \"x\": 1\n}");
}

#[test]
fn endpoints_by_path_and_http_dates() {
    for (path, want) in [
        ("/dir", Endpoint::Directory),
        ("/nonce-plz", Endpoint::NewNonce),
        ("/sign-me-up", Endpoint::NewAccount),
        ("/my-account/1", Endpoint::Account),
        ("/order-plz", Endpoint::NewOrder),
        ("/my-order/abc", Endpoint::Order),
        ("/authZ/abc", Endpoint::Authz),
        ("/chalZ/abc", Endpoint::Challenge),
        ("/finalize-order/abc", Endpoint::Finalize),
        ("/certZ/abc", Endpoint::Certificate),
        ("/rollover-account-key", Endpoint::KeyChange),
        ("/revoke-cert", Endpoint::Revoke),
        ("/dirx", Endpoint::Other),
    ] {
        assert_eq!(Endpoint::of_path(path), want, "{path}");
    }
    let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
    assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
}
