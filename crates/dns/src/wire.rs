//! The wire side of the DNS checks: one query, one response (RFC 1035 §4).
//!
//! Builds a non-recursive (RD=0) query with EDNS0 (RFC 6891), sends it over a
//! connected UDP socket with retransmits, falls back to TCP when the answer is
//! truncated, and accepts only a response whose random ID and question match
//! (RFC 5452). The record helpers then pick out of an accepted message what
//! the query functions of the crate root return: owned answers, NS sets,
//! referrals and glue addresses. Name parsing and printing live here too.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use crate::{DnsError, EDNS_UDP_PAYLOAD, UDP_RETRANSMIT_INTERVAL};

/// Size of the fixed DNS message header (RFC 1035 §4.1.1).
const HEADER_LEN: usize = 12;

/// Largest DNS message: TCP length prefix and UDP datagram limit (RFC 1035 §4.2.2).
const MAX_MESSAGE_LEN: usize = 65_535;

/// QR bit in the third header byte: set in responses (RFC 1035 §4.1.1).
const FLAG_QR: u8 = 0x80;

/// TC bit in the third header byte: the message was truncated (RFC 1035 §4.1.1).
const FLAG_TC: u8 = 0x02;

/// What a query is about, for error messages (RFC 1035 §4.1.2 question).
pub(crate) struct Ctx {
    server: SocketAddr,
    name: String,
    rtype: RecordType,
    timeout: Duration,
    deadline: Instant,
    /// Ask a resolver (RD=1, AD=1: RFC 6840 §5.7) instead of an authoritative server.
    pub(crate) recursive: bool,
}

impl Ctx {
    pub(crate) fn new(
        server: SocketAddr,
        qname: &Name,
        rtype: RecordType,
        timeout: Duration,
    ) -> Self {
        Ctx {
            server,
            name: absolute_lower(qname),
            rtype,
            timeout,
            deadline: Instant::now() + timeout,
            recursive: false,
        }
    }

    fn timeout(&self) -> DnsError {
        DnsError::Timeout {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            timeout: self.timeout,
        }
    }

    fn io(&self, action: &'static str, source: io::Error) -> DnsError {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return self.timeout();
        }
        DnsError::Io {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            action,
            source,
        }
    }

    pub(crate) fn malformed(&self, reason: String) -> DnsError {
        DnsError::Malformed {
            server: self.server,
            name: self.name.clone(),
            rtype: self.rtype,
            reason,
        }
    }

    fn remaining(&self) -> Option<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }
}

/// Outcome of the UDP leg (RFC 1035 §4.2.1).
pub(crate) enum UdpOutcome {
    Answer(Message),
    Truncated,
}

/// How one received message relates to our query (RFC 1035 §7.3).
enum Verdict {
    Accept(Message),
    Truncated,
    /// Not ours; the string says why if it claimed our ID.
    Ignore(Option<String>),
}

/// Parse a user-supplied name, with or without trailing dot, into an absolute lowercase name (RFC 1035 §2.3.1).
pub fn parse_name(name: &str) -> Result<Name, DnsError> {
    let invalid = |reason: String| DnsError::InvalidName {
        name: name.to_string(),
        reason,
    };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("empty name".to_string()));
    }
    if !trimmed.is_ascii() {
        return Err(invalid(
            "not ASCII; use the A-label (xn--) form".to_string(),
        ));
    }
    if trimmed != "." && trimmed.trim_end_matches('.').split('.').any(str::is_empty) {
        return Err(invalid("empty label".to_string()));
    }
    let absolute = if trimmed.ends_with('.') {
        trimmed.to_string()
    } else {
        format!("{trimmed}.")
    };
    let parsed = Name::from_ascii(&absolute).map_err(|e| invalid(e.to_string()))?;
    Ok(parsed.to_lowercase())
}

/// Name as absolute lowercase text with trailing dot (RFC 1034 §3.1).
pub fn absolute_lower(name: &Name) -> String {
    let mut lower = name.to_lowercase();
    lower.set_fqdn(true);
    lower.to_ascii()
}

/// A random query ID (RFC 5452 §4.3) without a rand crate: SipHash with std's random keys.
pub(crate) fn random_id() -> u16 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    if let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    (hasher.finish() & 0xffff) as u16
}

