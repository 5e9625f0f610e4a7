//! The fault-injecting ACME proxy (issue 11): a real [`Pebble`] behind a
//! small HTTPS proxy on a loopback port, which the test tells, per endpoint
//! and per request, to answer with an error, reset, stall, lose or rewrite.
//!
//! It terminates TLS with Pebble's own certificate (issued by the kit's
//! throwaway CA for 127.0.0.1, any port), so a client that trusts
//! `pebble.ca_bundle` only changes its directory URL to
//! [`FaultProxy::directory_url`]. Each request is forwarded to Pebble over
//! TLS with its Host header unchanged: Pebble builds every URL it answers
//! with (directory, Location, Link, order/authz/challenge URLs) and checks
//! the JWS `url` from that header (wfe.go `relativeEndpoint`), so the client
//! stays on the proxy and no body is rewritten.
//!
//! Every answer goes out with a Content-Length (chunked answers from Pebble,
//! such as the certificate chain, are de-chunked) and `Connection: close`:
//! one request per connection, so a fault hits exactly the request it was
//! meant for and a client never retries on a stale pooled connection.
//!
//! [`FaultProxy::in_front_of`] puts it in front of a Pebble started
//! elsewhere (the benchmark's), given its directory URL, certificate, key
//! and CA file; [`FaultProxy::set_random`] faults a seeded share of all
//! requests (see [`random`]). `certdrop-fault-proxy` is that, as a program.
//!
//! ```text
//! let pebble = Pebble::start(PebbleOpts::default());
//! let proxy = FaultProxy::start(&pebble);
//! proxy.inject(Endpoint::NewOrder, 0, 1, Fault::status(503).retry_after_secs(1));
//! // client config: directory = proxy.directory_url, ca_bundle = pebble.ca_bundle
//! assert_eq!(proxy.seen(Endpoint::NewOrder), 2);
//! assert_eq!(proxy.certificates_issued(), 1);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Pebble;

mod extend;
mod fault;
pub mod random;
mod wire;

pub use extend::RENEWAL_INFO_PATH;
pub use fault::{Answer, Endpoint, Fault, Problem, RetryAfter, Rewrite, Subproblem};
use random::Roller;
pub use random::{RandomFault, RandomFaults};

pub use wire::http_date;
use wire::{is_framing, read_answer, read_request, write_answer, Request};

/// How often a stalled connection looks whether it should end.
const STALL_TICK: Duration = Duration::from_millis(20);

/// One armed fault: skip `skip` more requests, then apply to `count`.
struct Armed {
    skip: u32,
    count: u32,
    fault: Fault,
}

#[derive(Default)]
struct State {
    armed: BTreeMap<Endpoint, Vec<Armed>>,
    seen: BTreeMap<Endpoint, u32>,
    /// Every request in arrival order, with when it came.
    log: Vec<(Instant, Endpoint)>,
    /// newOrder answers Pebble gave with 201 (orders created at the CA).
    orders: u32,
    /// finalize answers Pebble gave with 200 (certificates issued at the CA).
    finalized: u32,
    /// Distinct certificate URLs Pebble served with 200.
    downloaded: BTreeSet<String>,
    /// Requests that could not be relayed (for debugging a failing test).
    errors: Vec<String>,
    /// The random mode, if on: asked when no armed fault applies.
    random: Option<Roller>,
    /// Every fault applied, in order: when, to which endpoint, which fault.
    applied: Vec<(Instant, Endpoint, String)>,
    /// Pebble's own badNonce answers relayed (its PEBBLE_WFE_NONCEREJECT): when, to which endpoint.
    bad_nonces: Vec<(Instant, Endpoint)>,
    /// What the proxy adds to Pebble's answers (profiles, ARI).
    extensions: extend::Extensions,
    /// The JWS payload of every request that had one, in arrival order.
    payloads: Vec<(Endpoint, serde_json::Value)>,
    /// The paths of the renewalInfo requests, in arrival order.
    renewal_info: Vec<String>,
}

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    /// A handle on every open client connection (by number), to close them on Drop.
    conns: Mutex<BTreeMap<u64, TcpStream>>,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
    upstream: SocketAddr,
}

