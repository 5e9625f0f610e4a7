//! Hostile servers, scripted on loopback: one that stalls, one that talks
//! garbage, one that closes early, one that refuses STARTTLS, one that
//! sends an endless line. Each must end within the probe's bounds with one
//! line naming the step.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use certdrop_probe::{ErrorKind, ProbeError, Protocol};

use crate::{assert_line, probe_bounded};

/// The probe's deadline in these tests: short, so a stall costs little.
const DEADLINE: Duration = Duration::from_millis(1500);
/// How long past its deadline a probe may take on a busy machine.
const SLACK: Duration = Duration::from_secs(5);

/// A server on a loopback port that runs `script` on its first connection.
struct Scripted {
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Scripted {
    fn start(script: impl FnOnce(TcpStream) + Send + 'static) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let thread = std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                script(stream);
            }
        });
        Scripted {
            port,
            thread: Some(thread),
        }
    }

    /// Probe it by `protocol` within [`DEADLINE`] and `max_bytes`; it must
    /// fail, within the deadline and some slack.
    fn probe(mut self, protocol: Protocol, max_bytes: usize) -> ProbeError {
        let start = Instant::now();
        let err = probe_bounded(self.port, protocol, DEADLINE, max_bytes).expect_err("hostile");
        let took = start.elapsed();
        assert!(took < DEADLINE + SLACK, "took {took:?}: {err}");
        if let Some(t) = self.thread.take() {
            t.join().expect("script");
        }
        err
    }
}

/// Read what the client sends until it hangs up or the test is over.
fn drain(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(DEADLINE + SLACK));
    let mut buf = [0u8; 4096];
    while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
}

#[test]
fn tls_stall_ends_at_the_deadline() {
    let err = Scripted::start(drain).probe(Protocol::Tls, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_line(
        &err,
        &["(hostile.example.test): tls: TLS handshake timed out"],
    );
}

#[test]
fn tls_garbage_is_not_tls() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        drain(s);
    })
    .probe(Protocol::Tls, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Tls, "{err}");
    assert_line(&err, &["tls: TLS handshake failed"]);
}

#[test]
fn tls_early_close() {
    let err = Scripted::start(drop).probe(Protocol::Tls, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Closed, "{err}");
    assert_line(&err, &["tls: TLS handshake cut short: connection"]);
}

/// Read one line from the client (up to LF), or nothing if it hung up.
fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = s.read(&mut b) {
        line.push(b[0]);
        if b[0] == b'\n' {
            break;
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// An SMTP server that greets, answers EHLO with STARTTLS, then answers
/// STARTTLS with `answer` and runs `after`.
fn smtp_until_starttls(answer: &'static [u8], after: fn(TcpStream)) -> Scripted {
    Scripted::start(move |mut s| {
        let _ = s.write_all(b"220 mx.example.test ESMTP\r\n");
        assert!(
            read_line(&mut s).starts_with("EHLO ["),
            "EHLO with an address literal"
        );
        let _ = s.write_all(b"250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n");
        assert_eq!(read_line(&mut s), "STARTTLS\r\n");
        let _ = s.write_all(answer);
        after(s);
    })
}

#[test]
fn smtp_stall_ends_at_the_deadline() {
    let err = Scripted::start(drain).probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_line(
        &err,
        &["(hostile.example.test): smtp: greeting timed out: no answer within"],
    );
}

#[test]
fn a_slow_drip_is_stopped_by_the_whole_deadline() {
    // A byte every 100 ms never lets one read time out: only the probe's
    // one deadline stops it.
    let err = Scripted::start(|mut s| {
        let start = Instant::now();
        while start.elapsed() < DEADLINE + SLACK && s.write_all(b"2").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_line(&err, &["smtp: greeting timed out"]);
}

#[test]
fn smtp_garbage_greeting() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"\x16\x03\x01\x00\x05hello\r\n");
        drain(s);
    })
    .probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Garbage, "{err}");
    assert_line(
        &err,
        &["smtp: greeting not understood: \"\\u{16}\\u{3}\\u{1}\\0\\u{5}hello\""],
    );
}

#[test]
fn smtp_close_after_the_greeting() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"220 mx.example.test ESMTP\r\n");
        let _ = read_line(&mut s);
    })
    .probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Closed, "{err}");
    assert_line(&err, &["smtp: EHLO cut short: connection"]);
}

#[test]
fn smtp_starttls_refused() {
    let err = smtp_until_starttls(b"454 4.7.0 TLS not available\r\n", drain)
        .probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    let port = err.endpoint.clone();
    assert_eq!(
        err.to_string(),
        format!("{port}: smtp: STARTTLS refused: 454 4.7.0 TLS not available")
    );
}

#[test]
fn smtp_endless_line_hits_the_byte_budget() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"220-");
        let chunk = [b'x'; 4096];
        let start = Instant::now();
        while start.elapsed() < DEADLINE + SLACK && s.write_all(&chunk).is_ok() {}
    })
    .probe(Protocol::Smtp, 64 * 1024);
    assert_eq!(err.kind, ErrorKind::TooLong, "{err}");
    assert_line(
        &err,
        &["smtp: greeting too long: more than 65536 bytes read"],
    );
}

