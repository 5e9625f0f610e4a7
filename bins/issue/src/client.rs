//! The HTTP client under instant-acme: trusts the CA bundle we mean, bounds
//! every exchange (answer and body) by the request timeout, puts our
//! User-Agent on every request, names the endpoint in each fault, and notes
//! what instant-acme drops: the CA's Retry-After and the endpoint that last
//! answered with an error. `acme.rs` classifies the faults it reports;
//! `retry.rs` retries them.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use certdrop_core::error::{Error, Result};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use instant_acme::{BodyWrapper, BytesResponse, HttpClient};

use crate::acme::describe;

/// TCP connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An HTTPS client trusting `ca_bundle` only, or the system's roots; each
/// exchange bounded by [`crate::retry::REQUEST_TIMEOUT`].
pub fn http_client(ca_bundle: Option<&Path>) -> Result<Box<dyn HttpClient>> {
    http_client_within(ca_bundle, crate::retry::REQUEST_TIMEOUT)
}

/// [`http_client`] with each exchange (answer and body) bounded by `timeout`.
fn http_client_within(ca_bundle: Option<&Path>, timeout: Duration) -> Result<Box<dyn HttpClient>> {
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.enforce_http(false);
    // Every request is written whole: Nagle would hold the first one after
    // the TLS handshake until the CA's delayed ACK (40 ms on Linux), about
    // a third of a one-certificate run (strace, bench/README.md).
    http.set_nodelay(true);
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match ca_bundle {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                Error::config(format!("{}: cannot read CA bundle: {e}", path.display()))
            })?;
            let ders = certdrop_core::certinfo::pem_blocks(&pem, "CERTIFICATE")
                .map_err(|why| Error::config(format!("{}: {why}", path.display())))?;
            let mut roots = rustls::RootCertStore::empty();
            for der in ders {
                roots
                    .add(rustls_pki_types::CertificateDer::from(der))
                    .map_err(|e| Error::config(format!("{}: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(Error::config(format!(
                    "{}: no certificate in CA bundle",
                    path.display()
                )));
            }
            let tls = rustls::ClientConfig::builder_with_provider(
                rustls::crypto::aws_lc_rs::default_provider().into(),
            )
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            builder.with_tls_config(tls)
        }
        // The provider is named, never the process default: in a
        // workspace build rustls is compiled with both aws-lc-rs (ours,
        // through instant-acme) and ring (certdrop-probe's), and with two
        // providers rustls cannot choose a default and panics.
        None => builder
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Error::config(format!("no system trust roots: {e}")))?,
    };
    let https = builder.https_only().enable_http1().wrap_connector(http);
    let client: HyperClient<_, BodyWrapper<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(https);
    Ok(Box::new(Tap {
        inner: Box::new(client),
        timeout,
    }))
}

/// The latest Retry-After the CA sent with a 429 or 503 (RFC 8555 §6.6):
/// instant-acme drops the header from its errors, so the HTTP client notes
/// it here for the back-off. Rate limits are per account, so one value for
/// the process is right.
static RETRY_AFTER: Mutex<Option<SystemTime>> = Mutex::new(None);

/// The Retry-After of successful answers by URL (RFC 8555 §7.4: an order
/// the CA is `processing` says when to look again): instant-acme keeps it
/// private, and an order poll must not come earlier.
static POLL_AFTER: Mutex<BTreeMap<String, SystemTime>> = Mutex::new(BTreeMap::new());

/// When the CA asked us to look at `url` again, if its latest successful
/// answer said so (and forget it).
pub fn take_poll_after(url: &str) -> Option<SystemTime> {
    POLL_AFTER.lock().ok()?.remove(url)
}

/// The `Link: rel="alternate"` targets of successful answers by URL (RFC
/// 8555 §7.4.2: the certificate download names the other chains the CA
/// offers): instant-acme returns the certificate's body only.
static ALTERNATES: Mutex<BTreeMap<String, Vec<String>>> = Mutex::new(BTreeMap::new());

/// The alternate chains the CA named in its latest successful answer for
/// `url` (and forget them); empty if it named none.
pub fn take_alternates(url: &str) -> Vec<String> {
    ALTERNATES
        .lock()
        .ok()
        .and_then(|mut m| m.remove(url))
        .unwrap_or_default()
}