/// Encode a query, non-recursive (RD=0) unless the context asks a
/// resolver (RD=1 and AD=1, so a validating resolver says whether it
/// validated: RFC 6840 §5.7), optionally with an EDNS0 OPT record (RFC 1035
/// §4.1, RFC 6891 §6).
fn encode_query(ctx: &Ctx, id: u16, qname: &Name, edns: bool) -> Result<Vec<u8>, DnsError> {
    let mut msg = Message::new();
    msg.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(ctx.recursive)
        .set_authentic_data(ctx.recursive);
    let mut query = Query::query(qname.clone(), ctx.rtype);
    query.set_query_class(DNSClass::IN);
    msg.add_query(query);
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_UDP_PAYLOAD).set_version(0);
        msg.set_edns(opt);
    }
    msg.to_vec()
        .map_err(|e| ctx.malformed(format!("cannot encode query: {e}")))
}

/// Judge a received message against our ID and question (RFC 1035 §7.3, RFC 5452 §4).
fn judge(bytes: &[u8], id: u16, qname: &Name, rtype: RecordType) -> Verdict {
    if bytes.len() < HEADER_LEN
        || u16::from_be_bytes([bytes[0], bytes[1]]) != id
        || bytes[2] & FLAG_QR == 0
    {
        return Verdict::Ignore(None);
    }
    if bytes[2] & FLAG_TC != 0 {
        return Verdict::Truncated;
    }
    let msg = match Message::from_vec(bytes) {
        Ok(msg) => msg,
        Err(e) => return Verdict::Ignore(Some(format!("cannot decode: {e}"))),
    };
    if msg.message_type() != MessageType::Response || msg.op_code() != OpCode::Query {
        return Verdict::Ignore(Some("not a response to a standard query".to_string()));
    }
    let question_ok = match msg.queries() {
        [q] => q.name() == qname && q.query_type() == rtype && q.query_class() == DNSClass::IN,
        // Some servers drop the question from error responses (e.g. FORMERR).
        [] => !matches!(
            msg.response_code(),
            ResponseCode::NoError | ResponseCode::NXDomain
        ),
        _ => false,
    };
    if !question_ok {
        return Verdict::Ignore(Some(
            "question section does not match the query".to_string(),
        ));
    }
    Verdict::Accept(msg)
}

/// Send the query and read the response: UDP first, TCP on TC, plain DNS if EDNS gets FORMERR (RFC 1035 §4.2, RFC 6891 §7).
pub(crate) fn exchange(ctx: &Ctx, qname: &Name) -> Result<Message, DnsError> {
    let mut edns = true;
    loop {
        let msg = match exchange_udp(ctx, qname, edns)? {
            UdpOutcome::Answer(msg) => msg,
            UdpOutcome::Truncated => exchange_tcp(ctx, qname, edns)?,
        };
        if edns && msg.response_code() == ResponseCode::FormErr && msg.extensions().is_none() {
            edns = false;
            continue;
        }
        return Ok(msg);
    }
}

/// The UDP leg: connected socket, retransmit every [`UDP_RETRANSMIT_INTERVAL`], ignore foreign datagrams (RFC 1035 §4.2.1).
pub(crate) fn exchange_udp(ctx: &Ctx, qname: &Name, edns: bool) -> Result<UdpOutcome, DnsError> {
    let id = random_id();
    let query = encode_query(ctx, id, qname, edns)?;
    let local: SocketAddr = match ctx.server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).map_err(|e| ctx.io("bind UDP socket", e))?;
    socket
        .connect(ctx.server)
        .map_err(|e| ctx.io("connect UDP socket", e))?;
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let mut bad_response: Option<String> = None;
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= ctx.deadline {
            return Err(match bad_response {
                Some(reason) => ctx.malformed(reason),
                None => ctx.timeout(),
            });
        }
        if now >= next_send {
            socket
                .send(&query)
                .map_err(|e| ctx.io("send UDP query", e))?;
            next_send = now + UDP_RETRANSMIT_INTERVAL;
        }
        let wait = ctx
            .deadline
            .min(next_send)
            .saturating_duration_since(now)
            .max(Duration::from_millis(1));
        socket
            .set_read_timeout(Some(wait))
            .map_err(|e| ctx.io("set UDP timeout", e))?;
        match socket.recv(&mut buf) {
            Ok(len) => match judge(&buf[..len], id, qname, ctx.rtype) {
                Verdict::Accept(msg) => return Ok(UdpOutcome::Answer(msg)),
                Verdict::Truncated => return Ok(UdpOutcome::Truncated),
                Verdict::Ignore(Some(reason)) => bad_response = Some(reason),
                Verdict::Ignore(None) => {}
            },
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ctx.io("receive UDP response", e)),
        }
    }
}

