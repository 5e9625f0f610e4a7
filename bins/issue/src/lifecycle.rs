//! The life of a certificate line between runs: what is due (renewal
//! window with jitter, changed names, forced, staged key rollover,
//! back-off after failures), which key signs the next certificate, and the
//! commit that installs a checked certificate. Keys are written durably
//! before the CA sees their CSR; a new key enters as `keys/<line>/next/`.
//! Its certificate is staged in certs/ (written, not shown), then the key
//! is promoted, then the certificate switched on: a crash leaves the old
//! pair visible, or the new pair, or the new key with its certificate
//! staged, which `repair` switches on first thing in the next run: no
//! reader of certs/ ever sees the new certificate before its key is the
//! line's current key.

use std::time::Duration;

use certdrop_core::certinfo::{self, CertInfo};
use rcgen::KeyPair;
use sha2::{Digest, Sha256};

use crate::config::{Config, KeyPolicy, Line};
use crate::keys;
use crate::state::LineState;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

/// Why a certificate is requested now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The line has no certificate yet.
    NoCertificate,
    /// The configured names differ from the certificate's.
    NamesChanged,
    /// Inside the renewal window.
    Window,
    /// `issue --force`.
    Forced,
    /// The staged next key has been published long enough.
    Rollover,
    /// The configured key type differs from the key's.
    KeyTypeChanged,
    /// The current certificate was revoked.
    Revoked,
    /// The CA's renewal information (RFC 9773) says so.
    Ari,
    /// Not due, but an earlier run left an order in progress (a forced
    /// issuance killed or cut after finalize): continued, so that a
    /// certificate the CA issued is never abandoned.
    Resume,
    /// Not a reason to order: the staged key's record must be looked up.
    CheckNext,
}

impl Reason {
    /// Words for the action line.
    pub fn words(&self) -> &'static str {
        match self {
            Reason::NoCertificate => "first certificate",
            Reason::NamesChanged => "names changed",
            Reason::Window => "renewal due",
            Reason::Forced => "forced",
            Reason::Rollover => "key rollover",
            Reason::KeyTypeChanged => "key type changed",
            Reason::Revoked => "replacing a revoked certificate",
            Reason::Ari => "the CA's renewal window (ARI)",
            Reason::Resume => "an order in progress continued",
            Reason::CheckNext => "checking the next key's TLSA record",
        }
    }
}

/// What a line needs in this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Get a certificate.
    Issue(Reason),
    /// Generate the next key and publish its public half.
    StageNext,
    /// Nothing; the time of the next action if known, and why.
    Wait(Option<i64>, &'static str),
    /// A previous failure asks us to wait until then.
    BackOff(i64),
    /// A next key is staged: ask the authoritative servers whether they
    /// serve its TLSA record (then plan again).
    CheckNext,
    /// A CSR line's staged key has no CSR any more: withdraw its public
    /// half (`certs/<line>/next/`).
    Unstage,
}