/// dns-persist-01 challenge objects by challenge URL, as the CA sent them
/// in an authorization (draft-ietf-acme-dns-persist §3.1): instant-acme
/// parses the type as unknown and drops `issuer-domain-names` and
/// `accounturi`, which the issuer needs (`persist.rs`).
static PERSIST: Mutex<BTreeMap<String, serde_json::Value>> = Mutex::new(BTreeMap::new());

/// The latest dns-persist-01 challenge object the CA sent for `url`.
pub fn persist_challenge(url: &str) -> Option<serde_json::Value> {
    PERSIST.lock().ok()?.get(url).cloned()
}

/// The errors of dns-persist-01 challenges by URL, the latest the CA sent
/// in any answer: a CA may put it in the challenge object it answers our
/// POST with and leave it out of the authorization (acme2certifier).
static PERSIST_ERRORS: Mutex<BTreeMap<String, serde_json::Value>> = Mutex::new(BTreeMap::new());

/// The latest error the CA gave for the dns-persist-01 challenge at `url`.
pub fn persist_error(url: &str) -> Option<instant_acme::Problem> {
    let v = PERSIST_ERRORS.lock().ok()?.get(url).cloned()?;
    serde_json::from_value(v).ok()
}

/// Keep the dns-persist-01 challenges of an answer (an authorization, or
/// a challenge object itself), if it holds any.
fn note_persist(body: &[u8]) {
    let tag = crate::persist::CHALLENGE.as_bytes();
    if !body.windows(tag.len()).any(|w| w == tag) {
        return;
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let found: Vec<&serde_json::Value> = match v["challenges"].as_array() {
        Some(list) => list.iter().collect(),
        None => vec![&v],
    };
    let Ok(mut map) = PERSIST.lock() else { return };
    for c in found {
        if let (Some(crate::persist::CHALLENGE), Some(url)) =
            (c["type"].as_str(), c["url"].as_str())
        {
            map.insert(url.to_owned(), c.clone());
            if c["error"].is_object() {
                if let Ok(mut errors) = PERSIST_ERRORS.lock() {
                    errors.insert(url.to_owned(), c["error"].clone());
                }
            }
        }
    }
}

/// The endpoint of the latest exchange answered with an error status (400
/// and up): instant-acme's problem documents do not say which request
/// they answer, and a retry's narration names it. Lines run concurrently,
/// so when two fail at the same moment the narration may name the other
/// line's endpoint: it is a hint for `-v`, never part of an error.
static FAILED_ENDPOINT: Mutex<Option<String>> = Mutex::new(None);

/// The endpoint that last answered with an error, if any (and forget it).
pub fn take_failed_endpoint() -> Option<String> {
    FAILED_ENDPOINT.lock().ok()?.take()
}

/// A stall of `endpoint`, for the narration's tests.
#[cfg(test)]
pub fn tests_fault_stalled(endpoint: &str) -> instant_acme::Error {
    Fault::error(endpoint, FaultKind::Stalled(crate::retry::REQUEST_TIMEOUT))
}

/// How long the CA asked us to wait, if it did (and forget it), in whole
/// seconds from [`certdrop_core::clock::now`] ([`wait_until`]).
pub fn take_retry_after() -> Option<Duration> {
    let at = RETRY_AFTER.lock().ok()?.take()?;
    Some(wait_until(at, SystemTime::now()))
}

/// The wait from `now` until `at` in whole seconds, counted from the second
/// `now` falls in and rounded up: the back-off adds it to the whole-second
/// clock ([`certdrop_core::clock::now`], which truncates), so the next
/// attempt is never earlier than the CA asked, not even by the fraction of
/// a second the answer took to arrive.
pub fn wait_until(at: SystemTime, now: SystemTime) -> Duration {
    let secs = |t: SystemTime, up: bool| {
        let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        d.as_secs() + u64::from(up && d.subsec_nanos() > 0)
    };
    Duration::from_secs(secs(at, true).saturating_sub(secs(now, false)))
}

/// Parse a Retry-After value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<SystemTime> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(now + Duration::from_secs(secs));
    }
    httpdate::parse_http_date(value).ok()
}

