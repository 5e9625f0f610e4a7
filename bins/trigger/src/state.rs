//! The trigger's own state (`<state>/<service>.json`): the SHA-256 of the
//! files last deployed and confirmed by the post-flight check, for the
//! `content-changed` rule; and the two rules themselves.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::definition::Rule;
use crate::material::Loaded;

/// What was last deployed for a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployed {
    /// SHA-256 over the deployed files (see [`digest`]), hex.
    pub digest: String,
    /// The leaves' serials, for people reading the file.
    pub serials: Vec<String>,
    /// When, RFC 3339.
    pub at: String,
}

/// `<state>/<service>.json`.
pub fn path(state: &Path, service: &str) -> PathBuf {
    state.join(format!("{service}.json"))
}

/// The record, if any; an unreadable or malformed one counts as none (the
/// next deployment rewrites it).
pub fn load(state: &Path, service: &str) -> Option<Deployed> {
    let text = std::fs::read(path(state, service)).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Record a deployment atomically: a temporary file, fsynced, renamed over
/// the record. The rename is made durable by the caller's one fsync of the
/// state directory at the end of the pass ([`sync`]), not here: two fsyncs
/// per service were most of a first pass over 1,000 services. A crash
/// before that fsync can lose the rename, never leave a torn record; the
/// record it falls back to (the previous one, or none) differs from what
/// was deployed, so the next pass deploys again: one more reload, never a
/// deployment missed.
pub fn save(state: &Path, service: &str, deployed: &Deployed) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let text = serde_json::to_vec_pretty(deployed).map_err(std::io::Error::other)?;
    let record = path(state, service);
    let tmp = certdrop_core::atomic::temp_path(&record);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(certdrop_core::atomic::MODE_SECRET)
            .open(&tmp)?;
        file.write_all(&text)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &record)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Make the pass's [`save`]s durable: one fsync of the state directory.
pub fn sync(state: &Path) -> std::io::Result<()> {
    std::fs::File::open(state)?.sync_all()
}

/// SHA-256 over every pair: each path and the SHA-256 of its content, so a
/// changed file, a changed path or a new pair all change it.
pub fn digest(loaded: &[Loaded]) -> String {
    let mut h = Sha256::new();
    for l in loaded {
        h.update(l.pair.cert.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(Sha256::digest(&l.cert_bytes));
        if let (Some(k), Some(bytes)) = (&l.pair.key, &l.key_bytes) {
            h.update(k.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(Sha256::digest(bytes));
        }
    }
    certdrop_core::certinfo::hex(&h.finalize())
}

/// Why the rule says to act, or `None`.
pub fn due(
    rule: Rule,
    loaded: &[Loaded],
    pidfile: Option<&Path>,
    last: Option<&Deployed>,
) -> Option<String> {
    match rule {
        Rule::ContentChanged => {
            let now = digest(loaded);
            match last {
                None => Some("no deployment recorded yet".into()),
                Some(d) if d.digest != now => {
                    Some("content changed since the last deployment".into())
                }
                Some(_) => None,
            }
        }
        Rule::NewerThanPidfile => {
            let pidfile = pidfile?;
            let Ok(pid_time) = std::fs::metadata(pidfile).and_then(|m| m.modified()) else {
                return Some(format!("no pid file {}", pidfile.display()));
            };
            let files = loaded
                .iter()
                .flat_map(|l| std::iter::once(&l.pair.cert).chain(l.pair.key.as_ref()));
            for f in files {
                let t = std::fs::metadata(f)
                    .and_then(|m| m.modified())
                    .unwrap_or(SystemTime::UNIX_EPOCH);
                if t > pid_time {
                    return Some(format!(
                        "{} is newer than {}",
                        f.display(),
                        pidfile.display()
                    ));
                }
            }
            None
        }
    }
}
