//! `certdrop-trigger csr`: a service site's keys and CSR outbox (issue 15:
//! keys that never leave their host). For each `[[csr]]` line: make the
//! key if there is none and reuse it otherwise (so TLSA 3 1 1 stays what
//! it was), stage a next key when the key is older than max_key_age (or
//! not of the configured type), and write a new signed version of the
//! line's outbox only when what it asks for changed: the names, the key,
//! the next key. A CSR differs byte for byte each time it is made (ECDSA
//! signatures are randomised), so the comparison is on the manifest's
//! fields, never on the files. Quiet for cron: nothing changed, nothing
//! printed, exit 2; one line per line written, exit 0.
//!
//! It runs under the state directory's lock, as `run` does: `run`
//! promotes next keys (src/csr/promote.rs) and the two never interleave.

pub mod keys;
pub mod outbox;
pub mod promote;

use certdrop_core::atomic::{self, MODE_SECRET_DIR};
use certdrop_core::certinfo;
use certdrop_core::duration;
use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::lock::StateLock;
use certdrop_core::output::Output;
use certdrop_manifest::SigningKey;

use crate::config::outbox::{CsrLine, Outbox};
use crate::config::Config;
use crate::ctx::Mode;
use keys::Key;

/// The `csr` verb over the named lines (all when `lines` is empty).
pub fn run(config: &Config, lines: &[String], mode: Mode, out: &Output) -> Result<Outcome> {
    let Some(ob) = config.outbox.as_ref().filter(|o| !o.lines.is_empty()) else {
        return Err(Error::config(format!(
            "{}: no [[csr]] line (and [outbox]): nothing for csr to do",
            config.path.display()
        )));
    };
    if let Some(n) = lines.iter().find(|n| ob.line(n).is_none()) {
        return Err(Error::usage(format!(
            "{}: no [[csr]] line named '{n}'",
            config.path.display()
        )));
    }
    atomic::ensure_dir(&config.state, MODE_SECRET_DIR)
        .map_err(|e| Error::cantcreat(&config.state, "cannot create", &e))?;
    let _lock = StateLock::acquire(&config.state, config.lock_wait)?;
    // Loaded first, so that `-n` says a key that cannot sign.
    let signer = SigningKey::load(&ob.signing_key)?;
    let mut outcome = match mode.check {
        true => Outcome::Reported,
        false => Outcome::Unchanged,
    };
    let mut worst = Worst::default();
    for l in ob
        .lines
        .iter()
        .filter(|l| lines.is_empty() || lines.contains(&l.line))
    {
        match line(ob, l, &signer, mode, out) {
            Ok(o) => outcome = outcome.and(o),
            Err(e) => worst.add(out, e.context(&l.line)),
        }
    }
    worst.or(outcome)
}

/// One line: its keys, then its outbox.
fn line(
    ob: &Outbox,
    l: &CsrLine,
    signer: &SigningKey,
    mode: Mode,
    out: &Output,
) -> Result<Outcome> {
    let key_path = ob.key(&l.line);
    let next_path = ob.next_key(&l.line);
    let mut did: Vec<String> = Vec::new();
    let key = match keys::load(&key_path)? {
        Some(k) => k,
        None if mode.check => {
            out.print(&format!(
                "{}: would make the key {} ({}) and write the outbox",
                l.line,
                key_path.display(),
                l.key.name()
            ));
            return Ok(Outcome::Reported);
        }
        None => {
            let k = keys::make(&ob.keys, &key_path, l.key)?;
            did.push(format!("new key {} ({})", key_path.display(), l.key.name()));
            k
        }
    };
    let next = match keys::load(&next_path)? {
        Some(n) => Some(n),
        None => match successor_due(l, &key) {
            None => None,
            Some(why) if mode.check => {
                out.print(&format!(
                    "{}: would stage a next key {} ({why}) and write the outbox",
                    l.line,
                    next_path.display()
                ));
                return Ok(Outcome::Reported);
            }
            Some(why) => {
                let n = keys::make(&ob.keys, &next_path, l.key)?;
                did.push(format!("next key staged ({why})"));
                Some(n)
            }
        },
    };
    // A promotion that has written key.pem but not yet retired the key it
    // replaced (src/csr/promote.rs): the next key is the key already.
    let next = next.filter(|n| n.spki != key.spki);
    let held = outbox::held(&ob.dir, &l.line);
    for c in changes(held.as_ref(), l, &key, next.as_ref()) {
        // "next key staged (why)" already says "next key staged".
        if !did.iter().any(|d| d.starts_with(&c)) {
            did.push(c);
        }
    }
    if did.is_empty() && !mode.force {
        out.verbose(&format!("{}: nothing to do (outbox current)", l.line));
        return Ok(match mode.check {
            true => {
                out.print(&format!("{}: nothing to do (outbox current)", l.line));
                Outcome::Reported
            }
            false => Outcome::Unchanged,
        });
    }
    if did.is_empty() {
        did.push("forced".into());
    }
    if mode.check {
        out.print(&format!(
            "{}: would write the outbox: {}",
            l.line,
            did.join(", ")
        ));
        return Ok(Outcome::Reported);
    }
    outbox::write(
        &ob.dir,
        &l.line,
        &l.names,
        &key,
        next.as_ref(),
        signer,
        held.as_ref(),
    )?;
    out.action(&format!("{}: outbox written: {}", l.line, did.join(", ")));
    Ok(Outcome::Changed)
}

/// Why the key needs a successor now, if it does: older than max_key_age,
/// or not of the configured type (a key type changed in trigger.toml is
/// rolled over like an old key, never replaced in place).
fn successor_due(l: &CsrLine, key: &Key) -> Option<String> {
    if key.kind != Some(l.key) {
        return Some(format!("the key is not {}", l.key.name()));
    }
    let max = l.max_key_age?;
    (key.age > max).then(|| format!("the key is older than {}", duration::render(max)))
}

/// What differs between the held manifest and what would be written now.
fn changes(
    held: Option<&certdrop_manifest::Outbox>,
    l: &CsrLine,
    key: &Key,
    next: Option<&Key>,
) -> Vec<String> {
    let Some(h) = held else {
        return vec!["no outbox yet".into()];
    };
    let mut why = Vec::new();
    if h.names != certinfo::name_set(&l.names) {
        why.push("names changed".into());
    }
    if h.spki != key.digest() {
        why.push("key changed".into());
    }
    match (h.next_spki, next.map(Key::digest)) {
        (a, b) if a == b => {}
        (_, Some(_)) => why.push("next key staged".into()),
        (Some(_), None) => why.push("next key gone (promoted)".into()),
        (None, None) => {}
    }
    why
}