/// A fault of one HTTP exchange with the CA, seen by the client under
/// instant-acme ([`Tap`]): it names the endpoint, which instant-acme's own
/// errors do not ("missing data: error response from newNonce resource").
#[derive(Debug)]
pub struct Fault {
    /// The endpoint: `HEAD https://ca/nonce`.
    pub endpoint: String,
    /// What went wrong.
    pub kind: FaultKind,
    /// What the CA said with an error status, if its answer was a problem
    /// document: type, detail and subproblems on one line.
    pub said: Option<String>,
}

/// What went wrong in one exchange.
#[derive(Debug)]
pub enum FaultKind {
    /// No connection could be made (refused, no route, TLS failed).
    Connect(String),
    /// The connection broke (reset, closed early).
    Lost(String),
    /// An answer with an HTTP status where no problem document is read
    /// (newNonce answers HEAD with headers only).
    Status(u16),
    /// No whole answer within the per-request timeout.
    Stalled(Duration),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            FaultKind::Connect(why) => write!(f, "{}: cannot connect: {why}", self.endpoint),
            FaultKind::Lost(why) => write!(f, "{}: connection lost: {why}", self.endpoint),
            FaultKind::Status(code) => {
                write!(f, "{}: HTTP {code}", self.endpoint)?;
                match &self.said {
                    Some(said) => write!(f, ": {said}"),
                    None => Ok(()),
                }
            }
            FaultKind::Stalled(t) => {
                write!(
                    f,
                    "{}: no answer within {} s",
                    self.endpoint,
                    t.as_secs_f32()
                )
            }
        }
    }
}

impl std::error::Error for Fault {}

impl Fault {
    /// A fault of `endpoint` as instant-acme's error.
    pub fn error(endpoint: &str, kind: FaultKind) -> instant_acme::Error {
        instant_acme::Error::Other(Box::new(Fault {
            endpoint: endpoint.to_owned(),
            kind,
            said: None,
        }))
    }
}

/// The fault under an instant-acme error, if the client saw one.
pub fn fault(e: &instant_acme::Error) -> Option<&Fault> {
    match e {
        instant_acme::Error::Other(b) => b.downcast_ref::<Fault>(),
        _ => None,
    }
}

/// The HttpClient under instant-acme: bounds each exchange, answer and
/// body, by the per-request timeout (hyper has only a connect timeout, and
/// instant-acme none: a stalled challenge answer hung the run and held the
/// lock), names each exchange's endpoint in its faults, notes Retry-After
/// on 429/503 answers, and turns a newNonce answer other than 200 into a
/// [`Fault`] (instant-acme's own error for it is a bare string that no
/// retry would look at).
struct Tap {
    inner: Box<dyn HttpClient>,
    timeout: Duration,
}

impl HttpClient for Tap {
    fn request(
        &self,
        mut req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        stamp(&mut req);
        let endpoint = format!("{} {}", req.method(), req.uri());
        let uri = req.uri().to_string();
        let method = req.method().clone();
        let fut = self.inner.request(req);
        let timeout = self.timeout;
        Box::pin(async move {
            // The body too: instant-acme reads it later, unbounded.
            let whole = async {
                let mut rsp = fut.await?;
                let body = rsp
                    .body
                    .into_bytes()
                    .await
                    .map_err(instant_acme::Error::Other)?;
                let kept = body.clone();
                Ok::<_, instant_acme::Error>((
                    BytesResponse {
                        parts: rsp.parts,
                        body: Box::new(body),
                    },
                    kept,
                ))
            };
            let (rsp, body) = match tokio::time::timeout(timeout, whole).await {
                Ok(r) => r.map_err(|e| transport(&endpoint, e))?,
                Err(_) => return Err(Fault::error(&endpoint, FaultKind::Stalled(timeout))),
            };
            let status = rsp.parts.status.as_u16();
            let at = rsp
                .parts
                .headers
                .get(http::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now()));
            if let (Some(at), true) = (at, status == 429 || status == 503) {
                if let Ok(mut slot) = RETRY_AFTER.lock() {
                    *slot = Some(slot.map_or(at, |old| old.max(at)));
                }
            }
            if let (Some(at), true) = (at, (200..300).contains(&status)) {
                if let Ok(mut map) = POLL_AFTER.lock() {
                    map.insert(uri.clone(), at);
                }
            }
            if (200..300).contains(&status) {
                note_alternates(&uri, &rsp.parts.headers);
                note_persist(&body);
            }
            if status >= 400 {
                if let Ok(mut slot) = FAILED_ENDPOINT.lock() {
                    *slot = Some(endpoint.clone());
                }
            }
            if let Some(fault) = refused(&method, status, &body) {
                return Err(instant_acme::Error::Other(Box::new(Fault {
                    endpoint,
                    ..fault
                })));
            }
            Ok(rsp)
        })
    }
}

