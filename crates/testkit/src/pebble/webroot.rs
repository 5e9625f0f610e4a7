//! A tiny HTTP/1.1 server for http-01: GET /.well-known/acme-challenge/<token> -> dir/<token>.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const PREFIX: &str = "/.well-known/acme-challenge/";

/// A running webroot server on a loopback address; stops on Drop.
pub struct WebServer {
    /// The port it listens on.
    pub port: u16,
    /// The directory it serves tokens from.
    pub dir: PathBuf,
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<(String, u16)>>>,
    thread: Option<JoinHandle<()>>,
}

/// Serve `dir/<token>` at `GET http://127.0.0.1:port/.well-known/acme-challenge/<token>` (200, else 404; token must be base64url) in a background thread.
pub fn serve_webroot(dir: &Path, port: u16) -> WebServer {
    serve_webroot_on(dir, IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

/// [`serve_webroot`] on another loopback address, e.g. `::1` for an http-01
/// validation of the IP identifier `::1` (RFC 8738: the CA dials the
/// address itself).
pub fn serve_webroot_on(dir: &Path, ip: IpAddr, port: u16) -> WebServer {
    let listener = TcpListener::bind((ip, port))
        .unwrap_or_else(|e| panic!("serve_webroot: bind {ip} port {port}: {e}"));
    listener.set_nonblocking(true).expect("set_nonblocking");
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(Mutex::new(Vec::new()));
    let (d, s, h) = (dir.to_path_buf(), stop.clone(), hits.clone());
    let thread = std::thread::Builder::new()
        .name(format!("webroot-{port}"))
        .spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (d, h) = (d.clone(), h.clone());
                        std::thread::spawn(move || {
                            let _ = handle(conn, &d, &h);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
        .expect("spawn webroot thread");
    WebServer {
        port,
        dir: dir.to_path_buf(),
        stop,
        hits,
        thread: Some(thread),
    }
}

impl WebServer {
    /// Requests served so far, as (path, status), in order.
    pub fn hits(&self) -> Vec<(String, u16)> {
        self.hits
            .lock()
            .expect("no holder of this lock panics")
            .clone()
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn is_token(t: &str) -> bool {
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn handle(mut conn: TcpStream, dir: &Path, hits: &Mutex<Vec<(String, u16)>>) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk)?;
        if n == 0 || buf.len() > 16 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let path = target.split('?').next().unwrap_or("").to_string();

    let (status, body): (u16, Vec<u8>) = if method != "GET" && method != "HEAD" {
        (405, b"method not allowed\n".to_vec())
    } else {
        match path.strip_prefix(PREFIX) {
            Some(tok) if is_token(tok) => match std::fs::read(dir.join(tok)) {
                Ok(b) => (200, b),
                Err(_) => (404, b"not found\n".to_vec()),
            },
            _ => (404, b"not found\n".to_vec()),
        }
    };
    hits.lock()
        .expect("no holder of this lock panics")
        .push((path, status));
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let mut resp = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        resp.extend_from_slice(&body);
    }
    conn.write_all(&resp)?;
    conn.flush()
}
