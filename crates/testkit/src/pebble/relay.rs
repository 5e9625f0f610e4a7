//! Relay from a dns-01 drop directory (one zone-file TXT fragment per file)
//! into pebble-challtestsrv, which Pebble uses as its DNS.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{json_str, mgmt_post};

const TICK: Duration = Duration::from_millis(50);
/// Marker in `applied` for "state unknown after an error": forces clear + re-add next pass.
const UNKNOWN: &str = "\u{0}unknown";

type RecordSet = BTreeMap<String, BTreeSet<String>>;

/// Background thread that keeps challtestsrv's TXT records equal to the fragments in a directory; stops (and clears what it published) on Drop.
pub struct Relay {
    /// The drop directory being relayed.
    pub dir: PathBuf,
    stop: Arc<AtomicBool>,
    passes: Arc<AtomicU64>,
    state: Arc<Mutex<RelayState>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct RelayState {
    /// What challtestsrv serves, as far as the relay knows.
    applied: RecordSet,
    /// "file: reason" for lines or files that were not relayed in the last pass.
    skipped: Vec<String>,
    /// Last management-API error, if any.
    error: Option<String>,
}

impl Relay {
    /// Start relaying `dir` to the challtestsrv management API at `cts_addr` (usually via [`super::Pebble::relay_dnsextra`]).
    pub fn start(dir: &Path, cts_addr: SocketAddr) -> Relay {
        let stop = Arc::new(AtomicBool::new(false));
        let passes = Arc::new(AtomicU64::new(0));
        let state = Arc::new(Mutex::new(RelayState::default()));
        let (d, s, p, st) = (
            dir.to_path_buf(),
            stop.clone(),
            passes.clone(),
            state.clone(),
        );
        let thread = std::thread::Builder::new()
            .name("dnsextra-relay".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    sync_once(&d, cts_addr, &st);
                    p.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(TICK);
                }
                // Unpublish everything on the way out.
                let mut st = st.lock().expect("no holder of this lock panics");
                for owner in std::mem::take(&mut st.applied).keys() {
                    let _ = mgmt_post(
                        cts_addr,
                        "/clear-txt",
                        &format!(r#"{{"host":{}}}"#, json_str(owner)),
                    );
                }
            })
            .expect("spawn relay thread");
        Relay {
            dir: dir.to_path_buf(),
            stop,
            passes,
            state,
            thread: Some(thread),
        }
    }