/// The fault an answer with `status` to a `method` request is, where
/// instant-acme would not read it as one (the endpoint is filled in by the
/// caller):
/// - newNonce (RFC 8555 §7.2) is the only HEAD instant-acme sends, and
///   anything but 200 leaves it without a nonce;
/// - an error status to a GET (the directory; ARI's renewalInfo):
///   instant-acme parses whatever the directory request gets as a
///   directory (a 503 read as "missing field `newNonce`", which names
///   neither the status nor the endpoint);
/// - an error with no problem document (a 404 for an order the CA no
///   longer knows) would reach us as a JSON error, which reads as a
///   transient fault: its status says what it is.
///
/// A problem document the answer carries is kept for the message.
fn refused(method: &http::Method, status: u16, body: &[u8]) -> Option<Fault> {
    let head = method == http::Method::HEAD;
    let get = method == http::Method::GET;
    if !((head && status != 200) || (status >= 400 && (get || body.is_empty()))) {
        return None;
    }
    let said = serde_json::from_slice::<instant_acme::Problem>(body)
        .ok()
        .filter(|p| p.r#type.is_some() || p.detail.is_some())
        .map(|p| describe(&instant_acme::Error::Api(p)));
    Some(Fault {
        endpoint: String::new(),
        kind: FaultKind::Status(status),
        said,
    })
}

/// Keep the alternate chains an answer for `uri` names, if any.
fn note_alternates(uri: &str, headers: &http::HeaderMap) {
    let found = crate::chains::alternate_links(uri, headers);
    if !found.is_empty() {
        if let Ok(mut map) = ALTERNATES.lock() {
            map.insert(uri.to_owned(), found);
        }
    }
}

/// Our User-Agent (RFC 8555 §6.1: a client MUST send one), naming the
/// ACME library too.
pub const USER_AGENT: &str = concat!(
    "certdrop-issue/",
    env!("CARGO_PKG_VERSION"),
    " instant-acme/0.8"
);

/// Put [`USER_AGENT`] on a request: every exchange passes here, the key
/// change (built by `account.rs`, which instant-acme's requests do not
/// cover) and the ARI query included.
fn stamp<B>(req: &mut http::Request<B>) {
    req.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    );
}

