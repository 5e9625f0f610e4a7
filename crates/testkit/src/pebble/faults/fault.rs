//! What the fault proxy can do to a request: the endpoints it tells apart
//! by path, the faults ([`Fault`]) with their constructors, and the answer
//! a rewrite gets to change ([`Answer`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::http_date;

/// An ACME endpoint of Pebble, recognised by the request path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// `/dir`: the directory.
    Directory,
    /// `/nonce-plz`: newNonce.
    NewNonce,
    /// `/sign-me-up`: newAccount.
    NewAccount,
    /// `/my-account/...`: an account.
    Account,
    /// `/order-plz`: newOrder.
    NewOrder,
    /// `/my-order/...`: an order.
    Order,
    /// `/authZ/...`: an authorization.
    Authz,
    /// `/chalZ/...`: a challenge.
    Challenge,
    /// `/finalize-order/...`: finalize.
    Finalize,
    /// `/certZ/...`: certificate download.
    Certificate,
    /// `/rollover-account-key`: keyChange.
    KeyChange,
    /// `/revoke-cert`: revokeCert.
    Revoke,
    /// Any other path.
    Other,
}

impl Endpoint {
    /// The endpoint a request path belongs to (Pebble 2.x paths, wfe.go).
    pub fn of_path(path: &str) -> Endpoint {
        let path = path.split('?').next().unwrap_or(path);
        const EXACT: &[(&str, Endpoint)] = &[
            ("/dir", Endpoint::Directory),
            ("/nonce-plz", Endpoint::NewNonce),
            ("/sign-me-up", Endpoint::NewAccount),
            ("/order-plz", Endpoint::NewOrder),
            ("/rollover-account-key", Endpoint::KeyChange),
            ("/revoke-cert", Endpoint::Revoke),
        ];
        const PREFIX: &[(&str, Endpoint)] = &[
            ("/my-account/", Endpoint::Account),
            ("/my-order/", Endpoint::Order),
            ("/authZ/", Endpoint::Authz),
            ("/chalZ/", Endpoint::Challenge),
            ("/finalize-order/", Endpoint::Finalize),
            ("/certZ/", Endpoint::Certificate),
        ];
        if let Some((_, e)) = EXACT.iter().find(|(p, _)| *p == path) {
            return *e;
        }
        PREFIX
            .iter()
            .find(|(p, _)| path.starts_with(p))
            .map_or(Endpoint::Other, |(_, e)| *e)
    }
}

/// A Retry-After header value.
#[derive(Clone, Debug)]
pub enum RetryAfter {
    /// delay-seconds.
    Secs(u64),
    /// An HTTP-date (IMF-fixdate).
    Date(SystemTime),
}

impl RetryAfter {
    /// The header value.
    pub fn value(&self) -> String {
        match self {
            RetryAfter::Secs(s) => s.to_string(),
            RetryAfter::Date(t) => http_date(*t),
        }
    }
}

/// An answer as the proxy relays it: status, headers (without framing
/// headers), body. What [`Fault::Rewrite`] gets to change.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Headers in order, except Content-Length, Transfer-Encoding and Connection.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Answer {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replace (or add) header `name`.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// Replace the value of the top-level JSON string field `"field": "..."`
    /// of the body with `value` (Pebble's JSON is indented, one field a line).
    pub fn set_json_str(&mut self, field: &str, value: &str) {
        let text = String::from_utf8_lossy(&self.body).into_owned();
        let key = format!("\"{field}\": \"");
        if let Some(start) = text.find(&key) {
            let vstart = start + key.len();
            if let Some(len) = text[vstart..].find('"') {
                let mut out = text[..vstart].to_string();
                out.push_str(value);
                out.push_str(&text[vstart + len..]);
                self.body = out.into_bytes();
            }
        }
    }
}

/// A rewrite of Pebble's answer before the client gets it.
pub type Rewrite = Arc<dyn Fn(&mut Answer) + Send + Sync>;