    /// Block until the relay has completed two further full passes (so every file present now is published); false on timeout (5 s).
    pub fn settle(&self) -> bool {
        let target = self.passes.load(Ordering::SeqCst) + 2;
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.passes.load(Ordering::SeqCst) < target {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// The records the relay has published: owner -> values.
    pub fn published(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut m = self
            .state
            .lock()
            .expect("no holder of this lock panics")
            .applied
            .clone();
        for v in m.values_mut() {
            v.remove(UNKNOWN);
        }
        m
    }

    /// Lines/files skipped in the last pass, as "file: reason" (for debugging malformed fragments).
    pub fn skipped(&self) -> Vec<String> {
        self.state
            .lock()
            .expect("no holder of this lock panics")
            .skipped
            .clone()
    }

    /// The last error talking to challtestsrv, if the last pass had one.
    pub fn last_error(&self) -> Option<String> {
        self.state
            .lock()
            .expect("no holder of this lock panics")
            .error
            .clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn scan(dir: &Path, skipped: &mut Vec<String>) -> RecordSet {
    let mut want = RecordSet::new();
    let Ok(rd) = fs::read_dir(dir) else {
        skipped.push(format!("{}: cannot read directory", dir.display()));
        return want;
    };
    for ent in rd.flatten() {
        let name = ent.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue; // temp file of an atomic write
        }
        // Regular files only (not following symlinks).
        match ent.file_type() {
            Ok(t) if t.is_file() => {}
            _ => continue,
        }
        let text = match fs::read(ent.path()) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => continue, // vanished between readdir and read
        };
        for line in text.lines() {
            if line.trim().is_empty() {
                continue;
            }
            match parse_fragment(line) {
                Some((owner, value)) => {
                    want.entry(owner).or_default().insert(value);
                }
                None => skipped.push(format!("{name}: {line:?}")),
            }
        }
    }
    want
}

fn sync_once(dir: &Path, cts: SocketAddr, state: &Mutex<RelayState>) {
    let mut skipped = Vec::new();
    let want = scan(dir, &mut skipped);
    let mut st = state.lock().expect("no holder of this lock panics");
    st.skipped = skipped;
    st.error = None;
    let owners: BTreeSet<String> = st.applied.keys().chain(want.keys()).cloned().collect();
    for owner in owners {
        let empty = BTreeSet::new();
        let have = st.applied.get(&owner).unwrap_or(&empty).clone();
        let new = want.get(&owner).unwrap_or(&empty);
        if &have == new {
            continue;
        }
        let host = json_str(&owner);
        // challtestsrv's /set-txt appends and /clear-txt drops all values of a
        // host: when values are only added, append (no window where a value
        // already published disappears); otherwise clear and re-add.
        let result = (|| {
            let to_add: Vec<&String> = if have.is_subset(new) {
                new.difference(&have).collect()
            } else {
                mgmt_post(cts, "/clear-txt", &format!(r#"{{"host":{host}}}"#))?;
                st.applied.remove(&owner);
                new.iter().collect()
            };
            for v in to_add {
                mgmt_post(
                    cts,
                    "/set-txt",
                    &format!(r#"{{"host":{host},"value":{}}}"#, json_str(v)),
                )?;
                st.applied
                    .entry(owner.clone())
                    .or_default()
                    .insert(v.clone());
            }
            Ok::<(), std::io::Error>(())
        })();
        if let Err(e) = result {
            // Unknown state now: force a clear-and-re-add on the next pass.
            st.applied
                .entry(owner.clone())
                .or_default()
                .insert(UNKNOWN.into());
            st.error = Some(format!("{owner}: {e}"));
        }
        if st.applied.get(&owner).is_some_and(|s| s.is_empty()) {
            st.applied.remove(&owner);
        }
    }
}

/// Parse one fragment line `OWNER. TTL IN TXT "value"` into (lowercased owner, value); None for anything else.
pub fn parse_fragment(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..4 {
        let r = rest.trim_start();
        let end = r.find([' ', '\t'])?;
        fields.push(&r[..end]);
        rest = &r[end..];
    }
    let (owner, ttl, class, typ) = (fields[0], fields[1], fields[2], fields[3]);
    if !owner.ends_with('.') || owner.len() < 2 || owner.contains('"') {
        return None;
    }
    ttl.parse::<u32>().ok()?;
    if !class.eq_ignore_ascii_case("IN") || !typ.eq_ignore_ascii_case("TXT") {
        return None;
    }
    let q = rest.trim();
    let inner = q.strip_prefix('"')?;
    let mut value = Vec::new();
    let mut chars = inner.bytes().enumerate();
    let mut closed_at = None;
    while let Some((i, b)) = chars.next() {
        match b {
            b'"' => {
                closed_at = Some(i);
                break;
            }
            b'\\' => {
                let (_, n) = chars.next()?;
                if n.is_ascii_digit() {
                    let (_, d2) = chars.next()?;
                    let (_, d3) = chars.next()?;
                    let s = [n, d2, d3];
                    let v: u8 = std::str::from_utf8(&s).ok()?.parse().ok()?;
                    value.push(v);
                } else {
                    value.push(n);
                }
            }
            _ => value.push(b),
        }
    }
    let end = closed_at?;
    // Exactly one quoted value, nothing after it.
    if !inner[end + 1..].trim().is_empty() {
        return None;
    }
    Some((owner.to_ascii_lowercase(), String::from_utf8(value).ok()?))
}
