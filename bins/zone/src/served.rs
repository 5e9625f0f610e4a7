//! After a reload, a look: does the configured server now serve the new
//! serial? nsd-control returns before nsd has loaded the zone, and a zone
//! installed where nsd does not read it (a mistyped `install`) reloads
//! "successfully" while the old zone stays served. Without a `server` in
//! the configuration, the output says that nothing was looked at.

use std::time::{Duration, Instant};

use certdrop_core::duration;
use certdrop_core::error::{Error, Result};

use crate::config::Config;
use crate::serial;

/// Between two SOA queries while the server has not loaded the zone yet.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The longest one query may take (the wait as a whole is `serve_wait`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// Wait (bounded by `serve_wait`) until `server` (the zone's) serves
/// `want` (or a later serial) for `zone`; returns the words for the action line. A
/// server still serving something else at the end is 69: the zone is not
/// recorded as installed, so the next build tries again.
pub fn wait(
    config: &Config,
    zone: &str,
    server: Option<std::net::SocketAddr>,
    want: u32,
) -> Result<String> {
    let Some(server) = server else {
        return Ok("served serial not checked: no server in the configuration".into());
    };
    let deadline = Instant::now() + config.serve_wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.clamp(POLL_INTERVAL, QUERY_TIMEOUT);
        let seen = match certdrop_dns::query_soa_serial(server, zone, timeout) {
            Ok(Some(s)) if s == want || serial::greater(s, want) => {
                return Ok(format!("{server} serves it"))
            }
            Ok(Some(s)) => format!("still serves serial {s}"),
            Ok(None) => "serves no SOA record".to_owned(),
            Err(e) => format!("does not answer: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(Error::unavailable(format!(
                "zone {zone}: {server} {seen} after {}, not {want}: is install ({}) the directory nsd reads?",
                duration::render(config.serve_wait),
                config.install.display()
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
