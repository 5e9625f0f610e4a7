//! What the fault proxy adds to Debian's Pebble 2.4, which has neither
//! certificate profiles nor ACME Renewal Information (ARI):
//!
//! - a `meta.profiles` object in the directory (the ACME profiles
//!   extension, as Let's Encrypt serves it: name → description);
//! - ARI (RFC 9773): a `renewalInfo` URL in the directory pointing at the
//!   proxy, whose GETs the proxy answers itself with the window the test
//!   set (§4.2, with the Retry-After the RFC asks for), and the `replaces`
//!   field of a newOrder request reflected in Pebble's 201 answer (§5: "If
//!   the Server accepts a new-order request with a replaces field, it MUST
//!   reflect that field in the response").
//!
//! Pebble 2.4 decodes a newOrder with Go's `encoding/json`, which skips
//! fields it does not know (`profile`, `replaces`): the order, its
//! validation and the certificate stay Pebble's; only the words above are
//! the proxy's. It also keeps the decoded JWS payload of every request
//! (RFC 8555 §6.2), so that a test reads what the client sent.

use base64::Engine as _;
use serde_json::Value;

use super::{Answer, Endpoint, FaultProxy};

/// The path of the proxy's own renewalInfo resource (RFC 9773 §4.1):
/// `<this>/<certID>`. Pebble 2.4 has nothing there.
pub const RENEWAL_INFO_PATH: &str = "/renewal-info";

/// Retry-After of a renewalInfo answer, in seconds: Let's Encrypt's six
/// hours (RFC 9773 §4.3 leaves it to the server).
const ARI_RETRY_AFTER: u64 = 21_600;

impl FaultProxy {
    /// From now on, Pebble's directory offers these certificate profiles
    /// (`meta.profiles`: name, description), which Pebble 2.4 has not: the
    /// proxy adds them (see `extend.rs`). Pebble ignores a newOrder's
    /// `profile`; [`FaultProxy::payloads`] shows what the client sent.
    pub fn offer_profiles(&self, profiles: &[(&str, &str)]) {
        self.lock().extensions.profiles = Some(
            profiles
                .iter()
                .map(|(n, d)| (n.to_string(), d.to_string()))
                .collect(),
        );
    }

    /// From now on, offer ACME Renewal Information (RFC 9773), which
    /// Pebble 2.4 has not: the directory names the proxy's renewalInfo
    /// resource, which answers every certificate with the suggested
    /// window `start`..`end` (RFC 3339 texts, sent as given), and a
    /// newOrder's `replaces` is reflected in Pebble's answer (§5).
    pub fn offer_ari(&self, start: &str, end: &str) {
        self.lock().extensions.ari = Some((start.to_string(), end.to_string()));
    }

    /// The JWS payloads (RFC 8555 §6.2) of the requests to `endpoint` so
    /// far, decoded, in arrival order; POST-as-GET requests have none.
    /// Faulted requests are there too: it is what the client sent.
    pub fn payloads(&self, endpoint: Endpoint) -> Vec<serde_json::Value> {
        self.lock()
            .payloads
            .iter()
            .filter(|(e, _)| *e == endpoint)
            .map(|(_, p)| p.clone())
            .collect()
    }

    /// The certificate identifiers asked at the renewalInfo resource
    /// (RFC 9773 §4.1: the path after [`RENEWAL_INFO_PATH`]), in order.
    pub fn renewal_info_asked(&self) -> Vec<String> {
        self.lock()
            .renewal_info
            .iter()
            .map(|p| {
                p.trim_start_matches(RENEWAL_INFO_PATH)
                    .trim_start_matches('/')
                    .to_string()
            })
            .collect()
    }
}

/// What the proxy adds to Pebble's answers; nothing by default.
#[derive(Clone, Default)]
pub(super) struct Extensions {
    /// `meta.profiles` entries, name and description.
    pub(super) profiles: Option<Vec<(String, String)>>,
    /// The suggested window (RFC 3339 start and end) renewalInfo answers with.
    pub(super) ari: Option<(String, String)>,
}

impl Extensions {
    /// Change Pebble's `answer` to a request to `endpoint` whose body was
    /// `request_body`, arriving for `host` (the proxy's own address).
    pub(super) fn apply(
        &self,
        endpoint: Endpoint,
        host: &str,
        request_body: &[u8],
        answer: &mut Answer,
    ) {
        match endpoint {
            Endpoint::Directory if answer.status == 200 => self.directory(host, answer),
            Endpoint::NewOrder if answer.status == 201 && self.ari.is_some() => {
                let replaces = jws_payload(request_body)
                    .and_then(|p| p.get("replaces").cloned())
                    .filter(Value::is_string);
                if let Some(r) = replaces {
                    edit_json(answer, |o| {
                        o.insert("replaces".into(), r);
                    });
                }
            }
            _ => {}
        }
    }

    fn directory(&self, host: &str, answer: &mut Answer) {
        edit_json(answer, |dir| {
            if let Some(profiles) = &self.profiles {
                let map: serde_json::Map<String, Value> = profiles
                    .iter()
                    .map(|(n, d)| (n.clone(), Value::String(d.clone())))
                    .collect();
                let meta = dir
                    .entry("meta")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(meta) = meta.as_object_mut() {
                    meta.insert("profiles".into(), Value::Object(map));
                }
            }
            if self.ari.is_some() {
                dir.insert(
                    "renewalInfo".into(),
                    Value::String(format!("https://{host}{RENEWAL_INFO_PATH}")),
                );
            }
        });
    }

    /// The proxy's own answer to a renewalInfo GET (RFC 9773 §4.2), if ARI
    /// is offered.
    pub(super) fn renewal_info(&self) -> Option<Answer> {
        let (start, end) = self.ari.as_ref()?;
        let body = serde_json::json!({
            "suggestedWindow": {"start": start, "end": end},
        });
        Some(Answer {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Retry-After".into(), ARI_RETRY_AFTER.to_string()),
            ],
            body: serde_json::to_vec_pretty(&body).expect("JSON serializes"),
        })
    }
}

/// Parse the answer's body as a JSON object, change it, write it back
/// (indented, as Pebble writes); a body that is no object stays.
fn edit_json(answer: &mut Answer, change: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&answer.body) else {
        return;
    };
    change(&mut obj);
    answer.body = serde_json::to_vec_pretty(&Value::Object(obj)).expect("JSON serializes");
}

/// The payload of a flattened JWS request body (RFC 8555 §6.2, RFC 7515
/// §7.2.2), decoded and parsed; None for a POST-as-GET (empty payload) or
/// anything that is not a JWS with a JSON payload.
pub(super) fn jws_payload(body: &[u8]) -> Option<Value> {
    let jws: Value = serde_json::from_slice(body).ok()?;
    let payload = jws.get("payload")?.as_str()?;
    if payload.is_empty() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
