//! One run: take the state lock, clean what a crashed run left, plan every
//! line, and only if something is due talk to the CA, ordering the due
//! lines concurrently (bounded). One failing line never stops the others;
//! the worst failure decides the exit code.

use std::sync::Arc;

use certdrop_core::atomic::Durability;
use certdrop_core::clock;
use certdrop_core::error::Worst;
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;

use crate::budget::Budget;
use crate::config::{Config, Line};
use crate::lifecycle::{self, Plan, Reason};
use crate::order::{self, Request};
use crate::state;
use certdrop_core::error::{Error, Result};

/// What to do in this run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only these lines (empty: all); named lines skip the back-off.
    pub only: Vec<String>,
    /// Issue even if not due.
    pub force: bool,
}

/// Prepare the trees a run writes.
pub fn prepare(config: &Config) -> Result<()> {
    config
        .store
        .ensure()
        .map_err(|e| Error::io(&config.store.certs, "create store", &e))?;
    // A new state directory is secret (0700); an existing one keeps the
    // group read access its owner gave it for a monitor (state.rs).
    let state_mode = match config.state.is_dir() {
        true => state::DIR_MODE_SHARED,
        false => certdrop_core::atomic::MODE_SECRET_DIR,
    };
    certdrop_core::atomic::ensure_dir(&config.state, state_mode)
        .map_err(|e| Error::io(&config.state, "create state directory", &e))?;
    for dir in [&config.dnsextra, &config.webroot].into_iter().flatten() {
        certdrop_core::atomic::ensure_dir(dir, certdrop_core::atomic::MODE_PUBLIC_DIR)
            .map_err(|e| Error::io(dir, "create drop directory", &e))?;
    }
    Ok(())
}

