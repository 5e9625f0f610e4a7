//! ACME Renewal Information (RFC 9773): ask the CA when it wants a
//! certificate renewed, for the lines our own window does not make due yet.
//! Only where the CA offers it (Pebble 2.4 does not; Let's Encrypt does),
//! one attempt each and never fatal: a CA that cannot be asked leaves the
//! decision to the lifetime rule.

use std::time::Duration;

use certdrop_core::clock;
use certdrop_core::output::Output;
use instant_acme::{Account, CertificateIdentifier};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Line};
use crate::lifecycle;

/// Time allowed for one ARI exchange.
const ARI_TIMEOUT: Duration = Duration::from_secs(15);

/// The point inside the CA's suggested window `start..end` at which the
/// certificate with `serial` is due: RFC 9773 §4.2 asks for a random
/// point; one derived from the serial is random across certificates and
/// the same for every run (an end before the start counts as the start).
pub fn due_at(start: i64, end: i64, serial: &str) -> i64 {
    start + lifecycle::jitter(serial, end.max(start) - start)
}

/// The lines among `candidates` whose ARI window has opened by `now` (at a point
/// inside the window derived from the serial, as RFC 9773 §4.2 asks for a
/// random point).
pub async fn due(config: &Config, candidates: &[Line], now: i64, out: &Output) -> Vec<Line> {
    if !config.ari || candidates.is_empty() {
        return Vec::new();
    }
    let creds = match crate::acme::read_credentials(&config.account) {
        Ok(Some(c)) => c,
        _ => return Vec::new(), // no account yet: nothing to ask about
    };
    let http = match crate::client::http_client(config.ca_bundle.as_deref()) {
        Ok(h) => h,
        Err(_) => return Vec::new(),
    };
    let account = match tokio::time::timeout(
        ARI_TIMEOUT,
        Account::builder_with_http(http).from_credentials(creds),
    )
    .await
    {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            out.verbose(&format!(
                "renewal information: CA not reachable: {}",
                crate::acme::describe(&e)
            ));
            return Vec::new();
        }
        Err(_) => {
            out.verbose("renewal information: CA did not answer");
            return Vec::new();
        }
    };
    let mut due = Vec::new();
    for line in candidates {
        let Ok(Some(cert)) = lifecycle::current_cert(config, line) else {
            continue;
        };
        let der = rustls_pki_types::CertificateDer::from(cert.der.clone());
        let Ok(id) = CertificateIdentifier::try_from(&der) else {
            continue;
        };
        match tokio::time::timeout(ARI_TIMEOUT, account.renewal_info(&id)).await {
            Ok(Ok((info, _))) => {
                let start = info.suggested_window.start.unix_timestamp();
                let end = info.suggested_window.end.unix_timestamp().max(start);
                let at = due_at(start, end, &cert.serial);
                out.verbose(&format!(
                    "{}: CA suggests renewal between {} and {}",
                    line.name,
                    clock::rfc3339(start),
                    clock::rfc3339(end)
                ));
                remember(config, line, &cert.serial, start, end, out);
                if now >= at {
                    due.push(line.clone());
                }
            }
            Ok(Err(instant_acme::Error::Unsupported(_))) => {
                out.verbose("renewal information: the CA does not offer ARI");
                break;
            }
            Ok(Err(e)) => out.verbose(&format!(
                "{}: renewal information: {}",
                line.name,
                crate::acme::describe(&e)
            )),
            Err(_) => out.verbose(&format!("{}: renewal information: no answer", line.name)),
        }
    }
    due
}

/// The ARI certificate identifier (RFC 9773 §4.1: base64url of the
/// Authority Key Identifier's keyIdentifier, ".", base64url of the DER
/// serial) of the line's current certificate: what a renewal's newOrder
/// names in `replaces` (§5). None without a certificate or without an AKI.
/// Only the CA that issued it is told: another CA never saw it.
pub fn cert_id(config: &Config, line: &Line) -> Option<CertificateIdentifier<'static>> {
    let issuer = crate::state::load(&config.state, &line.name).ok()?.ca;
    if issuer != config.ca_in_use {
        return None;
    }
    let cert = lifecycle::current_cert(config, line).ok()??;
    let der = rustls_pki_types::CertificateDer::from(cert.der);
    CertificateIdentifier::try_from(&der)
        .ok()
        .map(|id| id.into_owned())
}

/// Does this newOrder error say the CA will not take our `replaces`?
/// `alreadyReplaced` (the 409 of RFC 9773 §5), a 400 whose detail names
/// the field, a CA without ARI (instant-acme refuses before sending), or
/// an order the CA created without reflecting it (instant-acme's check).
pub fn refuses_replaces(e: &instant_acme::Error) -> bool {
    match e {
        instant_acme::Error::Api(p) => {
            let kind = p.r#type.as_deref().unwrap_or("");
            kind.ends_with(":alreadyReplaced")
                || (matches!(p.status, Some(400 | 409))
                    && p.detail.as_deref().is_some_and(|d| d.contains("replaces")))
        }
        instant_acme::Error::Unsupported(_) => true,
        instant_acme::Error::Other(o) => o.to_string().starts_with("replaces field mismatch"),
        _ => false,
    }
}

/// Keep the window in the line's state for `status` (a state that cannot
/// be written only costs `status` the window: said with -v).
fn remember(config: &Config, line: &Line, serial: &str, start: i64, end: i64, out: &Output) {
    let window = Window {
        serial: serial.to_owned(),
        start,
        end,
        fetched: clock::now(),
    };
    let saved = crate::state::load(&config.state, &line.name).and_then(|mut st| {
        st.ari = Some(window);
        crate::state::save(&config.state, &line.name, &st)
    });
    if let Err(e) = saved {
        out.verbose(&format!(
            "{}: renewal information not kept: {}",
            line.name, e.msg
        ));
    }
}

/// The renewal window the CA last suggested for a line's certificate
/// (RFC 9773 §4.2), kept in the line's state for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The certificate's serial it was asked for.
    pub serial: String,
    /// suggestedWindow.start (seconds since the epoch).
    pub start: i64,
    /// suggestedWindow.end.
    pub end: i64,
    /// When the CA answered.
    pub fetched: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ARI window: not due before its start, due at its end, and one
    /// serial always picks the same point inside.
    #[test]
    fn the_ari_window_decides_by_a_point_inside_it() {
        let (start, end) = (1_900_000_000, 1_900_086_400);
        let at = due_at(start, end, "0a1b2c");
        assert!((start..end).contains(&at), "{at}");
        assert_eq!(at, due_at(start, end, "0a1b2c"));
        let points: std::collections::BTreeSet<i64> = (0..20)
            .map(|i| due_at(start, end, &format!("{i:x}")))
            .collect();
        assert!(points.len() > 10, "serials spread over the window");
        assert_eq!(due_at(start, start, "0a1b2c"), start, "an empty window");
        assert_eq!(
            due_at(start, start - 5, "0a1b2c"),
            start,
            "a backwards window"
        );
    }
}
