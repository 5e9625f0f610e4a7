//! certdrop-tlsfetch: the certificate chain a TLS server presents, read
//! without a TLS library.
//!
//! The privilege manifests of certdrop-zone and certdrop-trigger forbid TLS
//! libraries (rustls, ring, aws-lc-rs, ...: `.ci/deps-check`), yet
//! `certdrop-zone verify` and the trigger's post-flight check must see the
//! certificate a server serves. TLS 1.2 sends it in clear: after our
//! ClientHello the server answers ServerHello, then its Certificate
//! message, both plaintext handshake records (RFC 5246 §7.3, §7.4.2),
//! before any key is agreed. So no cryptography is needed to read it. We
//! offer TLS 1.2 only (version 0x0303, no supported_versions extension),
//! read records until the Certificate message is complete, take the DER
//! certificates out of it and hang up. The handshake is never finished and
//! nothing from it is trusted but those bytes, which the caller compares
//! with what it trusts (DNSSEC-signed TLSA data, RFC 6698; the certificate
//! file it deployed): the server's signature, key exchange and Finished
//! are never seen, and need not be.
//!
//! A TLS 1.3-only server encrypts its Certificate message (RFC 8446 §4.4.2)
//! and answers our ClientHello with a protocol_version alert: that becomes
//! [`TlsError::NoTls12`], a clear error rather than a mismatch.
//!
//! Everything is bounded: the connect and the whole read by the caller's
//! timeout, the bytes read by [`MAX_HANDSHAKE`], a record by the TLS
//! plaintext limit of 2^14 bytes.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Most bytes read from the server before its Certificate message is complete.
pub const MAX_HANDSHAKE: usize = 64 * 1024;
/// Largest TLSPlaintext fragment: 2^14 bytes (RFC 5246 §6.2.1).
const MAX_RECORD: usize = 1 << 14;
/// ProtocolVersion of TLS 1.2 (RFC 5246 §6.2.1): the only one we offer.
const TLS12: u16 = 0x0303;
/// Record content types (RFC 5246 §6.2.1, RFC 6520).
const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
/// Handshake message types (RFC 5246 §7.4).
const HELLO_REQUEST: u8 = 0;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
/// Alert levels and descriptions (RFC 5246 §7.2).
const WARNING: u8 = 1;
const CLOSE_NOTIFY: u8 = 0;
const PROTOCOL_VERSION: u8 = 70;
/// Extension types (RFC 6066 §3, RFC 8422 §5.1, RFC 5246 §7.4.1.4.1, RFC 5746 §3.2).
const EXT_SERVER_NAME: u16 = 0;
const EXT_SUPPORTED_GROUPS: u16 = 10;
const EXT_EC_POINT_FORMATS: u16 = 11;
const EXT_SIGNATURE_ALGORITHMS: u16 = 13;
const EXT_RENEGOTIATION_INFO: u16 = 0xff01;
/// Last 8 bytes of a TLS 1.3-capable server's random when it negotiates TLS 1.2 (RFC 8446 §4.1.3).
const DOWNGRADE_TLS12: &[u8; 8] = b"DOWNGRD\x01";
/// What we send once we have the certificate: warning user_canceled, then
/// close_notify (RFC 5246 §7.2.1), in clear since no keys were agreed.
const HANG_UP: [u8; 14] = [21, 3, 3, 0, 2, 1, 90, 21, 3, 3, 0, 2, 1, 0];

/// Cipher suites offered, all with server certificates: ECDHE-ECDSA/RSA
/// with AES-GCM and ChaCha20-Poly1305 first (RFC 5289, RFC 7905), then DHE
/// and CBC suites so that older servers answer too (RFC 5246 §A.5, RFC 8422).
pub const CIPHER_SUITES: &[u16] = &[
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, // ECDHE AES-GCM, CHACHA20
    0x009e, 0x009f, 0xccaa, // DHE-RSA AES-GCM, CHACHA20
    0xc023, 0xc027, 0xc024, 0xc028, 0xc009, 0xc013, 0xc00a, 0xc014, // ECDHE CBC
    0x009c, 0x009d, 0x003c, 0x002f, 0x0035, // RSA key transport
];
/// Groups offered: x25519, secp256r1, secp384r1 (RFC 8422 §5.1.1).
const GROUPS: &[u16] = &[0x001d, 0x0017, 0x0018];
/// Signature algorithms (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3 code points):
/// they steer which certificate a server with several (RSA, ECDSA) presents.
const SIGNATURE_ALGORITHMS: &[u16] = &[
    0x0403, 0x0503, 0x0603, 0x0807, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201,
];