#[test]
fn smtp_endless_multiline_reply_hits_the_byte_budget() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"220 hi\r\n");
        let _ = read_line(&mut s);
        let start = Instant::now();
        while start.elapsed() < DEADLINE + SLACK && s.write_all(b"250-AGAIN\r\n").is_ok() {}
    })
    .probe(Protocol::Smtp, 64 * 1024);
    assert_eq!(err.kind, ErrorKind::TooLong, "{err}");
    assert_line(&err, &["smtp: EHLO too long"]);
}

#[test]
fn bytes_after_the_go_ahead_are_refused() {
    // Whatever follows "220 go ahead" before our ClientHello is not TLS
    // (the server speaks second); taking it would let it be injected.
    let err = smtp_until_starttls(b"220 go ahead\r\n\x16\x03\x03junk", drain)
        .probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Garbage, "{err}");
    assert_line(
        &err,
        &["smtp: TLS handshake not understood: data after the go-ahead"],
    );
}

#[test]
fn a_stall_after_starttls_is_a_handshake_timeout() {
    let err = smtp_until_starttls(b"220 go ahead\r\n", drain).probe(Protocol::Smtp, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_line(&err, &["smtp: TLS handshake timed out"]);
}

#[test]
fn imap_starttls_refused() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n");
        let line = read_line(&mut s);
        let _ = s.write_all(format!("{} NO [UNAVAILABLE] TLS broken\r\n", &line[..2]).as_bytes());
        drain(s);
    })
    .probe(Protocol::Imap, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert_line(
        &err,
        &["imap: STARTTLS refused: a2 NO [UNAVAILABLE] TLS broken"],
    );
}

#[test]
fn imap_without_starttls_is_not_offered() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"* OK ready\r\n");
        let _ = read_line(&mut s);
        let _ = s.write_all(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na1 OK done\r\n");
        drain(s);
    })
    .probe(Protocol::Imap, 1 << 16);
    assert_eq!(err.kind, ErrorKind::NotOffered, "{err}");
    assert_line(
        &err,
        &["imap: STARTTLS not offered: CAPABILITY IMAP4rev1 AUTH=PLAIN"],
    );
}

#[test]
fn pop3_stls_refused() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"+OK POP3 ready\r\n");
        let _ = read_line(&mut s);
        let _ = s.write_all(b"-ERR TLS support isn't enabled.\r\n");
        drain(s);
    })
    .probe(Protocol::Pop3, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert_line(
        &err,
        &["pop3: STLS refused: -ERR TLS support isn't enabled."],
    );
}

#[test]
fn sieve_starttls_refused() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"\"IMPLEMENTATION\" \"x\"\r\n\"SASL\" {5}\r\nOK hi\r\n\"STARTTLS\"\r\nOK \"ready\"\r\n");
        let _ = read_line(&mut s);
        let _ = s.write_all(b"NO \"TLS not configured\"\r\n");
        drain(s);
    })
    .probe(Protocol::Sieve, 1 << 16);
    // The literal "OK hi" is skipped whole, not taken for the greeting's end.
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert_line(
        &err,
        &["sieve: STARTTLS refused: NO \"TLS not configured\""],
    );
}

#[test]
fn ldap_garbage_and_huge_answers() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"220 this is SMTP\r\n");
        drain(s);
    })
    .probe(Protocol::Ldap, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Garbage, "{err}");
    assert_line(
        &err,
        &["ldap: StartTLS not understood: not an LDAP ExtendedResponse: \"22"],
    );

    // A SEQUENCE that announces 16 MB: refused before anything is read.
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(&[0x30, 0x84, 0x01, 0x00, 0x00, 0x00]);
        drain(s);
    })
    .probe(Protocol::Ldap, 1 << 16);
    assert_eq!(err.kind, ErrorKind::TooLong, "{err}");
    assert_line(
        &err,
        &["ldap: StartTLS too long: a response of 16777216 bytes"],
    );
}

#[test]
fn xmpp_failure_and_endless_features() {
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
              xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
              <stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>",
        );
        // The client's stream header and its <starttls/> may arrive in
        // one read or several (a busy machine coalesces them): read until
        // the request is there, not a fixed number of reads.
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while !seen.windows(9).any(|w| w == b"<starttls") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        let _ = s.write_all(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>");
        drain(s);
    })
    .probe(Protocol::XmppClient, 1 << 16);
    assert_eq!(err.kind, ErrorKind::Refused, "{err}");
    assert_line(&err, &["xmpp-client: STARTTLS refused: <failure"]);

    // Features that never end.
    let err = Scripted::start(|mut s| {
        let _ = s.write_all(b"<stream:stream version='1.0'><stream:features>");
        let start = Instant::now();
        while start.elapsed() < DEADLINE + SLACK && s.write_all(b"<x/>").is_ok() {}
    })
    .probe(Protocol::XmppServer, 64 * 1024);
    assert_eq!(err.kind, ErrorKind::TooLong, "{err}");
    assert_line(
        &err,
        &["xmpp-server: features too long: more than 65536 bytes read"],
    );
}