/// Run once (the state lock is held by the caller). Each failure is
/// printed where it happens; the error returned carries only the class.
pub async fn run_once(
    config: Arc<Config>,
    opts: &Options,
    budget: Budget,
    out: &Output,
) -> Result<Outcome> {
    let mut outcome = Outcome::Unchanged;
    let mut worst = Worst::default();

    let drops: Vec<&std::path::Path> = [&config.dnsextra, &config.webroot]
        .into_iter()
        .flatten()
        .map(|p| p.as_path())
        .collect();
    let journals = config.state.join(crate::challenge::JOURNALS);
    // A line whose order is in progress keeps its challenge files: the CA
    // may be validating them (a run killed after answering).
    let in_progress = |name: &str| {
        config.lines.iter().any(|l| l.name == name)
            && state::load(&config.state, name).is_ok_and(|st| st.order.is_some())
    };
    match crate::challenge::clean_leftovers(&journals, &drops, &in_progress) {
        Ok(0) => {}
        Ok(n) => out.verbose(&format!(
            "removed {n} challenge file(s) left by an interrupted run"
        )),
        Err(e) => worst.add(out, e),
    }

    match clean_temp(&config) {
        Ok(0) => {}
        Ok(n) => out.verbose(&format!(
            "removed {n} temporary file(s) left by an interrupted run"
        )),
        Err(e) => worst.add(out, e),
    }

    let mut due: Vec<(Line, Reason)> = Vec::new();
    let mut waiting: Vec<Line> = Vec::new();
    let mut check_next: Vec<Line> = Vec::new();
    let mut backing_off = false;
    for line in &config.lines {
        if !opts.only.is_empty() && !opts.only.contains(&line.name) {
            continue;
        }
        // A refused next.csr.pem is said (65) while the line goes on.
        if let Ok(Some(crate::csrkeys::Csrs {
            next_error: Some(e),
            ..
        })) = crate::csrkeys::load(line)
        {
            worst.add(out, e);
        }
        match step_without_ca(&config, line, opts, out) {
            Ok(Step {
                outcome: o,
                due: reason,
                backing_off: b,
            }) => {
                outcome = outcome.and(o);
                backing_off |= b;
                match reason {
                    Some(Reason::CheckNext) => check_next.push(line.clone()),
                    Some(r) => due.push((line.clone(), r)),
                    None if !b && o == Outcome::Unchanged => waiting.push(line.clone()),
                    None => {}
                }
            }
            Err(e) => worst.add(out, e),
        }
    }

    // Staged keys: is their TLSA record served everywhere, and long enough?
    for line in check_next {
        match next_key_due(&config, &line, opts, out).await {
            Ok(Some(r)) => due.push((line, r)),
            Ok(None) => waiting.push(line),
            Err(e) => worst.add(out, e),
        }
    }

    // Lines our own rule does not make due may still be due by the CA's word.
    for line in crate::fallback::ari_due(&config, &waiting, clock::now(), out).await {
        due.push((line, Reason::Ari));
    }

    // Lines with several CAs go one by one, each through its CAs in turn.
    let (several, mut due): (Vec<_>, Vec<_>) =
        due.into_iter().partition(|(l, _)| !l.cas.is_empty());
    if !due.is_empty() {
        match crate::account::open(&config, out).await {
            Err(e) => {
                // Nothing was attempted for the lines; count it against each
                // so the back-off applies to them too.
                for (line, _) in &due {
                    let _ = note_failure(&config, line, &e);
                }
                worst.add(out, e);
            }
            Ok((account, _)) => {
                // A profile the CA does not offer: no order for that line.
                let offered = crate::profile::of_account(&account);
                due.retain(
                    |(line, _)| match crate::profile::check(&config, line, &offered) {
                        Ok(()) => true,
                        Err(e) => {
                            let _ = note_failure(&config, line, &e);
                            worst.add(out, e);
                            false
                        }
                    },
                );
                let sem = Arc::new(tokio::sync::Semaphore::new(config.concurrency));
                let mut set = tokio::task::JoinSet::new();
                for (line, reason) in due {
                    let (config, account, sem, out) =
                        (config.clone(), account.clone(), sem.clone(), out.clone());
                    set.spawn(async move {
                        let deadline = budget.lines();
                        let Ok(permit) = tokio::time::timeout_at(deadline, sem.acquire_owned()).await
                        else {
                            // Not begun: nothing to back off from.
                            return Err(Error::temp(format!(
                                "{}: not begun: the other lines used up the run's budget (run_timeout {})",
                                line.name,
                                budget.words()
                            )));
                        };
                        let _permit = permit.expect("semaphore open");
                        let work = issue_line(&config, &account, &line, reason, &out);
                        match tokio::time::timeout_at(deadline, work).await {
                            Ok(result) => result,
                            Err(_) => {
                                let e = out_of_budget(&config, &line, budget);
                                note_failure(&config, &line, &e)?;
                                Err(e)
                            }
                        }
                    });
                }
                while let Some(joined) = set.join_next().await {
                    match joined {
                        Ok(Ok(o)) => outcome = outcome.and(o),
                        Ok(Err(e)) => worst.add(out, e),
                        Err(e) => worst.add(out, Error::software(format!("task failed: {e}"))),
                    }
                }
            }
        }
    }
    for (line, reason) in several {
        let work = crate::fallback::issue(&config, &line, reason, out);
        match tokio::time::timeout_at(budget.lines(), work).await {
            Ok(Ok(o)) => outcome = outcome.and(o),
            Ok(Err(e)) => worst.add(out, e),
            Err(_) => {
                let e = out_of_budget(&config, &line, budget);
                let _ = note_failure(&config, &line, &e);
                worst.add(out, e);
            }
        }
    }
    match worst.get() {
        // Something changed: exit 0 so `run && certdrop-publish run` passes
        // the new certificates on; the failures were printed (cron mails).
        _ if outcome == Outcome::Changed => Ok(outcome),
        Some(f) => Err(Error::reported(f)),
        // A line still failing keeps the exit code at "temporary failure",
        // silently: its error was printed when it happened.
        None if backing_off => Err(Error::reported(Failure::Temporary)),
        None => Ok(outcome),
    }
}

/// Remove the temporary files and directories an interrupted run left in
/// the trees only this program writes: the state directory and each
/// configured line's key, next-key and archive directories (some hold a
/// copy of a private key). Runs under the state lock, so no other run is
/// writing them. `certs/` is the store's own (`certdrop_core::store`).
fn clean_temp(config: &Config) -> Result<usize> {
    let store = &config.store;
    let mut dirs = vec![config.state.clone()];
    for line in &config.lines {
        dirs.push(store.key_dir(&line.name));
        dirs.push(store.key_dir(&line.name).join(certdrop_core::store::NEXT));
        dirs.push(store.archive.join(&line.name));
    }
    let mut removed = 0;
    for dir in dirs {
        removed += certdrop_core::atomic::clean_temp(&dir)
            .map_err(|e| Error::io(&dir, "remove temporary files", &e))?;
    }
    Ok(removed)
}

/// What the offline part of a line's run found.
struct Step {
    outcome: Outcome,
    due: Option<Reason>,
    backing_off: bool,
}