/// Why no certificate chain could be read (RFC 5246 §6, §7).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The TCP connection could not be opened.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// Connecting or reading took longer than the timeout.
    #[error("no TLS answer within {0:?}")]
    Timeout(Duration),
    /// A socket operation failed.
    #[error("{0}: {1}")]
    Io(&'static str, io::Error),
    /// The server closed the connection before its Certificate message.
    #[error("the server closed the connection before sending its certificate")]
    Closed,
    /// Alert protocol_version (RFC 5246 §7.2.2): typically a TLS 1.3-only server.
    #[error("the server refuses TLS 1.2 (alert protocol_version), probably TLS 1.3 only: its certificate is then encrypted and cannot be read without a TLS library")]
    NoTls12,
    /// Any other fatal alert (RFC 5246 §7.2), e.g. 40 handshake_failure: no common cipher suite.
    #[error("the server sent alert {0} ({name})", name = alert_name(*.0))]
    Alert(u8),
    /// Bytes that break RFC 5246: not TLS, out of order, malformed.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// More than [`MAX_HANDSHAKE`] bytes arrived before the certificate.
    #[error("more than {MAX_HANDSHAKE} bytes before the certificate")]
    TooLarge,
}

/// What the server presented (RFC 5246 §7.4.1.3, §7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedChain {
    /// DER certificates, the server's own first, as sent.
    pub certs: Vec<Vec<u8>>,
    /// The cipher suite the server chose.
    pub cipher_suite: u16,
    /// The server signalled that it also speaks TLS 1.3 (RFC 8446 §4.1.3).
    pub tls13_capable: bool,
}

/// Connect to `addr`, send a TLS 1.2 ClientHello with SNI `server_name`,
/// and return the certificate chain the server sends (RFC 5246 §7.4.2).
///
/// `timeout` bounds the connect and, separately, everything read after it.
pub fn fetch_chain(
    addr: SocketAddr,
    server_name: &str,
    timeout: Duration,
) -> Result<ServedChain, TlsError> {
    let hello = client_hello(server_name, &client_random())?;
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TlsError::Timeout(timeout),
        _ => TlsError::Connect(e),
    })?;
    // Nagle would only delay the one small write; failing to disable it costs latency.
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| TlsError::Io("set timeout", e))?;
    (&stream)
        .write_all(&hello)
        .map_err(|e| TlsError::Io("send ClientHello", e))?;
    let mut reader = Deadline {
        stream: &stream,
        until: Instant::now() + timeout,
    };
    let result = read_chain(&mut reader).map_err(|e| match e {
        TlsError::Io(_, io) if matches!(io.kind(), io::ErrorKind::TimedOut) => {
            TlsError::Timeout(timeout)
        }
        other => other,
    });
    // We never finish the handshake: say so and hang up; the server may be gone already.
    let _ = (&stream).write_all(&HANG_UP);
    let _ = stream.shutdown(Shutdown::Both);
    result
}

