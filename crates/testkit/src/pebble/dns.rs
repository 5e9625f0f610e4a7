//! A minimal raw DNS TXT query over UDP (no resolver crate needed).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// Ask `server` (UDP) for TXT `name`; returns every TXT value in the answer section (CNAMEs the server followed included), each value's strings concatenated.
pub fn query_txt(server: SocketAddr, name: &str) -> io::Result<Vec<String>> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, format!("DNS: {m}"));
    let id: u16 = (std::process::id() as u16)
        ^ (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as u16)
            .unwrap_or(0));
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad DNS name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&[0, 16, 0, 1]); // TXT IN

    let sock = UdpSocket::bind(if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    })?;
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut buf = [0u8; 4096];
    let mut last_err = io::Error::new(io::ErrorKind::TimedOut, "DNS: no answer");
    for _ in 0..4 {
        sock.send_to(&q, server)?;
        let n = match sock.recv_from(&mut buf) {
            Ok((n, from)) if from == server => n,
            Ok(_) => continue,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        let r = &buf[..n];
        if r.len() < 12 || r[0..2] != id.to_be_bytes() {
            continue;
        }
        if r[2] & 0x02 != 0 {
            return Err(bad("truncated answer"));
        }
        let rcode = r[3] & 0x0f;
        if rcode != 0 && rcode != 3 {
            return Err(bad(&format!("rcode {rcode}")));
        }
        let qd = u16::from_be_bytes([r[4], r[5]]) as usize;
        let an = u16::from_be_bytes([r[6], r[7]]) as usize;
        let mut p = 12;
        for _ in 0..qd {
            p = skip_name(r, p).ok_or_else(|| bad("question"))? + 4;
        }
        let mut out = Vec::new();
        for _ in 0..an {
            p = skip_name(r, p).ok_or_else(|| bad("answer name"))?;
            let h = r.get(p..p + 10).ok_or_else(|| bad("answer header"))?;
            let typ = u16::from_be_bytes([h[0], h[1]]);
            let len = u16::from_be_bytes([h[8], h[9]]) as usize;
            p += 10;
            let rdata = r.get(p..p + len).ok_or_else(|| bad("rdata"))?;
            p += len;
            if typ == 16 {
                let mut v = Vec::new();
                let mut i = 0;
                while i < rdata.len() {
                    let l = rdata[i] as usize;
                    v.extend_from_slice(rdata.get(i + 1..i + 1 + l).ok_or_else(|| bad("txt"))?);
                    i += 1 + l;
                }
                out.push(String::from_utf8_lossy(&v).into_owned());
            }
        }
        return Ok(out);
    }
    Err(last_err)
}

fn skip_name(r: &[u8], mut p: usize) -> Option<usize> {
    loop {
        let l = *r.get(p)? as usize;
        if l == 0 {
            return Some(p + 1);
        }
        if l & 0xc0 == 0xc0 {
            return Some(p + 2);
        }
        p += 1 + l;
    }
}