/// The work on a line that needs no CA: repair, plan, stage a next key.
fn step_without_ca(config: &Config, line: &Line, opts: &Options, out: &Output) -> Result<Step> {
    let now = clock::now();
    let mut st = state::load(&config.state, &line.name)?;
    let mut outcome = Outcome::Unchanged;
    let repaired = lifecycle::repair(config, line, &mut st, now)?;
    if repaired {
        state::save(&config.state, &line.name, &st)?;
        out.action(&format!(
            "{}: finished an interrupted key change",
            line.name
        ));
        outcome = Outcome::Changed;
    }
    if lifecycle::retire_prev(config, line, &mut st, now)? {
        state::save(&config.state, &line.name, &st)?;
        out.action(&format!(
            "{}: the previous key's TLSA record retired ({} after the rollover)",
            line.name,
            certdrop_core::duration::render(line.retire_after)
        ));
        outcome = Outcome::Changed;
    }
    // A repair installed the certificate an interrupted run obtained (a
    // forced one, likely, asked for again): that is what -f asked for.
    let force = opts.force && !repaired;
    let plan = lifecycle::plan(config, line, &st, now, force, !opts.only.is_empty())?;
    // A line not due with an order in progress (a forced issuance killed
    // or cut) continues it: the CA may have issued its certificate. Not
    // while backing off: that may be the CA's own Retry-After.
    let plan = match plan {
        Plan::Wait(..) | Plan::StageNext | Plan::CheckNext | Plan::Unstage
            if st.order.is_some() =>
        {
            Plan::Issue(Reason::Resume)
        }
        plan => plan,
    };
    match plan {
        Plan::Issue(reason) => {
            return Ok(Step {
                outcome,
                due: Some(reason),
                backing_off: false,
            })
        }
        Plan::StageNext => {
            let from = crate::csrkeys::stage_from_csr(config, line, &mut st, now)?;
            if from.is_none() {
                lifecycle::stage_next(config, line, &mut st, now)?;
            }
            state::save(&config.state, &line.name, &st)?;
            let from = from.map(|p| format!(" from {}", p.display()));
            let gate = match line.tlsa.is_empty() {
                true => String::new(),
                false => " and its TLSA record has been served everywhere for 2 x TTL".into(),
            };
            out.action(&format!(
                "{}: key rollover started: next key{} published in {}, used after {}{gate}",
                line.name,
                from.unwrap_or_default(),
                config.store.next_pub_path(&line.name).display(),
                certdrop_core::duration::render(line.rollover_wait)
            ));
            outcome = Outcome::Changed;
        }
        Plan::Unstage => {
            crate::csrkeys::unstage(config, line, &mut st)?;
            state::save(&config.state, &line.name, &st)?;
            out.action(&format!(
                "{}: staged next key withdrawn (no CSR requests it any more): {} removed",
                line.name,
                config.store.next_pub_path(&line.name).display()
            ));
            outcome = Outcome::Changed;
        }
        Plan::CheckNext => {
            return Ok(Step {
                outcome,
                due: Some(Reason::CheckNext),
                backing_off: false,
            })
        }
        Plan::Wait(at, what) => {
            if let Some(t) = at {
                out.verbose(&format!(
                    "{}: nothing due ({what} at {})",
                    line.name,
                    clock::rfc3339(t)
                ));
            }
        }
        Plan::BackOff(t) => {
            out.verbose(&format!(
                "{}: backing off after {} failure(s) until {}: {}",
                line.name,
                st.failures,
                clock::rfc3339(t),
                st.last_error.as_deref().unwrap_or("")
            ));
            return Ok(Step {
                outcome,
                due: None,
                backing_off: true,
            });
        }
    }
    Ok(Step {
        outcome,
        due: None,
        backing_off: false,
    })
}

/// Ask the servers about a staged key's TLSA record, then plan again.
async fn next_key_due(
    config: &Config,
    line: &Line,
    opts: &Options,
    out: &Output,
) -> Result<Option<Reason>> {
    let mut st = state::load(&config.state, &line.name)?;
    if crate::rollover::check(config, line, &mut st, clock::now(), out).await? {
        state::save(&config.state, &line.name, &st)?;
    }
    let now = clock::now();
    Ok(
        match lifecycle::plan(config, line, &st, now, opts.force, !opts.only.is_empty())? {
            Plan::Issue(r) => Some(r),
            _ => None,
        },
    )
}

