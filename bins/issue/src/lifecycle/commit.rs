//! The commit that installs a checked certificate, and the repair of a
//! commit a crash interrupted. The new set is staged in certs/ (written,
//! not shown), a new key promoted, then the set switched on: each step is
//! one rename, so a kill leaves the old pair visible, or the new pair, or
//! the new key with its certificate staged, which `repair` switches on
//! first thing in the next run. No reader of certs/ ever sees the new
//! certificate before its key is `keys/<line>/key.pem`.
//!
//! The commit writes without an fsync and makes its writes durable in
//! passes, each before the step that depends on it: the backup and the
//! staged set (files and directories), then the promoted key, then the
//! switch. A pass goes through the caller's `sync`, which the issuer shares
//! between the lines it orders at the same time (`syncer.rs`): one pass
//! for many certificates instead of two fsyncs per file.

use std::io;
use std::path::PathBuf;

use certdrop_core::atomic;
use certdrop_core::certinfo;
use certdrop_core::error::{Error, Result};

use super::{current_cert, Signer};
use crate::config::{Config, Line};
use crate::keys;
use crate::state::LineState;

/// Install a checked certificate: back up the current set, stage the new
/// public files, promote a new key, then switch the files on at once; every
/// step durable before the next (each pass its own fsyncs).
#[cfg(test)]
pub fn commit(
    config: &Config,
    line: &Line,
    files: &certdrop_core::store::CertFiles,
    signer: &Signer,
    state: &mut LineState,
    now: i64,
) -> Result<()> {
    let sync = |paths: Vec<PathBuf>| atomic::sync_group(&paths);
    let after = commit_grouped(config, line, files, signer, state, now, &sync)?;
    sync(after).map_err(|e| Error::io(&config.store.certs, "sync", &e))
}

/// [`commit`] with its passes made by `sync`; returns what the last pass
/// must make durable (`certs/`, the backup's directory), which the caller
/// syncs together with the line's state file.
pub fn commit_grouped(
    config: &Config,
    line: &Line,
    files: &certdrop_core::store::CertFiles,
    signer: &Signer,
    state: &mut LineState,
    now: i64,
    sync: &dyn Fn(Vec<PathBuf>) -> io::Result<()>,
) -> Result<Vec<PathBuf>> {
    let store = &config.store;
    let line_dir = store.line_dir(&line.name);
    let archive_dir = store.archive.join(&line.name);
    let backup = store
        .archive_grouped(&line.name)
        .map_err(|e| Error::io(&archive_dir, "back up", &e))?;
    // A rollover's certificate: for a generated next key (promoted
    // below), or for a CSR line's staged key (the certificate's own key
    // is compared, so a resumed order's counts however it was placed).
    let (uses_next, promote) = match signer {
        Signer::Key { from_next, .. } => (*from_next, *from_next),
        Signer::Csr { .. } => (for_staged_key(config, line, files)?, false),
    };
    // A rollover still waiting keeps its next key published beside the
    // new certificate, so its TLSA record stays in the zone.
    let next_pub = match uses_next {
        true => None,
        false => store
            .read_next_pub(&line.name)
            .map_err(|e| Error::io(&store.next_pub_path(&line.name), "read next key", &e))?,
    };
    // RFC 7671 §8.1: after a rollover the old key's record stays in the
    // zone until the services serve the new certificate (`retire_after`),
    // so a client never meets a served key without its record.
    let prev_pub = match uses_next {
        true => store
            .read_current(&line.name)
            .map_err(|e| Error::io(&line_dir, "read current certificate", &e))?
            .map(|f| f.pubkey),
        false => store
            .read_prev_pub(&line.name)
            .map_err(|e| Error::io(&store.prev_pub_path(&line.name), "read previous key", &e))?,
    };
    // Staged, then the key promoted, then switched on: each step is one
    // rename, and a crash between two of them leaves no visible
    // certificate for a key that is not keys/<line>/key.pem (see repair).
    let (version, mut paths) = store
        .stage_grouped(&line.name, files, next_pub.as_deref(), prev_pub.as_deref())
        .map_err(|e| Error::io(&line_dir, "install certificate", &e))?;
    // Pass 1: the backup and the staged set are on disk before anything
    // is named, promoted or switched.
    if let Some(b) = &backup {
        paths.extend(b.paths.iter().cloned());
    }
    sync(paths).map_err(|e| Error::io(&line_dir, "sync staged certificate", &e))?;
    let mut after = vec![store.certs.clone()];
    if let Some(b) = backup {
        after.push(
            store
                .archive_finish(&line.name, b)
                .map_err(|e| Error::io(&archive_dir, "back up", &e))?,
        );
    }
    boundary(Step::Archived)?;
    boundary(Step::Staged)?;
    if promote {
        // Pass 2: the promoted key is on disk before its certificate is
        // switched on.
        let dir = promote_key(config, line, false)?;
        sync(vec![dir.clone()]).map_err(|e| Error::io(&dir, "sync promoted key", &e))?;
        boundary(Step::Promoted)?;
    }
    store
        .activate_grouped(&line.name, &version)
        .map_err(|e| Error::io(&line_dir, "install certificate", &e))?;
    if uses_next {
        promoted(state, now);
        state.prev_published = prev_pub.as_ref().map(|_| now);
    }
    installed(state, now);
    Ok(after)
}

