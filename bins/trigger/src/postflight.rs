//! After acting: does the service now serve the deployed certificate? A
//! TLS handshake with SNI (certdrop-probe: TLS 1.2 or 1.3, implicit or
//! after the endpoint's STARTTLS) to each configured endpoint, the served
//! leaf compared byte for byte with the deployed one, retried until it is
//! served or the wait is over.

use std::time::{Duration, Instant};

use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_probe::{self as probe, ErrorKind};

use crate::definition::Endpoint;
use crate::material::{self, Loaded};

/// Time limit of one probe (connect, STARTTLS, handshake), at most.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest time one probe is given (the last attempt may start just
/// before the wait is over): each endpoint's check ends within the wait
/// plus at most this.
const ATTEMPT_MIN: Duration = Duration::from_millis(200);
/// Pause between two attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Check every endpoint within `wait`, polling each until it serves the
/// leaf of `loaded` that covers its name, byte for byte. The error (69:
/// the service is down or serves another certificate) names the endpoint
/// and what it served (or why nothing could be read) at the last attempt.
pub fn check(endpoints: &[Endpoint], loaded: &[Loaded], wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    for e in endpoints {
        let Some(want) = material::leaf_for(loaded, &e.sni) else {
            continue;
        };
        let subject = format!("{} ({})", e.connect, e.sni);
        // A STARTTLS endpoint says its protocol (the probe's errors do too).
        let via = match e.protocol {
            probe::Protocol::Tls => String::new(),
            p => format!("{p}: "),
        };
        let target = probe::Target {
            connect: e.connect,
            server_name: &e.sni,
            protocol: e.protocol,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let limits = probe::Limits {
                timeout: left.clamp(ATTEMPT_MIN, ATTEMPT_TIMEOUT),
                ..probe::Limits::default()
            };
            let why = match probe::fetch_chain(&target, &limits) {
                Ok(served) if served.certs.first() == Some(&want.der) => break,
                Ok(served) => match served.certs.first().map(|d| certdrop_core::certinfo::parse_der(d)) {
                    Some(Ok(got)) => format!(
                        "{via}serves serial {} (not after {}), not the deployed serial {} (not after {})",
                        got.serial,
                        clock::rfc3339(got.not_after),
                        want.serial,
                        clock::rfc3339(want.not_after)
                    ),
                    _ => format!("{via}serves a certificate that is not the deployed one"),
                },
                Err(err) => {
                    // Its line starts with the endpoint, which ours names already.
                    let text = err.to_string();
                    let cause = text
                        .strip_prefix(&format!("{}: ", err.endpoint))
                        .unwrap_or(&text);
                    match err.kind {
                        ErrorKind::Connect | ErrorKind::Timeout | ErrorKind::Closed => {
                            format!("down? {cause}")
                        }
                        _ => cause.to_string(),
                    }
                }
            };
            if Instant::now() + RETRY_PAUSE >= deadline {
                return Err(Error::unavailable(format!("{subject}: {why}")));
            }
            std::thread::sleep(RETRY_PAUSE);
        }
    }
    Ok(())
}
