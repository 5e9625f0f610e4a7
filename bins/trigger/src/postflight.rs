//! After acting: does the service now serve the deployed certificate? A
//! TLS 1.2 handshake with SNI (certdrop-tlsfetch, no TLS library) to each
//! configured endpoint, the served leaf compared byte for byte with the
//! deployed one, retried while the service restarts.

use std::time::{Duration, Instant};

use certdrop_core::clock;
use certdrop_core::error::{Error, Result};

use crate::definition::Endpoint;
use crate::material::{self, Loaded};

/// Time limit of one connect and handshake read.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Check every endpoint within `wait`; the error (69: the service is down
/// or serves another certificate) names the endpoint and what it served
/// (or why nothing could be read) at the last attempt.
pub fn check(endpoints: &[Endpoint], loaded: &[Loaded], wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    for e in endpoints {
        let Some(want) = material::leaf_for(loaded, &e.sni) else {
            return Ok(());
        };
        let subject = format!("{} ({})", e.connect, e.sni);
        loop {
            let why = match certdrop_tlsfetch::fetch_chain(e.connect, &e.sni, ATTEMPT_TIMEOUT) {
                Ok(served) if served.certs.first() == Some(&want.der) => break,
                Ok(served) => match served.certs.first().map(|d| certdrop_core::certinfo::parse_der(d)) {
                    Some(Ok(got)) => format!(
                        "serves serial {} (not after {}), not the deployed serial {} (not after {})",
                        got.serial,
                        clock::rfc3339(got.not_after),
                        want.serial,
                        clock::rfc3339(want.not_after)
                    ),
                    _ => "serves a certificate that is not the deployed one".to_string(),
                },
                Err(err) => format!("down? {err}"),
            };
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(Error::unavailable(format!("{subject}: {why}")));
            }
            std::thread::sleep(RETRY_PAUSE);
        }
    }
    Ok(())
}
