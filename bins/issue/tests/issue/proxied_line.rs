//! One certificate line at a test site whose client talks to Pebble
//! through the fault proxy, with what the kill -9 tests (soak.rs,
//! interrupted.rs) need around it: runs started and SIGKILLed, an answer
//! held at the proxy until released, the state file read, leftover
//! temporary files found.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::site::{openssl, Site};
use certdrop_testkit::pebble::{Endpoint, Fault, FaultProxy};

/// How long a run may take here before it counts as stuck (a busy
/// 2-core machine; Pebble answers in milliseconds).
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// The line's key policy under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `key_policy = "fresh"`.
    Fresh,
    /// `key_policy = "reuse"`.
    Reuse,
}

/// One line `name` at a site whose client talks to Pebble through the
/// fault proxy (as faults.rs's `Proxied`, with a key policy). A test that
/// holds answers drops its [`Release`]s before this.
pub struct ProxiedLine {
    // The proxy first: it closes its connections before Pebble stops.
    pub proxy: FaultProxy,
    pub site: Site,
    pub config: PathBuf,
    pub name: &'static str,
    pub policy: Policy,
}

impl ProxiedLine {
    /// Pebble, the proxy, and the line `name` (http-01) with `policy`.
    pub fn new(name: &'static str, policy: Policy) -> ProxiedLine {
        let mut site = Site::start();
        let word = match policy {
            Policy::Fresh => "fresh",
            Policy::Reuse => "reuse",
        };
        site.http_line(name, &format!("key_policy = \"{word}\""));
        let (proxy, config) = crate::proxied::behind_proxy(&site);
        ProxiedLine {
            proxy,
            site,
            config,
            name,
            policy,
        }
    }

    /// certdrop-issue with `args` on this site's proxied configuration.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdrop-issue"));
        cmd.arg("-c")
            .arg(&self.config)
            .args(args)
            .env_remove("SSL_CERT_FILE")
            .env_remove("CERTDROP_ISSUE_CONFIG");
        cmd
    }

    /// A forced renewal of the line (`-v issue --force`).
    pub fn forced(&self) -> Command {
        self.command(&["-v", "issue", "--force", self.name])
    }

    /// `certs/<line>/cert.pem`.
    pub fn cert(&self) -> PathBuf {
        self.site.path(&format!("certs/{}/cert.pem", self.name))
    }

    /// The installed certificate's serial (via openssl).
    pub fn serial(&self) -> String {
        openssl(&["x509", "-noout", "-serial", "-in"], &self.cert())
    }

    /// `state/<line>.json`, parsed (it must parse whenever it exists).
    pub fn state(&self) -> serde_json::Value {
        let path = self.site.path(&format!("state/{}.json", self.name));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
    }

    /// The order in progress the state file keeps, if any.
    pub fn kept_order(&self) -> Option<serde_json::Value> {
        self.state().get("order").cloned()
    }
}

/// Every path below `dir` (recursively) whose name starts with `.tmp.`.
pub fn temp_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with(".tmp.") {
            found.push(path.clone());
        }
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            found.extend(temp_files(&path));
        }
    }
    found
}

/// Poll `cond` every millisecond until it holds or `limit` passes: a kill
/// point must follow its condition closely (the kit's tick is 20 ms).
pub fn soon(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Releases a held answer when dropped, so neither a finished round nor a
/// failed assertion leaves a proxy thread (and the proxy's Drop) waiting.
pub struct Release(pub Arc<AtomicBool>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl ProxiedLine {
    /// Let Pebble take the `nth` (from 0) next request to `endpoint` and
    /// hold its answer back from the client until the returned
    /// [`Release`] is dropped; the flag says when it is held.
    pub fn hold_answer(&self, endpoint: Endpoint, nth: u32) -> (Arc<AtomicBool>, Release) {
        let reached = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        let (r, l) = (reached.clone(), release.clone());
        self.proxy.inject(
            endpoint,
            nth,
            1,
            Fault::rewrite(move |_| {
                r.store(true, Ordering::SeqCst);
                soon(RUN_LIMIT, || l.load(Ordering::SeqCst));
            }),
        );
        (reached, Release(release))
    }
}