/// A TLS 1.2 ClientHello in one handshake record (RFC 5246 §7.4.1.2) with
/// server_name (RFC 6066 §3; left out for an IP literal, which SNI does not
/// allow), supported_groups and ec_point_formats (RFC 8422 §5.1),
/// signature_algorithms (RFC 5246 §7.4.1.4.1), renegotiation_info (RFC 5746
/// §3.4); no supported_versions (RFC 8446 §4.2.1), so TLS 1.2 is all we offer.
pub fn client_hello(server_name: &str, random: &[u8; 32]) -> Result<Vec<u8>, TlsError> {
    let host = server_name.trim_end_matches('.').to_ascii_lowercase();
    let mut ext = Vec::new();
    if host.parse::<IpAddr>().is_err() {
        if host.is_empty() || host.len() > 255 || !host.is_ascii() {
            return Err(TlsError::Protocol(format!(
                "server name {server_name:?} cannot be sent as SNI"
            )));
        }
        let mut list = vec![0]; // name_type host_name
        put_vec16(&mut list, host.as_bytes());
        let mut data = Vec::new();
        put_vec16(&mut data, &list);
        put_ext(&mut ext, EXT_SERVER_NAME, &data);
    }
    put_ext(&mut ext, EXT_SUPPORTED_GROUPS, &u16_list(GROUPS));
    put_ext(&mut ext, EXT_EC_POINT_FORMATS, &[1, 0]); // uncompressed only
    put_ext(
        &mut ext,
        EXT_SIGNATURE_ALGORITHMS,
        &u16_list(SIGNATURE_ALGORITHMS),
    );
    put_ext(&mut ext, EXT_RENEGOTIATION_INFO, &[0]); // initial handshake: empty
    let mut body = TLS12.to_be_bytes().to_vec();
    body.extend_from_slice(random);
    body.push(0); // no session to resume
    body.extend_from_slice(&u16_list(CIPHER_SUITES));
    body.extend_from_slice(&[1, 0]); // compression: null only
    put_vec16(&mut body, &ext);
    let mut msg = vec![CLIENT_HELLO];
    msg.extend_from_slice(&u24(body.len()));
    msg.extend_from_slice(&body);
    let mut record = vec![HANDSHAKE];
    record.extend_from_slice(&TLS12.to_be_bytes());
    put_vec16(&mut record, &msg);
    Ok(record)
}

/// Read records until the Certificate message is complete (RFC 5246 §6.2.1,
/// §7.4): handshake messages may span records and share them; warning
/// alerts other than close_notify are skipped; anything else ends the read.
fn read_chain(reader: &mut impl Read) -> Result<ServedChain, TlsError> {
    let mut handshake: Vec<u8> = Vec::new();
    let mut hello: Option<(u16, bool)> = None;
    let mut received = 0usize;
    let mut fragment = vec![0u8; MAX_RECORD];
    loop {
        let mut header = [0u8; 5];
        fill(reader, &mut header)?;
        let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if !(CHANGE_CIPHER_SPEC..=24).contains(&header[0]) || header[1] != 3 {
            return Err(TlsError::Protocol(format!(
                "not a TLS server: it answered {:?}",
                String::from_utf8_lossy(&header)
            )));
        }
        if len > MAX_RECORD {
            return Err(TlsError::Protocol(format!("record of {len} bytes")));
        }
        received += header.len() + len;
        if received > MAX_HANDSHAKE {
            return Err(TlsError::TooLarge);
        }
        let fragment = &mut fragment[..len];
        fill(reader, fragment)?;
        match header[0] {
            HANDSHAKE if len == 0 => {
                return Err(TlsError::Protocol("empty handshake record".into()))
            }
            HANDSHAKE => handshake.extend_from_slice(fragment),
            ALERT => match *fragment {
                [_, CLOSE_NOTIFY] => return Err(TlsError::Closed),
                [_, PROTOCOL_VERSION] => return Err(TlsError::NoTls12),
                [WARNING, _] => continue,
                [_, description] => return Err(TlsError::Alert(description)),
                _ => return Err(TlsError::Protocol("malformed alert".into())),
            },
            other => {
                return Err(TlsError::Protocol(format!(
                    "record type {other} before the certificate"
                )))
            }
        }
        while handshake.len() >= 4 {
            let len = usize::from(handshake[1]) << 16
                | usize::from(handshake[2]) << 8
                | usize::from(handshake[3]);
            if len > MAX_HANDSHAKE {
                return Err(TlsError::TooLarge);
            }
            if handshake.len() < 4 + len {
                break;
            }
            let message: Vec<u8> = handshake.drain(..4 + len).collect();
            let body = &message[4..];
            match (message[0], hello) {
                (HELLO_REQUEST, _) => {} // ignored while negotiating (§7.4.1.1)
                (SERVER_HELLO, None) => hello = Some(server_hello(body)?),
                (CERTIFICATE, Some((cipher_suite, tls13_capable))) => {
                    return Ok(ServedChain {
                        certs: certificate_list(body)?,
                        cipher_suite,
                        tls13_capable,
                    })
                }
                (kind, _) => {
                    return Err(TlsError::Protocol(format!(
                        "handshake message {kind} where {} was due",
                        if hello.is_some() {
                            "Certificate (11)"
                        } else {
                            "ServerHello (2)"
                        }
                    )))
                }
            }
        }
    }
}