/// What the proxy does to a request instead of relaying it faithfully.
#[derive(Clone)]
pub enum Fault {
    /// Answer `status` with an RFC 7807 problem document of `problem` type
    /// (`urn:ietf:params:acme:error:<problem>`), and Retry-After if given;
    /// the request never reaches Pebble.
    Status {
        /// HTTP status (500, 503, 429, 403...).
        status: u16,
        /// ACME problem type, the part after `urn:ietf:params:acme:error:`.
        problem: String,
        /// Retry-After header, if any.
        retry_after: Option<RetryAfter>,
    },
    /// Close the connection with a TCP reset (SO_LINGER 0) without answering.
    Reset,
    /// Hold the connection open without answering until `for_` has passed
    /// (None: until the proxy is dropped), then close it.
    Stall {
        /// How long; None is until Drop.
        for_: Option<Duration>,
    },
    /// Forward the request to Pebble (it takes effect there), then drop the
    /// answer and close the connection.
    Lost,
    /// Forward to Pebble, then change its answer with the function.
    Rewrite(Rewrite),
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Status {
                status,
                problem,
                retry_after,
            } => write!(f, "Status({status}, {problem}, {retry_after:?})"),
            Fault::Reset => write!(f, "Reset"),
            Fault::Stall { for_ } => write!(f, "Stall({for_:?})"),
            Fault::Lost => write!(f, "Lost"),
            Fault::Rewrite(_) => write!(f, "Rewrite"),
        }
    }
}

impl Fault {
    /// `status` with a problem of type `serverInternal` (500),
    /// `rateLimited` (429) or `serverInternal` (others), no Retry-After.
    pub fn status(status: u16) -> Fault {
        let problem = if status == 429 {
            "rateLimited"
        } else {
            "serverInternal"
        };
        Fault::problem(status, problem)
    }

    /// `status` with a problem document of type `problem` (e.g. `unauthorized`).
    pub fn problem(status: u16, problem: &str) -> Fault {
        Fault::Status {
            status,
            problem: problem.to_string(),
            retry_after: None,
        }
    }

    /// This status fault with `Retry-After: <secs>`.
    pub fn retry_after_secs(self, secs: u64) -> Fault {
        self.with_retry_after(RetryAfter::Secs(secs))
    }

    /// This status fault with `Retry-After: <HTTP-date>`.
    pub fn retry_after_date(self, at: SystemTime) -> Fault {
        self.with_retry_after(RetryAfter::Date(at))
    }

    fn with_retry_after(self, ra: RetryAfter) -> Fault {
        match self {
            Fault::Status {
                status, problem, ..
            } => Fault::Status {
                status,
                problem,
                retry_after: Some(ra),
            },
            other => other,
        }
    }

    /// A rewrite of Pebble's answer.
    pub fn rewrite(f: impl Fn(&mut Answer) + Send + Sync + 'static) -> Fault {
        Fault::Rewrite(Arc::new(f))
    }

    /// Pebble's answer with `header: value` added (replacing any of that name).
    pub fn add_header(name: &str, value: &str) -> Fault {
        let (n, v) = (name.to_string(), value.to_string());
        Fault::rewrite(move |a| a.set_header(&n, &v))
    }

    /// Pebble's answer with its body replaced by `body`.
    pub fn replace_body(body: impl Into<Vec<u8>>) -> Fault {
        let body = body.into();
        Fault::rewrite(move |a| a.body = body.clone())
    }

    /// An order (or finalize answer) that says `"status": "processing"`,
    /// with `Retry-After: <secs>`.
    pub fn processing(retry_after_secs: u64) -> Fault {
        Fault::rewrite(move |a| {
            a.set_json_str("status", "processing");
            a.set_header("Retry-After", &retry_after_secs.to_string());
        })
    }

    /// The body of Pebble's answer with `extra` appended (e.g. the root
    /// after the certificate chain).
    pub fn append_body(extra: impl Into<Vec<u8>>) -> Fault {
        let extra = extra.into();
        Fault::rewrite(move |a| a.body.extend_from_slice(&extra))
    }
}