/// The proxy: a listener on 127.0.0.1 and a thread per connection; stops
/// (closing every connection, stalled ones too) on Drop.
pub struct FaultProxy {
    /// `https://127.0.0.1:PORT/dir` on the proxy: the client's directory URL.
    pub directory_url: String,
    /// The proxy's address.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FaultProxy {
    /// Start a proxy in front of `pebble`'s ACME listener; panics if it cannot.
    pub fn start(pebble: &Pebble) -> FaultProxy {
        FaultProxy::try_start(
            &pebble.dir.join("cert.pem"),
            &pebble.dir.join("key.pem"),
            pebble.roots.as_ref().clone(),
            pebble.acme_addr,
            "/dir",
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Start a proxy in front of the ACME server at `directory_url`
    /// (`https://IP:PORT/path`, e.g. a Pebble the caller started), serving
    /// TLS with that server's certificate and key (PEM files, so a client
    /// that trusts the server trusts the proxy) and trusting `ca_pem` for
    /// the upstream connection.
    pub fn in_front_of(
        directory_url: &str,
        cert_pem: &Path,
        key_pem: &Path,
        ca_pem: &Path,
    ) -> io::Result<FaultProxy> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::CertificateDer;
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("fault proxy: {directory_url}: not https://IP:PORT/path"),
            )
        };
        let rest = directory_url.strip_prefix("https://").ok_or_else(bad)?;
        let (hostport, path) = rest.split_at(rest.find('/').ok_or_else(bad)?);
        let upstream: SocketAddr = hostport.parse().map_err(|_| bad())?;
        let mut roots = rustls::RootCertStore::empty();
        let read_ca = |e: &dyn std::fmt::Display| {
            io::Error::other(format!("fault proxy: {}: {e}", ca_pem.display()))
        };
        for c in CertificateDer::pem_file_iter(ca_pem).map_err(|e| read_ca(&e))? {
            roots
                .add(c.map_err(|e| read_ca(&e))?)
                .map_err(|e| read_ca(&e))?;
        }
        FaultProxy::try_start(cert_pem, key_pem, roots, upstream, path)
    }

    fn try_start(
        cert_pem: &Path,
        key_pem: &Path,
        roots: rustls::RootCertStore,
        upstream: SocketAddr,
        dir_path: &str,
    ) -> io::Result<FaultProxy> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            io::Error::other(format!("fault proxy: {what}: {e}"))
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_pem)
            .and_then(|i| i.collect())
            .map_err(|e| fail(&format!("read certificate {}", cert_pem.display()), &e))?;
        let key = PrivateKeyDer::from_pem_file(key_pem)
            .map_err(|e| fail(&format!("read key {}", key_pem.display()), &e))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(|e| fail("TLS server config", &e))?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| fail("TLS client config", &e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| fail("bind", &e))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            conns: Mutex::new(BTreeMap::new()),
            server: Arc::new(server),
            client: Arc::new(client),
            upstream,
        });
        let workers = Arc::new(Mutex::new(Vec::new()));
        let (sh, wk) = (shared.clone(), workers.clone());
        let accept = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(listener, sh, wk))
            .map_err(|e| fail("spawn", &e))?;
        Ok(FaultProxy {
            directory_url: format!("https://{addr}{dir_path}"),
            addr,
            shared,
            accept: Some(accept),
            workers,
        })
    }

    /// From now on: let `skip` requests to `endpoint` pass, then apply
    /// `fault` to the next `count` (0: none). Faults armed on one endpoint queue up in
    /// order (the second counts its skip after the first is used up).
    pub fn inject(&self, endpoint: Endpoint, skip: u32, count: u32, fault: Fault) {
        if count == 0 {
            return;
        }
        self.lock()
            .armed
            .entry(endpoint)
            .or_default()
            .push(Armed { skip, count, fault });
    }

    /// Drop every armed fault: relay faithfully from now on (the random
    /// mode, if on, stays on).
    pub fn clear(&self) {
        self.lock().armed.clear();
    }

    /// Turn the random mode on (Some) or off (None): each request that no
    /// armed fault takes is faulted at the given rate.
    pub fn set_random(&self, random: Option<RandomFaults>) {
        self.lock().random = random.map(Roller::new);
    }

    /// Every fault applied so far, in order: when, to which endpoint, and
    /// the fault (a [`RandomFault`] name, or an armed fault's `Debug` form).
    pub fn faults_applied(&self) -> Vec<(Instant, Endpoint, String)> {
        self.lock().applied.clone()
    }

    /// Every badNonce problem Pebble answered with (its random nonce
    /// rejection), in order: when and to which endpoint.
    pub fn bad_nonces(&self) -> Vec<(Instant, Endpoint)> {
        self.lock().bad_nonces.clone()
    }

    /// Start counting afresh: requests seen, the request log, orders,
    /// certificates issued and downloaded, relay errors and applied faults
    /// and badNonce answers go back to nothing (armed faults and the random
    /// mode stay).
    pub fn reset_counters(&self) {
        let mut st = self.lock();
        st.seen.clear();
        st.log.clear();
        st.orders = 0;
        st.finalized = 0;
        st.downloaded.clear();
        st.errors.clear();
        st.applied.clear();
        st.bad_nonces.clear();
    }

    /// Requests seen for `endpoint` so far (faulted ones too).
    pub fn seen(&self, endpoint: Endpoint) -> u32 {
        self.lock().seen.get(&endpoint).copied().unwrap_or(0)
    }

    /// Every request so far in arrival order: when it came and its endpoint
    /// (to check the gaps a client leaves, e.g. after a Retry-After).
    pub fn requests(&self) -> Vec<(Instant, Endpoint)> {
        self.lock().log.clone()
    }

    /// Orders Pebble created (newOrder answers 201, lost ones too).
    pub fn orders_created(&self) -> u32 {
        self.lock().orders
    }

    /// Certificates Pebble issued: finalize requests it accepted with 200,
    /// whether or not the client got the answer (Pebble issues on finalize).
    pub fn certificates_issued(&self) -> u32 {
        self.lock().finalized
    }

    /// Distinct certificate URLs Pebble served with 200 through the proxy.
    pub fn certificates_downloaded(&self) -> usize {
        self.lock().downloaded.len()
    }

    /// Requests that failed to be relayed ("endpoint: error"), for a failing test's message.
    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop with a connection of our own.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for c in self
            .shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
        {
            let _ = c.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in workers {
            let _ = w.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    workers: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    for (id, sock) in (0u64..).zip(listener.incoming()) {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(sock) = sock else { continue };
        if let Ok(clone) = sock.try_clone() {
            shared
                .conns
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, clone);
        }
        let sh = shared.clone();
        if let Ok(h) = std::thread::Builder::new()
            .name("fault-proxy-conn".into())
            .spawn(move || {
                serve(sock, id, &sh);
                sh.conns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            })
        {
            workers.lock().unwrap_or_else(|p| p.into_inner()).push(h);
        }
    }
}