/// The TCP leg: two-byte length prefix, one query, one response (RFC 1035 §4.2.2, RFC 7766 §8).
fn exchange_tcp(ctx: &Ctx, qname: &Name, edns: bool) -> Result<Message, DnsError> {
    let id = random_id();
    let query = encode_query(ctx, id, qname, edns)?;
    let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
    let mut stream =
        TcpStream::connect_timeout(&ctx.server, left).map_err(|e| ctx.io("connect TCP", e))?;
    // Nagle would delay the small query; failing to disable it only costs latency.
    let _ = stream.set_nodelay(true);
    let len = u16::try_from(query.len())
        .map_err(|_| ctx.malformed("query too long for TCP".to_string()))?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(&query);
    let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
    stream
        .set_write_timeout(Some(left))
        .map_err(|e| ctx.io("set TCP timeout", e))?;
    stream
        .write_all(&framed)
        .map_err(|e| ctx.io("send TCP query", e))?;
    let mut prefix = [0u8; 2];
    read_before_deadline(ctx, &mut stream, &mut prefix)?;
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    read_before_deadline(ctx, &mut stream, &mut body)?;
    match judge(&body, id, qname, ctx.rtype) {
        Verdict::Accept(msg) => Ok(msg),
        Verdict::Truncated => Err(ctx.malformed("TC set on a TCP response".to_string())),
        Verdict::Ignore(reason) => Err(ctx.malformed(
            reason.unwrap_or_else(|| "TCP response ID does not match the query".to_string()),
        )),
    }
}

/// Fill `buf` from the stream, never waiting past the query deadline (RFC 7766 §6.2.1).
fn read_before_deadline(ctx: &Ctx, stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), DnsError> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = ctx.remaining().ok_or_else(|| ctx.timeout())?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| ctx.io("set TCP timeout", e))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err(ctx.malformed("TCP connection closed mid-response".to_string())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ctx.io("receive TCP response", e)),
        }
    }
    Ok(())
}

/// NOERROR and NXDOMAIN are answers; every other RCODE is an error (RFC 1035 §4.1.1, RFC 2308 §2).
pub(crate) fn check_rcode(ctx: &Ctx, msg: &Message) -> Result<(), DnsError> {
    match msg.response_code() {
        ResponseCode::NoError | ResponseCode::NXDomain => Ok(()),
        rcode => Err(DnsError::Rcode {
            server: ctx.server,
            name: ctx.name.clone(),
            rtype: ctx.rtype,
            rcode,
        }),
    }
}

/// Owner of the NS records of a referral: no AA, no answers, NS in authority (RFC 1034 §4.3.2 step 3b).
pub(crate) fn referral_zone(msg: &Message) -> Option<String> {
    if msg.authoritative() || !msg.answers().is_empty() {
        return None;
    }
    msg.name_servers()
        .iter()
        .find(|r| r.record_type() == RecordType::NS)
        .map(|r| absolute_lower(r.name()))
}

/// Answer records of the asked type owned by exactly the asked name; referral is an error (RFC 1034 §4.3.2).
pub(crate) fn owned_answers<'m>(
    ctx: &Ctx,
    msg: &'m Message,
    qname: &Name,
) -> Result<Vec<&'m Record>, DnsError> {
    check_rcode(ctx, msg)?;
    if let Some(zone) = referral_zone(msg) {
        return Err(DnsError::NotAuthoritative {
            server: ctx.server,
            name: ctx.name.clone(),
            rtype: ctx.rtype,
            zone,
        });
    }
    Ok(msg
        .answers()
        .iter()
        .filter(|r| r.record_type() == ctx.rtype && r.name() == qname)
        .collect())
}

/// NS records of `zone`: answers, or the delegation in a referral's authority section (RFC 1034 §4.2.1).
pub(crate) fn ns_records<'m>(
    ctx: &Ctx,
    msg: &'m Message,
    zone: &Name,
) -> Result<Vec<&'m Record>, DnsError> {
    check_rcode(ctx, msg)?;
    let is_ns = |r: &&Record| r.record_type() == RecordType::NS && r.name() == zone;
    let answers: Vec<&Record> = msg.answers().iter().filter(is_ns).collect();
    if !answers.is_empty() || referral_zone(msg).is_none() {
        return Ok(answers);
    }
    Ok(msg.name_servers().iter().filter(is_ns).collect())
}

/// Target of an NS record as absolute lowercase text (RFC 1035 §3.3.11).
pub(crate) fn ns_target(record: &Record) -> Option<String> {
    match record.data() {
        RData::NS(ns) => Some(absolute_lower(&ns.0)),
        _ => None,
    }
}

/// Addresses of type `rtype` owned by `owner` in a section (RFC 1035 §3.4.1, RFC 3596 §2.2).
pub(crate) fn addr_records(section: &[Record], owner: &Name, rtype: RecordType) -> Vec<IpAddr> {
    section
        .iter()
        .filter(|r| r.record_type() == rtype && r.name() == owner)
        .filter_map(|r| match r.data() {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
            _ => None,
        })
        .collect()
}