/// The chosen cipher suite and the TLS 1.3 downgrade sentinel from a ServerHello (RFC 5246 §7.4.1.3).
fn server_hello(body: &[u8]) -> Result<(u16, bool), TlsError> {
    let bad = |why: &str| TlsError::Protocol(format!("ServerHello: {why}"));
    if body.len() < 35 {
        return Err(bad("too short"));
    }
    let version = u16::from_be_bytes([body[0], body[1]]);
    if version != TLS12 {
        return Err(bad(&format!(
            "version {version:#06x}, but only TLS 1.2 ({TLS12:#06x}) was offered"
        )));
    }
    let tls13_capable = &body[26..34] == DOWNGRADE_TLS12;
    let session = usize::from(body[34]);
    let rest = body.get(35 + session..).ok_or_else(|| bad("truncated"))?;
    let [a, b, compression, ..] = *rest else {
        return Err(bad("truncated"));
    };
    let suite = u16::from_be_bytes([a, b]);
    if !CIPHER_SUITES.contains(&suite) || compression != 0 {
        return Err(bad(&format!(
            "cipher suite {suite:#06x} / compression {compression} was not offered"
        )));
    }
    Ok((suite, tls13_capable))
}

/// The DER certificates of a Certificate message, sender's first (RFC 5246 §7.4.2).
fn certificate_list(body: &[u8]) -> Result<Vec<Vec<u8>>, TlsError> {
    let bad = |why: &str| TlsError::Protocol(format!("Certificate: {why}"));
    let (total, mut rest) = read_u24(body).ok_or_else(|| bad("truncated"))?;
    if total != rest.len() {
        return Err(bad("list length does not match the message"));
    }
    let mut certs = Vec::new();
    while !rest.is_empty() {
        let (len, after) = read_u24(rest).ok_or_else(|| bad("truncated"))?;
        if len == 0 || len > after.len() {
            return Err(bad("bad certificate length"));
        }
        certs.push(after[..len].to_vec());
        rest = &after[len..];
    }
    if certs.is_empty() {
        return Err(bad("the server sent no certificate"));
    }
    Ok(certs)
}

/// `read_exact` that names what went wrong: a close, a timeout, an error.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), TlsError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => TlsError::Closed,
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            TlsError::Io("read", io::ErrorKind::TimedOut.into())
        }
        _ => TlsError::Io("read", e),
    })
}

/// A stream whose reads all end by one instant.
struct Deadline<'s> {
    stream: &'s TcpStream,
    until: Instant,
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut stream: &TcpStream = self.stream;
        stream.read(buf)
    }
}

/// 32 bytes for ClientHello.random without a rand crate: SipHash with std's
/// random keys over a counter and the clock. They need not be secret: no key
/// is ever derived from this handshake.
fn client_random() -> [u8; 32] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(nanos);
        chunk.copy_from_slice(&h.finish().to_be_bytes());
    }
    out
}

fn u24(n: usize) -> [u8; 3] {
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

fn read_u24(b: &[u8]) -> Option<(usize, &[u8])> {
    let [a, b2, c, ..] = *b else { return None };
    Some((
        usize::from(a) << 16 | usize::from(b2) << 8 | usize::from(c),
        &b[3..],
    ))
}

/// A vector with a two-byte length (RFC 5246 §4.3).
fn put_vec16(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
}

fn put_ext(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    put_vec16(out, data);
}

/// A two-byte-length list of 16-bit values (cipher suites, groups, schemes).
fn u16_list(items: &[u16]) -> Vec<u8> {
    let bytes: Vec<u8> = items.iter().flat_map(|v| v.to_be_bytes()).collect();
    let mut out = Vec::new();
    put_vec16(&mut out, &bytes);
    out
}

/// Names of the alerts a server may send instead of its certificate (RFC 5246 §7.2, RFC 6066 §9).
fn alert_name(description: u8) -> &'static str {
    match description {
        10 => "unexpected_message",
        40 => "handshake_failure",
        47 => "illegal_parameter",
        50 => "decode_error",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        112 => "unrecognized_name",
        _ => "see RFC 5246 §7.2",
    }
}

#[cfg(test)]
mod tests;