fn serve(sock: TcpStream, id: u64, shared: &Shared) {
    let _ = sock.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = sock.set_write_timeout(Some(Duration::from_secs(30)));
    let Ok(conn) = rustls::ServerConnection::new(shared.server.clone()) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let req = match read_request(&mut tls) {
        Ok(Some(r)) => r,
        _ => return,
    };
    let endpoint = Endpoint::of_path(&req.path);
    let arrived = Instant::now();
    let extensions = {
        let mut st = lock(shared);
        if let Some(p) = extend::jws_payload(&req.body) {
            st.payloads.push((endpoint, p));
        }
        if endpoint == Endpoint::RenewalInfo {
            st.renewal_info.push(req.path.clone());
        }
        st.extensions.clone()
    };
    let fault = take_fault(shared, endpoint, arrived);
    // The proxy's own renewalInfo resource, when offered and not faulted.
    if fault.is_none() && endpoint == Endpoint::RenewalInfo {
        if let Some(a) = extensions.renewal_info() {
            let _ = write_answer(&mut tls, &a);
            close(tls);
            return;
        }
    }
    match fault {
        Some(Fault::Status {
            status,
            problem,
            retry_after,
        }) => {
            let mut a = Answer {
                status,
                headers: vec![("Content-Type".into(), "application/problem+json".into())],
                body: problem.body(status).into_bytes(),
            };
            if let Some(ra) = retry_after {
                a.set_header("Retry-After", &ra.value());
            }
            let _ = write_answer(&mut tls, &a);
            close(tls);
        }
        Some(Fault::Reset) => {
            // SO_LINGER 0: close sends RST instead of FIN.
            // The last handle must go for the close (and so the reset) to happen.
            lock_conns(shared).remove(&id);
            let sock = tls.sock;
            set_linger_zero(&sock);
            drop(sock);
        }
        Some(Fault::Stall { for_ }) => {
            let until = for_.map(|d| Instant::now() + d);
            while !shared.stop.load(Ordering::SeqCst) && !until.is_some_and(|u| Instant::now() >= u)
            {
                std::thread::sleep(STALL_TICK);
            }
            let _ = tls.sock.shutdown(Shutdown::Both);
        }
        other => {
            let answer = match forward(shared, &req) {
                Ok(a) => a,
                Err(e) => {
                    lock(shared)
                        .errors
                        .push(format!("{endpoint:?} {}: {e}", req.path));
                    return;
                }
            };
            count(&mut lock(shared), endpoint, &req.path, &answer, arrived);
            let mut answer = answer;
            let host = wire::header(&req.headers, "host").unwrap_or_default();
            extensions.apply(endpoint, &host, &req.body, &mut answer);
            match other {
                Some(Fault::Lost) => {
                    let _ = tls.sock.shutdown(Shutdown::Both);
                }
                Some(Fault::Rewrite(f)) => {
                    let mut a = answer;
                    f(&mut a);
                    let _ = write_answer(&mut tls, &a);
                    close(tls);
                }
                _ => {
                    let _ = write_answer(&mut tls, &answer);
                    close(tls);
                }
            }
        }
    }
}