/// Whether the certificate in `files` is for the line's staged next key
/// (`certs/<line>/next/pubkey.pem`).
fn for_staged_key(
    config: &Config,
    line: &Line,
    files: &certdrop_core::store::CertFiles,
) -> Result<bool> {
    let Some(next) = crate::csrkeys::published_next(config, line)? else {
        return Ok(false);
    };
    let leaf = certinfo::parse_chain(&files.cert)
        .map_err(|why| Error::data(format!("{}: new certificate: {why}", line.name)))?;
    Ok(leaf.first().is_some_and(|c| c.spki == next))
}

/// What a successful commit records.
fn installed(state: &mut LineState, now: i64) {
    state.issued = Some(now);
    state.failures = 0;
    state.last_error = None;
    state.last_failure = None;
    state.retry_not_before = None;
    state.revoked_serial = None;
    state.key_compromised = false;
}

/// The step boundaries of [`commit`], each after one rename; the tests
/// stop a commit at each to see what a crash there leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// The current set is backed up in archive/.
    Archived,
    /// The new set is written into certs/.v/, not shown.
    Staged,
    /// keys/<line>/next/key.pem is now keys/<line>/key.pem.
    Promoted,
}

#[cfg(test)]
thread_local! {
    /// The step after which the tests' commit stops, as if killed.
    pub(crate) static CRASH_AFTER: std::cell::Cell<Option<Step>> =
        const { std::cell::Cell::new(None) };
}

/// A step of [`commit`] is done (in tests: stop here if asked to).
fn boundary(step: Step) -> Result<()> {
    #[cfg(test)]
    if CRASH_AFTER.with(|c| c.get()) == Some(step) {
        return Err(Error::data(format!("simulated crash after {step:?}")));
    }
    let _ = step;
    Ok(())
}

/// `keys/<line>/next/key.pem` becomes `keys/<line>/key.pem`, with the state.
fn promote_next(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<()> {
    promote_key(config, line, true)?;
    promoted(state, now);
    Ok(())
}

/// `keys/<line>/next/key.pem` becomes `keys/<line>/key.pem` (one rename),
/// made durable here if `durable`; returns the directory that holds it
/// (for the caller to make durable otherwise).
fn promote_key(config: &Config, line: &Line, durable: bool) -> Result<PathBuf> {
    let next = config.store.next_key_path(&line.name);
    let key = config.store.key_path(&line.name);
    let renamed = match durable {
        true => atomic::rename(&next, &key),
        false => std::fs::rename(&next, &key),
    };
    renamed.map_err(|e| Error::io(&next, "promote key", &e))?;
    if let Some(dir) = next.parent() {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(config.store.key_dir(&line.name))
}

/// What promoting the next key records.
fn promoted(state: &mut LineState, now: i64) {
    state.key_created = state.next_key_created.take().or(Some(now));
    state.next_published = None;
    state.next_served_since = None;
    state.next_served_ttl = None;
}

/// Finish a commit a crash interrupted after promoting the key, before
/// switching the certificate on: keys/<line>/key.pem is not the visible
/// certificate's key but the staged one's, which is switched on now.
fn finish_switch(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<bool> {
    let store = &config.store;
    let key_path = store.key_path(&line.name);
    if !key_path.exists() {
        return Ok(false);
    }
    let line_dir = store.line_dir(&line.name);
    let Some((version, files)) = store
        .staged(&line.name)
        .map_err(|e| Error::io(&line_dir, "read staged certificate", &e))?
    else {
        return Ok(false);
    };
    let spki = keys::spki(&keys::load(&key_path, line.key_group)?);
    if current_cert(config, line)?.is_some_and(|c| c.spki == spki) {
        return Ok(false);
    }
    let staged = match certinfo::parse_chain(&files.cert) {
        Ok(mut chain) if !chain.is_empty() => chain.swap_remove(0),
        _ => return Ok(false),
    };
    if staged.spki != spki {
        return Ok(false);
    }
    store
        .activate(&line.name, &version)
        .map_err(|e| Error::io(&line_dir, "install certificate", &e))?;
    promoted(state, now);
    state.prev_published = store.prev_pub_path(&line.name).exists().then_some(now);
    // The order's certificate is installed: the order is done.
    state.order = None;
    installed(state, now);
    Ok(true)
}

/// Finish a commit a crash interrupted: a staged certificate for the
/// promoted key is switched on ([`finish_switch`]); a certificate
/// installed for the next key (by an earlier certdrop-issue, which
/// switched before promoting) makes the next key the current one.
pub fn repair(config: &Config, line: &Line, state: &mut LineState, now: i64) -> Result<bool> {
    if finish_switch(config, line, state, now)? {
        return Ok(true);
    }
    let next = config.store.next_key_path(&line.name);
    if !next.exists() {
        return Ok(false);
    }
    let Some(cert) = current_cert(config, line)? else {
        return Ok(false);
    };
    let key = keys::load(&next, line.key_group)?;
    if keys::spki(&key) == cert.spki {
        promote_next(config, line, state, now)?;
        return Ok(true);
    }
    Ok(false)
}