/// A transport error of one exchange as a [`Fault`]: could not connect, or
/// the connection broke.
fn transport(endpoint: &str, e: instant_acme::Error) -> instant_acme::Error {
    let connect = match &e {
        instant_acme::Error::Other(b) => b
            .downcast_ref::<hyper_util::client::legacy::Error>()
            .is_some_and(|h| h.is_connect()),
        _ => false,
    };
    let why = describe(&e);
    match e {
        instant_acme::Error::Other(_) | instant_acme::Error::Hyper(_) => Fault::error(
            endpoint,
            match connect {
                true => FaultKind::Connect(why),
                false => FaultKind::Lost(why),
            },
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acme::{classify, error, is_transient};
    use certdrop_core::exit::Failure;

    #[test]
    fn retry_after_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after("120", now),
            Some(now + Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 09 Sep 2001 01:46:40 GMT", now),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[tokio::test]
    async fn a_stalled_exchange_ends_at_the_timeout_naming_the_endpoint() {
        // A CA that accepts the connection and never says a word.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        });
        let timeout = Duration::from_millis(300);
        let http = http_client_within(None, timeout).expect("client");
        let url = format!("https://{addr}/chalZ/1");
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(&url)
            .body(BodyWrapper::default())
            .expect("request");
        let started = std::time::Instant::now();
        let e = match http.request(req).await {
            Ok(_) => panic!("an answer from a silent CA"),
            Err(e) => e,
        };
        assert!(started.elapsed() < timeout * 10, "{:?}", started.elapsed());
        assert!(is_transient(&e));
        assert_eq!(classify(&e), Failure::Temporary);
        assert_eq!(
            error("www: answer challenge", &e).msg,
            format!("www: answer challenge: POST {url}: no answer within 0.3 s")
        );
        held.abort();
    }

    #[test]
    fn an_error_to_a_get_or_to_the_nonce_is_a_fault_with_its_status_and_problem() {
        let doc = br#"{"type": "urn:ietf:params:acme:error:serverInternal", "detail": "down", "status": 503}"#;
        let named = |endpoint: &str, f: Fault| {
            instant_acme::Error::Other(Box::new(Fault {
                endpoint: endpoint.to_owned(),
                ..f
            }))
        };
        // The directory answering 503 with a problem document: retried,
        // and the message names the endpoint, the status and the problem.
        let f = refused(&http::Method::GET, 503, doc).expect("a fault");
        let e = named("GET https://ca/dir", f);
        assert!(is_transient(&e));
        assert_eq!(classify(&e), Failure::Temporary);
        assert_eq!(
            error("account a.json", &e).msg,
            "account a.json: GET https://ca/dir: HTTP 503: serverInternal: down"
        );
        // A directory URL that is not one: unavailable, not retried.
        let f = refused(&http::Method::GET, 404, b"404 page not found").expect("a fault");
        let e = named("GET https://ca/nodir", f);
        assert!(!is_transient(&e));
        assert_eq!(classify(&e), Failure::Unavailable);
        assert_eq!(
            error("account a.json", &e).msg,
            "account a.json: GET https://ca/nodir: HTTP 404"
        );
        // newNonce: anything but 200 leaves it without a nonce.
        assert!(refused(&http::Method::HEAD, 503, b"").is_some());
        assert!(refused(&http::Method::HEAD, 200, b"").is_none());
        // instant-acme reads a POST's problem document itself; an error
        // without one is ours.
        assert!(refused(&http::Method::POST, 503, doc).is_none());
        assert!(refused(&http::Method::POST, 404, b"").is_some());
        assert!(refused(&http::Method::GET, 200, b"{}").is_none());
    }

    #[test]
    fn every_request_carries_our_user_agent() {
        // One built like account.rs's key change (no User-Agent), one like
        // instant-acme's (its own): both leave with ours.
        let bare = http::Request::builder()
            .method(http::Method::POST)
            .uri("https://ca/rollover-account-key")
            .body(())
            .expect("request");
        let theirs = http::Request::builder()
            .header(http::header::USER_AGENT, "instant-acme/0.8.5")
            .uri("https://ca/dir")
            .body(())
            .expect("request");
        for mut req in [bare, theirs] {
            stamp(&mut req);
            let ua: Vec<_> = req
                .headers()
                .get_all(http::header::USER_AGENT)
                .iter()
                .collect();
            assert_eq!(ua.len(), 1);
            assert_eq!(ua[0], USER_AGENT);
        }
        assert!(USER_AGENT.starts_with("certdrop-issue/"));
    }

    #[test]
    fn retry_after_is_never_applied_early() {
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        // 7200 read on a whole second: exactly 7200 from that second.
        let at = parse_retry_after("7200", epoch).expect("seconds");
        assert_eq!(wait_until(at, epoch), Duration::from_secs(7200));
        // Read 0.3 s into a second and taken 0.5 s later: the whole-second
        // clock says the same second, and the wait still ends after `at`.
        let read = epoch + Duration::from_millis(300);
        let at = parse_retry_after("7200", read).expect("seconds");
        let taken = read + Duration::from_millis(500);
        let wait = wait_until(at, taken);
        assert_eq!(wait, Duration::from_secs(7201));
        assert!(epoch + wait >= at, "not before the CA's moment");
        // A moment already past is no wait.
        assert_eq!(wait_until(epoch, at), Duration::ZERO);
    }
}