/// Send `req` to Pebble on a fresh TLS connection (Host unchanged) and read its whole answer.
fn forward(shared: &Shared, req: &Request) -> io::Result<Answer> {
    let name = rustls_pki_types::ServerName::IpAddress(shared.upstream.ip().into());
    let conn =
        rustls::ClientConnection::new(shared.client.clone(), name).map_err(io::Error::other)?;
    let sock = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))?;
    sock.set_read_timeout(Some(Duration::from_secs(30)))?;
    sock.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
    for (k, v) in req.headers.iter().filter(|(k, _)| !is_framing(k)) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    tls.write_all(head.as_bytes())?;
    tls.write_all(&req.body)?;
    tls.flush()?;
    read_answer(&mut tls)
}

/// SO_LINGER {on, 0}: closing `sock` then sends a TCP reset, not a FIN.
/// (std has no stable setter.) Best effort: a socket that refuses it
/// closes with a FIN, which the test's assertion on the reset would show.
fn set_linger_zero(sock: &TcpStream) {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::Linger, &linger);
}

fn lock_conns(shared: &Shared) -> std::sync::MutexGuard<'_, BTreeMap<u64, TcpStream>> {
    shared.conns.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    shared.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Count the request and take the fault that applies to it, if any: an
/// armed one first, else one the random mode draws.
fn take_fault(shared: &Shared, endpoint: Endpoint, now: Instant) -> Option<Fault> {
    let mut st = lock(shared);
    *st.seen.entry(endpoint).or_default() += 1;
    st.log.push((now, endpoint));
    let fault = match take_armed(&mut st, endpoint) {
        Some(f) => Some((format!("{f:?}"), f)),
        None => st
            .random
            .as_mut()
            .and_then(|r| r.roll(endpoint))
            .map(|k| (k.name().to_string(), k.fault())),
    };
    let (name, fault) = fault?;
    st.applied.push((now, endpoint, name));
    Some(fault)
}

fn take_armed(st: &mut State, endpoint: Endpoint) -> Option<Fault> {
    let queue = st.armed.get_mut(&endpoint)?;
    let first = queue.first_mut()?;
    if first.skip > 0 {
        first.skip -= 1;
        return None;
    }
    let fault = first.fault.clone();
    first.count -= 1;
    if first.count == 0 {
        queue.remove(0);
    }
    Some(fault)
}

/// Count what Pebble's answer `a` to a request for `path`, which
/// `arrived` then, did at the CA. A badNonce gets the request's arrival
/// time, the time a fault applied to the same request gets too.
fn count(st: &mut State, endpoint: Endpoint, path: &str, a: &Answer, arrived: Instant) {
    match (endpoint, a.status) {
        (Endpoint::NewOrder, 201) => st.orders += 1,
        (Endpoint::Finalize, 200) => st.finalized += 1,
        (Endpoint::Certificate, 200) => {
            st.downloaded.insert(path.to_string());
        }
        (_, 400) if contains(&a.body, b"urn:ietf:params:acme:error:badNonce") => {
            st.bad_nonces.push((arrived, endpoint));
        }
        _ => {}
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn close(mut tls: rustls::StreamOwned<rustls::ServerConnection, TcpStream>) {
    tls.conn.send_close_notify();
    let _ = tls.flush();
    let _ = tls.sock.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests;
