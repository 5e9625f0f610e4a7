//! Loopback ports for the servers tests start: a process-wide counter from
//! a pid-derived start, each port checked free on TCP and UDP before use,
//! so that tests running in parallel (threads of one test binary, or
//! several test binaries at once) do not get the same port.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now (TCP and UDP on 127.0.0.1) and that no
/// other call in this process will return again. A server started on it
/// can still lose it to another process in between: fixtures that can,
/// retry with a fresh port.
pub fn free_port() -> u16 {
    // 10000..30000 stays below Linux's ephemeral range (32768..), so outgoing
    // connections never sit on our ports; the pid-derived start keeps several
    // test binaries running at once apart.
    const LO: u32 = 10_000;
    const SPAN: u32 = 20_000;
    let base = std::process::id().wrapping_mul(7919) % SPAN;
    loop {
        let n = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        assert!(n < SPAN, "free_port: ran out of loopback ports");
        let port = (LO + (base + n) % SPAN) as u16;
        if port_is_free(port) {
            return port;
        }
    }
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
        && UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}