/// The line's current certificate, parsed, if any.
pub fn current_cert(config: &Config, line: &Line) -> Result<Option<CertInfo>> {
    let path = config
        .store
        .cert_path(&line.name, certdrop_core::store::CERT);
    match std::fs::read(&path) {
        Ok(pem) => certinfo::parse_chain(&pem)
            .map(|mut v| Some(v.remove(0)))
            .map_err(|why| Error::data(format!("{}: {why}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, "read certificate", &e)),
    }
}

/// When the certificate is due: the start of the renewal window (the last
/// `remaining` percent of its lifetime) plus a jitter derived from its
/// serial, so runs agree on the time without storing it.
pub fn due_at(config: &Config, line: &Line, cert: &CertInfo) -> i64 {
    let lifetime = (cert.not_after - cert.not_before).max(1);
    let window = lifetime * i64::from(line.renew_remaining) / 100;
    let start = cert.not_after - window;
    let span = (config.jitter.as_secs() as i64).min(window / 2);
    start + jitter(&cert.serial, span)
}

/// A point in `0..span` derived from a certificate's serial: random across
/// certificates, the same for every run looking at one certificate.
pub fn jitter(serial: &str, span: i64) -> i64 {
    if span <= 0 {
        return 0;
    }
    let digest = Sha256::digest(serial.as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    (n % span as u64) as i64
}

/// Age of the line's current key in seconds at `now`, if it has one.
pub fn key_age(config: &Config, line: &Line, state: &LineState, now: i64) -> Option<i64> {
    let created = state.key_created.or_else(|| {
        let meta = std::fs::metadata(config.store.key_path(&line.name)).ok()?;
        let m = meta.modified().ok()?;
        Some(m.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
    })?;
    Some(now - created)
}

/// Decide what `line` needs at `now` (the clock, read once by the caller:
/// the decision depends on nothing else that changes by itself).
/// `explicit` (a line named on the command line) skips the back-off.
pub fn plan(
    config: &Config,
    line: &Line,
    state: &LineState,
    now: i64,
    force: bool,
    explicit: bool,
) -> Result<Plan> {
    if force {
        return Ok(Plan::Issue(Reason::Forced));
    }
    if let Some(t) = state.retry_not_before.filter(|_| !explicit) {
        if t > now {
            return Ok(Plan::BackOff(t));
        }
    }
    // A CSR line's requests are checked first: a refused one stops the
    // line before anything is asked of the CA.
    let csrs = crate::csrkeys::load(line)?;
    let Some(cert) = current_cert(config, line)? else {
        return Ok(Plan::Issue(Reason::NoCertificate));
    };
    if state.revoked_serial.as_deref() == Some(cert.serial.as_str()) {
        return Ok(Plan::Issue(Reason::Revoked));
    }
    if certinfo::name_set(&cert.names) != line.name_set() {
        return Ok(Plan::Issue(Reason::NamesChanged));
    }
    if let Some(csrs) = &csrs {
        return crate::csrkeys::plan(config, line, state, now, &cert, csrs);
    }
    let has_next = config.store.next_key_path(&line.name).exists();
    if has_next && !matches!(line.key_policy, KeyPolicy::Fresh) {
        if let Some(ready) = rollover_ready_at(line, state, now) {
            if now >= ready {
                return Ok(Plan::Issue(Reason::Rollover));
            }
        }
    }
    if line.key_policy == KeyPolicy::Reuse {
        if let Ok(key) = keys::load(&config.store.key_path(&line.name), line.key_group) {
            if !line.key_type.matches(&key) {
                return Ok(Plan::Issue(Reason::KeyTypeChanged));
            }
        }
    }
    let due = due_at(config, line, &cert);
    if now >= due {
        return Ok(Plan::Issue(Reason::Window));
    }
    if let (Some(max), KeyPolicy::Reuse, false) = (line.max_key_age, &line.key_policy, has_next) {
        if key_age(config, line, state, now).is_some_and(|age| age >= max.as_secs() as i64) {
            return Ok(Plan::StageNext);
        }
    }
    if has_next {
        return Ok(match rollover_ready_at(line, state, now) {
            Some(ready) => Plan::Wait(Some(ready.min(due)), "next key published, waiting"),
            None => Plan::CheckNext,
        });
    }
    Ok(Plan::Wait(Some(due), "renewal"))
}

/// When the staged next key may sign: `rollover_wait` after it was
/// published — and, for a line with TLSA owners, no earlier than 2 × TTL
/// after every authoritative server was seen serving its record (None
/// until then). A next key without a publication time counts from `now`.
pub fn rollover_ready_at(line: &Line, state: &LineState, now: i64) -> Option<i64> {
    // Times are whole seconds, truncated: one second more makes every
    // wait at least its full length.
    let published = state.next_published.unwrap_or(now);
    let by_clock = published + line.rollover_wait.as_secs() as i64 + 1;
    if line.tlsa.is_empty() {
        return Some(by_clock);
    }
    let since = state.next_served_since?;
    let ttl = i64::from(state.next_served_ttl.unwrap_or(0));
    Some(by_clock.max(since + 2 * ttl + 1))
}

/// The key material for one order.
pub enum Signer {
    /// Our key (`new` when it was just generated and sits in `next/`).
    Key {
        /// The key.
        key: KeyPair,
        /// It is `keys/<line>/next/key.pem`, to be promoted on commit.
        from_next: bool,
    },
    /// The user's CSR (`next`: the staged next key's, see csrkeys.rs).
    Csr {
        /// The request.
        csr: certinfo::CsrInfo,
        /// It requests the staged next key.
        next: bool,
    },
}

impl Signer {
    /// DER CSR and SPKI for the order.
    pub fn request(&self, line: &Line) -> Result<(Vec<u8>, Vec<u8>)> {
        match self {
            Signer::Key { key, .. } => Ok((keys::csr(key, &line.domains)?, keys::spki(key))),
            Signer::Csr { csr, .. } => Ok((csr.der.clone(), csr.spki.clone())),
        }
    }

    /// The request is for the line's next key (generated or staged).
    pub fn for_next(&self) -> bool {
        match self {
            Signer::Key { from_next, .. } => *from_next,
            Signer::Csr { next, .. } => *next,
        }
    }
}

/// Choose (and if needed generate and durably store) the key for `reason`.
pub fn signer(
    config: &Config,
    line: &Line,
    reason: &Reason,
    state: &mut LineState,
    now: i64,
) -> Result<Signer> {
    let store = &config.store;
    let next_path = store.next_key_path(&line.name);
    match &line.key_policy {
        KeyPolicy::Csr(_) => crate::csrkeys::signer(config, line, reason, &*state),
        // A kept order finalized already: the key its CSR carried, whatever
        // brought the line here (its certificate is for that key).
        _ if finalized_with(state, true) && next_path.exists() => Ok(Signer::Key {
            key: keys::load(&next_path, line.key_group)?,
            from_next: true,
        }),
        KeyPolicy::Reuse
            if finalized_with(state, false)
                && *reason != Reason::KeyTypeChanged
                && !state.key_compromised
                && store.key_path(&line.name).exists() =>
        {
            Ok(Signer::Key {
                key: keys::load(&store.key_path(&line.name), line.key_group)?,
                from_next: false,
            })
        }
        KeyPolicy::Reuse if *reason == Reason::Rollover => Ok(Signer::Key {
            key: keys::load(&next_path, line.key_group)?,
            from_next: true,
        }),
        KeyPolicy::Reuse if *reason != Reason::KeyTypeChanged && !state.key_compromised => {
            let path = store.key_path(&line.name);
            if path.exists() {
                return Ok(Signer::Key {
                    key: keys::load(&path, line.key_group)?,
                    from_next: false,
                });
            }
            fresh_key(config, line, state, now)
        }
        _ => fresh_key(config, line, state, now),
    }
}

/// Was the order in progress finalized, with the line's next key (`next`)
/// or its current one?
fn finalized_with(state: &LineState, next: bool) -> bool {
    state
        .order
        .as_ref()
        .is_some_and(|o| o.stage == crate::state::Stage::Finalized && o.next_key == next)
}

/// A new key for the order, unless the order in progress was finalized
/// with the one generated for it (`keys/<line>/next/key.pem`): the CA may
/// have issued for that key, and the resumed order's certificate carries
/// it, so it is used again rather than replaced.
fn fresh_key(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<Signer> {
    let next_path = config.store.next_key_path(&line.name);
    let finalized = state
        .order
        .as_ref()
        .is_some_and(|o| o.stage == crate::state::Stage::Finalized);
    if finalized && next_path.exists() {
        return Ok(Signer::Key {
            key: keys::load(&next_path, line.key_group)?,
            from_next: true,
        });
    }
    new_next_key(config, line, state, now)
}

/// Generate a key and store it as `keys/<line>/next/key.pem` before use.
fn new_next_key(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<Signer> {
    let key = line.key_type.generate()?;
    let path = config.store.next_key_path(&line.name);
    config
        .store
        .write_key_for(&path, key.serialize_pem().as_bytes(), line.key_group)
        .map_err(|e| Error::io(&path, "write key", &e))?;
    state.next_key_created = Some(now);
    Ok(Signer::Key {
        key,
        from_next: true,
    })
}

/// Stage a rollover: a next key whose public half is published beside the
/// current certificate, so the zone compiler serves TLSA for both.
pub fn stage_next(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<()> {
    let Signer::Key { key, .. } = new_next_key(config, line, state, now)? else {
        unreachable!("new_next_key makes a key")
    };
    let pubkey = keys::public_pem(&keys::spki(&key));
    let prev = config.store.read_prev_pub(&line.name).map_err(|e| {
        Error::io(
            &config.store.prev_pub_path(&line.name),
            "read previous key",
            &e,
        )
    })?;
    config
        .store
        .publish(&line.name, None, Some(pubkey.as_bytes()), prev.as_deref())
        .map_err(|e| Error::io(&config.store.line_dir(&line.name), "publish next key", &e))?;
    state.next_published = Some(now);
    Ok(())
}

/// Drop the retiring previous key's public half once it has been kept
/// for the line's `retire_after` since the rollover, at `now`; true if it did.
pub fn retire_prev(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<bool> {
    let store = &config.store;
    if !store.prev_pub_path(&line.name).exists() {
        state.prev_published = None;
        return Ok(false);
    }
    // A state file lost or older than this: start the clock now.
    let since = *state.prev_published.get_or_insert(now);
    // Whole seconds, truncated: `<=` keeps it the full retire_after.
    if now <= since + line.retire_after.as_secs() as i64 {
        return Ok(false);
    }
    let next = store
        .read_next_pub(&line.name)
        .map_err(|e| Error::io(&store.next_pub_path(&line.name), "read next key", &e))?;
    store
        .publish(&line.name, None, next.as_deref(), None)
        .map_err(|e| Error::io(&store.line_dir(&line.name), "retire previous key", &e))?;
    state.prev_published = None;
    Ok(true)
}

/// Record a failure and, when it is one a later run could fix
/// ([`holds_back`]), compute the back-off: doubling from the configured
/// first delay, capped, and never earlier than the CA's Retry-After.
pub fn record_failure(config: &Config, state: &mut LineState, error: &Error, now: i64) {
    state.last_failure = Some(now);
    state.last_error = Some(error.msg.clone());
    if !holds_back(error.class, state.issued.is_some()) {
        return;
    }
    state.failures = state.failures.saturating_add(1);
    let exp = state.failures.saturating_sub(1).min(16);
    let delay = config
        .backoff
        .saturating_mul(1u32 << exp)
        .min(crate::config::MAX_BACKOFF);
    // A finalized order the CA is still processing is not a failure to
    // back off from: the next run continues it as soon as the CA's
    // Retry-After has passed.
    let finalized = state
        .order
        .as_ref()
        .is_some_and(|o| o.stage == crate::state::Stage::Finalized);
    let delay = match error.retry_after {
        Some(ra) if finalized => ra,
        Some(ra) => delay.max(ra),
        None => delay,
    };
    // Rounded up: a part second left of the CA's Retry-After is a second.
    let secs = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    state.retry_not_before = Some(now + secs as i64);
}

/// Does a failure of `class` put the line in back-off? Only what a later
/// run could fix without anyone's help: a temporary fault (75), and a CA
/// that cannot be reached (69) once the line has had a certificate. A
/// problem no retry can fix (65, 78: the configuration, the account or the
/// request must change) does not, nor does an unreachable CA before the
/// first certificate (most often a wrong directory URL): once it is fixed,
/// the next run tries at once.
pub fn holds_back(class: Failure, had_certificate: bool) -> bool {
    match class {
        Failure::Temporary => true,
        Failure::Unavailable => had_certificate,
        _ => false,
    }
}

/// Days, hours or minutes from `now` until `t`, for humans.
pub fn until(t: i64, now: i64) -> String {
    let d = Duration::from_secs((t - now).max(0) as u64);
    let s = d.as_secs();
    if s >= 2 * 86_400 {
        format!("{}d", s / 86_400)
    } else if s >= 7200 {
        format!("{}h", s / 3600)
    } else {
        format!("{}m", s / 60)
    }
}

mod commit;
#[cfg(test)]
pub use commit::commit;
pub use commit::{commit_grouped, repair};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod crash_tests;