/// Order, check and install one line's certificate (unchanged: a line
/// that was only to continue its order had none left to continue).
pub(crate) async fn issue_line(
    config: &Config,
    account: &instant_acme::Account,
    line: &Line,
    reason: Reason,
    out: &Output,
) -> Result<Outcome> {
    let mut st = state::load(&config.state, &line.name)?;
    let next_path = config.store.next_key_path(&line.name);
    let had_next = next_path.exists();
    let result = async {
        let signer = lifecycle::signer(config, line, &reason, &mut st, clock::now())?;
        // A generated key is on disk before the CA sees it (written
        // durably); when, is noted for key_age, and made durable with the
        // order's finalize (a file's mtime stands in until then).
        state::save_with(&config.state, &line.name, &st, Durability::Whole)?;
        let (csr_der, spki) = signer.request(line)?;
        // A generated next key (not a CSR's: certdrop holds no key for it).
        let from_next = matches!(
            signer,
            lifecycle::Signer::Key {
                from_next: true,
                ..
            }
        );
        let only_resume = reason == Reason::Resume;
        let request = Request {
            csr_der: &csr_der,
            spki: &spki,
            from_next: signer.for_next(),
        };
        let Some(files) = order::obtain(config, account, line, &request, only_resume, out).await?
        else {
            // No order left to continue: a key made for it goes again,
            // or the line would look as if a rollover were staged.
            if from_next && !had_next {
                std::fs::remove_file(&next_path)
                    .map_err(|e| Error::io(&next_path, "remove unused key", &e))?;
                st.next_key_created = None;
                // resume() forgot the order in the file already.
                st.order = None;
                state::save(&config.state, &line.name, &st)?;
            }
            return Ok(None);
        };
        // The certificate is stored: the order is done.
        st.order = None;
        // The order noted what the CA made of dns-persist-01 records in
        // the file meanwhile: kept, not overwritten by this older copy.
        st.persist_refused = state::load(&config.state, &line.name)?.persist_refused;
        let after = crate::syncer::blocking(|| {
            lifecycle::commit_grouped(
                config,
                line,
                &files,
                &signer,
                &mut st,
                clock::now(),
                &crate::syncer::sync,
            )
        })?;
        Ok::<_, Error>(Some((files, signer, after)))
    }
    .await;
    match result {
        Ok(None) => Ok(Outcome::Unchanged),
        Ok(Some((files, signer, mut after))) => {
            // The last pass: the switch, the backup's name and the state
            // that says the order is done, together.
            state::save_with(&config.state, &line.name, &st, Durability::Whole)?;
            after.push(state::path(&config.state, &line.name));
            after.push(config.state.clone());
            crate::syncer::blocking(|| crate::syncer::sync(after))
                .map_err(|e| Error::io(&config.state, "sync", &e))?;
            // A certificate from this account: the bindings of the
            // accounts it replaced may go from the zone. The certificate
            // is installed: a file that cannot be written is said, not a
            // failed run (the next issuance tries again).
            match crate::accountfile::issued_with(config, account.id()) {
                Ok(true) => out.verbose(&format!(
                    "{}: previous accounts dropped from {}",
                    line.name,
                    crate::accountfile::path(config).display()
                )),
                Ok(false) => {}
                Err(e) => out.warn(&format!("{}: {}", line.name, e.msg)),
            }
            let leaf = certdrop_core::certinfo::parse_chain(&files.cert)
                .map_err(Error::data)?
                .remove(0);
            let key_note = match signer {
                lifecycle::Signer::Key {
                    from_next: true, ..
                } => ", new key",
                lifecycle::Signer::Key { .. } => ", same key",
                lifecycle::Signer::Csr { next: true, .. } => ", from the next CSR",
                lifecycle::Signer::Csr { .. } => ", from CSR",
            };
            out.action(&format!(
                "{}: certificate issued ({}{key_note}) for {}, valid until {}",
                line.name,
                reason.words(),
                line.domains.join(", "),
                clock::date(leaf.not_after)
            ));
            Ok(Outcome::Changed)
        }
        Err(e) => {
            note_failure(config, line, &e)?;
            Err(e)
        }
    }
}

/// The error of a line whose work the run's budget cut: where its order
/// was left (kept for the next run).
fn out_of_budget(config: &Config, line: &Line, budget: Budget) -> Error {
    let kept = state::load(&config.state, &line.name)
        .ok()
        .and_then(|st| st.order)
        .map(|o| format!("; the {} order is kept for the next run", o.stage.word()))
        .unwrap_or_default();
    Error::temp(format!(
        "{}: run_timeout ({}) reached{kept}",
        line.name,
        budget.words()
    ))
}

pub(crate) fn note_failure(config: &Config, line: &Line, e: &Error) -> Result<()> {
    let mut st = state::load(&config.state, &line.name)?;
    lifecycle::record_failure(config, &mut st, e, clock::now());
    state::save(&config.state, &line.name, &st)
}
