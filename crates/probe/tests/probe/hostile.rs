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
