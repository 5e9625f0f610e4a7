//! What the fault proxy can do to a request: the endpoints it tells apart
//! by path, the faults ([`Fault`]) with their constructors, the problem
//! documents a status fault answers with ([`Problem`]), and the answer a
//! rewrite gets to change ([`Answer`]).

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
    /// `/renewal-info/...`: the proxy's own renewalInfo (RFC 9773 §4), see
    /// [`FaultProxy::offer_ari`](super::FaultProxy::offer_ari).
    RenewalInfo,
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
            ("/renewal-info/", Endpoint::RenewalInfo),
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

/// An ACME problem document (RFC 8555 §6.7, RFC 7807) a status fault
/// answers with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The type, the part after `urn:ietf:params:acme:error:`.
    pub kind: String,
    /// The detail ("injected by the fault proxy" unless given).
    pub detail: String,
    /// Subproblems, one per identifier (RFC 8555 §6.7.1).
    pub subproblems: Vec<Subproblem>,
}

/// A subproblem of a [`Problem`]: one identifier's own problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subproblem {
    /// The type, the part after `urn:ietf:params:acme:error:`.
    pub kind: String,
    /// The DNS name it concerns.
    pub identifier: String,
    /// What is wrong with it.
    pub detail: String,
}

/// The prefix of every ACME problem type (RFC 8555 §6.7).
const ACME_ERROR: &str = "urn:ietf:params:acme:error:";

impl Problem {
    /// A problem of type `kind` with the proxy's own detail.
    pub fn new(kind: &str) -> Problem {
        Problem {
            kind: kind.to_string(),
            detail: "injected by the fault proxy".to_string(),
            subproblems: Vec::new(),
        }
    }

    /// The document as the body of an answer with `status`, indented like
    /// Pebble's.
    pub fn body(&self, status: u16) -> String {
        let mut s = format!(
            "{{\n  \"type\": {},\n  \"detail\": {},\n  \"status\": {status}",
            json_string(&format!("{ACME_ERROR}{}", self.kind)),
            json_string(&self.detail)
        );
        if !self.subproblems.is_empty() {
            let subs: Vec<String> = self
                .subproblems
                .iter()
                .map(|sub| {
                    format!(
                        "    {{\n      \"type\": {},\n      \"detail\": {},\n      \"identifier\": {{\"type\": \"dns\", \"value\": {}}}\n    }}",
                        json_string(&format!("{ACME_ERROR}{}", sub.kind)),
                        json_string(&sub.detail),
                        json_string(&sub.identifier)
                    )
                })
                .collect();
            s.push_str(&format!(
                ",\n  \"subproblems\": [\n{}\n  ]",
                subs.join(",\n")
            ));
        }
        s.push_str("\n}");
        s
    }
}

/// `text` as a JSON string literal (RFC 8259 §7).
fn json_string(text: &str) -> String {
    let mut s = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
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
        /// The problem document of the answer.
        problem: Problem,
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
            } => write!(f, "Status({status}, {}, {retry_after:?})", problem.kind),
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
            problem: Problem::new(problem),
            retry_after: None,
        }
    }

    /// This status fault with the problem's `detail` instead of the
    /// proxy's own words.
    pub fn detail(self, detail: &str) -> Fault {
        self.with_problem(|p| p.detail = detail.to_string())
    }

    /// This status fault with a subproblem (RFC 8555 §6.7.1) of type
    /// `kind` for the DNS name `name`, saying `detail`.
    pub fn subproblem(self, kind: &str, name: &str, detail: &str) -> Fault {
        self.with_problem(|p| {
            p.subproblems.push(Subproblem {
                kind: kind.to_string(),
                identifier: name.to_string(),
                detail: detail.to_string(),
            })
        })
    }

    fn with_problem(self, change: impl FnOnce(&mut Problem)) -> Fault {
        match self {
            Fault::Status {
                status,
                mut problem,
                retry_after,
            } => {
                change(&mut problem);
                Fault::Status {
                    status,
                    problem,
                    retry_after,
                }
            }
            other => other,
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
