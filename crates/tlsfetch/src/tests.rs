//! Unit tests of tlsfetch: the ClientHello bytes, the Certificate message
//! read from records cut every way (fragmented, coalesced, interleaved with
//! warning alerts), the refusals and garbage that must become clear errors,
//! the size bounds, and the timeouts on a silent or absent server.
use super::*;
use std::net::TcpListener;

/// The extensions of a ClientHello record, after checking its fixed part.
fn extensions(record: &[u8]) -> Vec<(u16, Vec<u8>)> {
    assert_eq!(record[..3], [HANDSHAKE, 3, 3]);
    assert_eq!(
        usize::from(u16::from_be_bytes([record[3], record[4]])),
        record.len() - 5
    );
    let msg = &record[5..];
    assert_eq!(msg[0], CLIENT_HELLO);
    assert_eq!(read_u24(&msg[1..]).expect("len").0, msg.len() - 4);
    let body = &msg[4..];
    assert_eq!(body[..2], [3, 3], "client_version TLS 1.2");
    assert_eq!(body[2..34], [7u8; 32]);
    assert_eq!(body[34], 0, "no session id");
    let n = usize::from(u16::from_be_bytes([body[35], body[36]]));
    let suites: Vec<u16> = body[37..37 + n]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert_eq!(suites, CIPHER_SUITES);
    let mut rest = &body[37 + n..];
    assert_eq!(rest[..2], [1, 0], "null compression only");
    assert_eq!(
        usize::from(u16::from_be_bytes([rest[2], rest[3]])),
        rest.len() - 4
    );
    rest = &rest[4..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let kind = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        out.push((kind, rest[4..4 + len].to_vec()));
        rest = &rest[4 + len..];
    }
    out
}

#[test]
fn client_hello_offers_tls12_only_with_sni() {
    let hello = client_hello("WWW.Example.test.", &[7; 32]).expect("hello");
    let ext = extensions(&hello);
    let kinds: Vec<u16> = ext.iter().map(|e| e.0).collect();
    assert_eq!(kinds, [0, 10, 11, 13, 0xff01]);
    assert!(!kinds.contains(&43), "no supported_versions: TLS 1.2 only");
    let mut sni = vec![0, 19, 0, 0, 16];
    sni.extend_from_slice(b"www.example.test");
    assert_eq!(ext[0].1, sni);
    assert_eq!(ext[1].1, [0, 6, 0, 0x1d, 0, 0x17, 0, 0x18]);
    assert_eq!(ext[2].1, [1, 0]);
    assert_eq!(ext[3].1[..4], [0, 24, 4, 3]);
    assert_eq!(ext[4].1, [0]);
    for suite in [0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8] {
        assert!(CIPHER_SUITES.contains(&suite), "{suite:#x}");
    }
    // RFC 6066 §3: no IP literal in SNI.
    let ip = client_hello("127.0.0.1", &[7; 32]).expect("hello");
    assert_eq!(extensions(&ip)[0].0, EXT_SUPPORTED_GROUPS);
    assert!(client_hello(&"a".repeat(256), &[7; 32]).is_err());
}

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![kind];
    m.extend_from_slice(&u24(body.len()));
    m.extend_from_slice(body);
    m
}

/// ServerHello, Certificate, ServerHelloDone as one handshake byte stream.
fn flight(certs: &[&[u8]]) -> Vec<u8> {
    let mut hello = vec![3, 3];
    hello.extend_from_slice(&[9; 24]);
    hello.extend_from_slice(DOWNGRADE_TLS12);
    hello.extend_from_slice(&[4, 1, 2, 3, 4, 0xc0, 0x2f, 0, 0, 0]);
    let mut list = Vec::new();
    for c in certs {
        list.extend_from_slice(&u24(c.len()));
        list.extend_from_slice(c);
    }
    let mut body = u24(list.len()).to_vec();
    body.extend_from_slice(&list);
    let mut out = message(SERVER_HELLO, &hello);
    out.extend(message(CERTIFICATE, &body));
    out.extend(message(14, &[]));
    out
}

/// Cut a handshake stream into records of at most `size` bytes.
fn records(kind: u8, data: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(size) {
        out.extend_from_slice(&[kind, 3, 3]);
        put_vec16(&mut out, chunk);
    }
    out
}

#[test]
fn certificates_from_fragmented_and_coalesced_records() {
    let big = vec![0x30; 5000];
    let stream = flight(&[b"leaf-der", &big, b"root"]);
    for size in [1, 2, 7, 100, 4096, MAX_RECORD] {
        let mut bytes = records(ALERT, &[WARNING, 112], 2); // unrecognized_name: skipped
        bytes.extend(records(HANDSHAKE, &message(HELLO_REQUEST, &[]), 4));
        bytes.extend(records(HANDSHAKE, &stream, size));
        let chain = read_chain(&mut bytes.as_slice()).expect("chain");
        assert_eq!(
            chain.certs,
            [b"leaf-der".to_vec(), big.clone(), b"root".to_vec()]
        );
        assert_eq!(chain.cipher_suite, 0xc02f);
        assert!(chain.tls13_capable);
    }
}

fn fails(bytes: &[u8]) -> String {
    read_chain(&mut &bytes[..])
        .expect_err("must fail")
        .to_string()
}

#[test]
fn refusals_and_garbage_are_clear_errors() {
    let tls13_only = fails(&records(ALERT, &[2, PROTOCOL_VERSION], 2));
    assert!(
        tls13_only.contains("refuses TLS 1.2 (alert protocol_version)"),
        "{tls13_only}"
    );
    assert_eq!(
        fails(&records(ALERT, &[2, 40], 2)),
        "the server sent alert 40 (handshake_failure)"
    );
    let http = fails(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    assert!(
        http.starts_with("protocol error: not a TLS server"),
        "{http}"
    );
    let stream = flight(&[b"leaf"]);
    assert!(fails(&records(HANDSHAKE, &stream[..50], 10)).contains("closed"));
    let cert_first = &stream[stream.len() - 4 - 10 - 4..];
    assert!(fails(&records(HANDSHAKE, cert_first, 100)).contains("ServerHello (2) was due"));
    let mut tls11 = stream.clone();
    tls11[5] = 2;
    assert!(fails(&records(HANDSHAKE, &tls11, 100)).contains("version 0x0302"));
    assert!(fails(&records(HANDSHAKE, &flight(&[]), 100)).contains("no certificate"));
    assert!(fails(&[HANDSHAKE, 3, 3, 0x40, 1]).contains("record of 16385 bytes"));
    assert!(fails(&records(CHANGE_CIPHER_SPEC, &[1], 1)).contains("record type 20"));
    // A message claiming 1 MiB, and a stream of 64 KiB without a certificate.
    assert_eq!(
        fails(&records(HANDSHAKE, &[CERTIFICATE, 16, 0, 0], 4)),
        TlsError::TooLarge.to_string()
    );
    let filler = records(HANDSHAKE, &[0; MAX_HANDSHAKE], MAX_RECORD);
    assert_eq!(fails(&filler), TlsError::TooLarge.to_string());
}

#[test]
fn silent_and_absent_servers() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    let started = Instant::now();
    let err = fetch_chain(addr, "www.example.test", Duration::from_millis(300));
    assert!(matches!(err, Err(TlsError::Timeout(_))), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    drop(listener);
    let err = fetch_chain(addr, "www.example.test", Duration::from_millis(300));
    assert!(matches!(err, Err(TlsError::Connect(_))), "{err:?}");
}
