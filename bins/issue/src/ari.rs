//! ACME Renewal Information (RFC 9773): ask the CA when it wants a
//! certificate renewed, for the lines our own window does not make due yet.
//! Only where the CA offers it (Pebble 2.4 does not; Let's Encrypt does),
//! one attempt each and never fatal: a CA that cannot be asked leaves the
//! decision to the lifetime rule.

use std::time::Duration;

use certdrop_core::clock;
use certdrop_core::output::Output;
use instant_acme::{Account, CertificateIdentifier};

use crate::config::{Config, Line};
use crate::lifecycle;

/// Time allowed for one ARI exchange.
const ARI_TIMEOUT: Duration = Duration::from_secs(15);

/// The lines among `candidates` whose ARI window has opened (at a point
/// inside the window derived from the serial, as RFC 9773 §4.2 asks for a
/// random point).
pub async fn due(config: &Config, candidates: &[Line], out: &Output) -> Vec<Line> {
    if !config.ari || candidates.is_empty() {
        return Vec::new();
    }
    let creds = match crate::acme::read_credentials(&config.account) {
        Ok(Some(c)) => c,
        _ => return Vec::new(), // no account yet: nothing to ask about
    };
    let http = match crate::acme::http_client(config.ca_bundle.as_deref()) {
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
    let now = clock::now();
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
                let at = start + lifecycle::jitter(&cert.serial, end - start);
                out.verbose(&format!(
                    "{}: CA suggests renewal between {} and {}",
                    line.name,
                    clock::rfc3339(start),
                    clock::rfc3339(end)
                ));
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
