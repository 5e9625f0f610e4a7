//! One service, one run (what `run`, each round of `watch`, and `check`
//! share): find its files, judge them, decide by its rule, then install,
//! pre-flight, act and post-flight (a reload not taken is followed by the
//! restart when the definition has one, src/act.rs), rolling back an
//! install the service did not take. Any failure before the action leaves
//! the service alone; every outcome is one line, prefixed with the
//! service's name, saying which step took the certificate.
//!
//! Exit classes, each chosen where its cause is found: 65 a file would not
//! be deployed (signature, digest, key, dates, names; src/material.rs) or
//! is not a regular file (src/input.rs); 66 a file or the published line
//! is missing; 78 the service's own configuration fails its pre-flight
//! check or cannot be read for its files (a human must fix it; the service
//! keeps running on the old files); 69 the action failed or the post-flight
//! check found the service down or serving another certificate after
//! every step (src/act.rs, src/postflight.rs); 73 a file could not be
//! written (src/install.rs, the state record).

use std::path::Path;

use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};

use crate::act;
use crate::config::Service;
use crate::csr::promote::{self, Promotion};
use crate::ctx::Ctx;
use crate::definition::{Files, Pair};
use crate::discover;
use crate::install;
use crate::manifest::{self, Verified};
use crate::material::{self, Loaded, Overrides};
use crate::owner;
use crate::quiet;
use crate::state::{self, Deployed};

/// Run one service; an error is one line naming it.
pub fn service(ctx: &Ctx, svc: &Service) -> Result<Outcome> {
    steps(ctx, svc).map_err(|e| e.context(&svc.name))
}

/// [`service`], its errors not yet naming the service.
fn steps(ctx: &Ctx, svc: &Service) -> Result<Outcome> {
    let out = ctx.out;
    let now = clock::now();
    out.verbose(&format!(
        "{}: definition {}, rule {}, {} on change",
        svc.name,
        svc.definition,
        svc.def.rule.name(),
        action(svc)
    ));
    // Nothing this decision rests on changed since a pass found nothing
    // to do: stop before any signature or file is read.
    let fingerprint = quiet::fingerprint(ctx, svc);
    if let Some(fp) = &fingerprint {
        let until = quiet::unchanged(ctx, svc, fp, now);
        if let Some(until) = until.filter(|_| !ctx.mode.force && !ctx.mode.check) {
            out.verbose(&format!(
                "{}: nothing to do (unchanged since the last check)",
                svc.name
            ));
            ctx.plan.quiet(until);
            return Ok(Outcome::Unchanged);
        }
    }
    quiet::forget(ctx, svc);
    let line = open_line(ctx, svc, now)?;
    // A staged next key whose certificate is now published becomes the
    // key as part of this deployment (src/csr/promote.rs).
    let promotion =
        promote::staged(ctx, svc, line.as_ref()).map_err(|e| e.context("not deployed"))?;
    if let Some(p) = promotion.as_ref().filter(|p| p.early && !ctx.mode.check) {
        // The service reads pub/'s certificate, which the pull switched
        // already: its key follows before anything can fail (even the
        // discovery, which may load the pair: `nginx -T`).
        p.put().map_err(|e| e.context("not deployed: promote"))?;
    }
    let pairs = pairs(ctx, svc)?;
    let pending = match &line {
        Some(l) if !svc.install.is_empty() => {
            install::pending(svc, l).map_err(|e| e.context("not deployed"))?
        }
        _ => Overrides::new(),
    };
    // With -n the key files are not in place yet, as with an install: the
    // pre-flight would read the old key beside the new certificate.
    let in_place = pending.is_empty() && promotion.as_ref().map_or(true, |p| p.in_place);
    let mut judged = pending.clone();
    if let Some(p) = &promotion {
        judged.extend(p.overrides());
    }
    let loaded = judge(ctx, svc, &pairs, &judged, line.as_ref(), now)?;
    let last = state::load(&ctx.config.state, &svc.name);
    let reason = if !pending.is_empty() {
        let files: Vec<String> = pending.keys().map(|p| p.display().to_string()).collect();
        Some(format!("new files to install: {}", files.join(" ")))
    } else if let Some(why) = state::due(
        svc.def.rule,
        &loaded,
        svc.def.pidfile.as_deref(),
        last.as_ref(),
    ) {
        Some(format!("{} ({})", why, svc.def.rule.name()))
    } else if promotion.is_some() {
        Some("the next key's certificate is published".to_string())
    } else if ctx.mode.force {
        Some("forced".to_string())
    } else {
        None
    };
    let Some(reason) = reason else {
        let idle = format!(
            "{}: nothing to do ({}: not due)",
            svc.name,
            svc.def.rule.name()
        );
        // check reports it on stdout; a run only narrates it with -v.
        if ctx.mode.check {
            out.print(&idle);
            return Ok(Outcome::Reported);
        }
        out.verbose(&idle);
        if let Some(fp) = &fingerprint {
            // Also until an allowed signer's valid-before: after it the
            // manifest check may refuse what it accepted.
            let until = loaded
                .iter()
                .map(|l| l.leaf().not_after)
                .chain(quiet::signers_until(ctx, now))
                .min()
                .unwrap_or(i64::MAX);
            quiet::remember(ctx, svc, fp, until);
            ctx.plan.quiet(until);
        }
        return Ok(Outcome::Unchanged);
    };
    let secret = |p: &Path| {
        pairs
            .iter()
            .any(|pair| pair.key.as_deref() == Some(p) || (pair.key.is_none() && pair.cert == p))
    };
    if ctx.mode.check {
        if let Some(p) = &promotion {
            out.print(&format!(
                "{}: would promote the next key {}: the published certificate is for it",
                svc.name,
                p.next.display()
            ));
        }
        if in_place {
            let nothing = Undo {
                installed: false,
                key: None,
            };
            preflight(ctx, svc, &nothing, &secret)?;
        }
        let install = if pending.is_empty() {
            ""
        } else {
            "install and "
        };
        out.print(&format!(
            "{}: would {install}{}: {reason}",
            svc.name,
            action(svc)
        ));
        return Ok(Outcome::Reported);
    }
    let installed = !pending.is_empty();
    if installed {
        install::apply(&ctx.config.state, svc, &pending, secret)
            .map_err(|e| e.context("install"))?;
        out.verbose(&format!(
            "{}: installed {} file(s)",
            svc.name,
            pending.len()
        ));
    }
    // What a failed pre-flight or a rollback puts back: the installed
    // files, and with them the key (never the key alone: the certificate
    // the service reads then is the next key's).
    let undo = Undo {
        installed,
        key: promotion.as_ref().filter(|p| installed && !p.early),
    };
    if let Some(p) = promotion.as_ref().filter(|p| !p.early) {
        if let Err(e) = p.put() {
            return Err(match undo.restore(ctx, svc, &secret) {
                Ok(()) => e.context("not deployed: promote"),
                Err(r) => e.context(format!(
                    "not deployed: promote (restoring the previous files failed too: {r})"
                )),
            });
        }
    }
    preflight(ctx, svc, &undo, &secret)?;
    let done = match act::deliver(ctx, svc, &loaded) {
        Ok(done) => done,
        // Not taken after every step: the files just installed go back,
        // and the line says how that went.
        Err(e) if installed => return Err(rollback(ctx, svc, &pairs, &undo, &secret, e)),
        Err(e) => return Err(e),
    };
    // Served: only now is the key the promotion replaced retired.
    let retired = match &promotion {
        Some(p) => Some((
            p,
            p.retire()
                .map_err(|e| e.context(format!("{done}, but the next key is not retired")))?,
        )),
        None => None,
    };
    let deployed = Deployed {
        digest: state::digest(&loaded),
        serials: loaded.iter().map(|l| l.leaf().serial.clone()).collect(),
        at: clock::rfc3339(now),
    };
    let record = state::path(&ctx.config.state, &svc.name);
    state::save(&ctx.config.state, &svc.name, &deployed)
        .map_err(|e| Error::cantcreat(&record, "cannot write", &e))?;
    ctx.saved.set(true);
    if let Some((p, old)) = retired {
        let kept = match old {
            Some(o) => format!("; previous key kept as {}", o.display()),
            None => String::new(),
        };
        out.action(&format!(
            "{}: promoted the next key to {}: the published certificate is for it{kept}",
            svc.name,
            p.key.display()
        ));
    }
    out.action(&format!("{}: {done}: {reason}", svc.name));
    Ok(Outcome::Changed)
}

/// The action as `check` and `-v` say it: `reload`, `restart`, or
/// `reload (restart if not taken)`.
fn action(svc: &Service) -> String {
    match svc.def.fallback {
        Some(_) => format!("{} (restart if not taken)", svc.def.action.verb()),
        None => svc.def.action.verb().to_string(),
    }
}

/// `pub/<line>/`, its manifest verified when allowed_signers is configured.
fn open_line(ctx: &Ctx, svc: &Service, now: i64) -> Result<Option<Verified>> {
    let Some(line) = &svc.line else {
        return Ok(None);
    };
    let dir = ctx.config.pub_dir.join(line);
    if std::fs::symlink_metadata(&dir).is_err() {
        // Missing input, not bad data: the publisher has not run yet.
        return Err(Error::noinput(format!(
            "{}: not published yet",
            dir.display()
        )));
    }
    let opened = match &ctx.signers {
        Some(signers) => manifest::verify(
            &ctx.config.pub_dir,
            line,
            signers,
            ctx.config.signer.as_deref(),
            now,
        ),
        None => Verified::unsigned(&ctx.config.pub_dir, line),
    };
    // The manifest's verdict carries its class (src/manifest.rs): a line
    // that does not verify is bad data, a missing file missing input.
    opened.map(Some).map_err(|e| e.context("not deployed"))
}

/// The pairs, listed or discovered.
fn pairs(ctx: &Ctx, svc: &Service) -> Result<Vec<Pair>> {
    match &svc.def.files {
        Files::Listed(p) => Ok(p.clone()),
        Files::Discover(parser, source) => {
            let found = discover::discover(
                *parser,
                source,
                &ctx.config.state,
                ctx.config.command_timeout,
            )
            .map_err(|e| e.context("discover"))?;
            // One server, several lines: each file to its own line's service.
            let found = owner::assign(ctx.config, svc, found).map_err(|e| e.context("discover"))?;
            for p in &found {
                let key = p
                    .key
                    .as_ref()
                    .map_or("(in the same file)".into(), |k| k.display().to_string());
                ctx.out.debug(&format!(
                    "{}: found {} key {key}",
                    svc.name,
                    p.cert.display()
                ));
            }
            Ok(found)
        }
    }
}

/// Read and check every pair as the service will see it; files it reads
/// from the published line must be the signed ones.
fn judge(
    ctx: &Ctx,
    svc: &Service,
    pairs: &[Pair],
    pending: &Overrides,
    line: Option<&Verified>,
    now: i64,
) -> Result<Vec<Loaded>> {
    let mut loaded = Vec::new();
    for pair in pairs {
        let l = material::load_and_check(pair, pending, &ctx.config.pub_dir, &svc.names, now)
            .map_err(|e| e.context("not deployed"))?;
        if let (Some(v), Some(name)) = (line, &svc.line) {
            // Every certificate deployed is one the line published
            // (issue 12): read from pub/ or a copy of it, never another.
            match v.holds(&ctx.config.pub_dir, name, &pair.cert) {
                Some(file) => v.check(&file, &pair.cert, &l.cert_bytes),
                None => v.lists(&ctx.config.pub_dir.join(name), &pair.cert, &l.cert_bytes),
            }
            .map_err(|e| e.context("not deployed"))?;
        }
        loaded.push(l);
    }
    Ok(loaded)
}

/// What this run changed that goes back when the service does not take it.
struct Undo<'a> {
    /// Files were installed (backed up by install::apply).
    installed: bool,
    /// key.pem was promoted along with them.
    key: Option<&'a Promotion>,
}

impl Undo<'_> {
    /// Put back the installed files, then the promoted key.
    fn restore(&self, ctx: &Ctx, svc: &Service, secret: &impl Fn(&Path) -> bool) -> Result<()> {
        if self.installed {
            install::restore(&ctx.config.state, svc, secret)?;
        }
        match self.key {
            Some(p) => p.undo(),
            None => Ok(()),
        }
    }
}

/// The pre-flight command (its refusal is 78: the service's configuration
/// is broken); on failure an install is undone first.
fn preflight(ctx: &Ctx, svc: &Service, undo: &Undo, secret: &impl Fn(&Path) -> bool) -> Result<()> {
    let Some(cmd) = &svc.def.preflight else {
        return Ok(());
    };
    let cmd = ctx.command(svc, cmd)?;
    ctx.run(&cmd, Failure::Config).map_err(|e| {
        let undo = if undo.installed {
            match undo.restore(ctx, svc, secret) {
                Ok(()) => "; previous files restored".to_string(),
                Err(r) => format!("; restoring the previous files failed too: {r}"),
            }
        } else {
            String::new()
        };
        Error::new(
            e.class,
            format!("not deployed: pre-flight `{cmd}`: {e}{undo}"),
        )
    })
}

/// The new files were not taken (`e`): put the previous ones back and
/// act again as for the new ones (src/act.rs), checking that the previous
/// certificate is served. One line: `rolled back: <steps>: <cause>;
/// previous files restored, <steps>, served` (or what went wrong).
fn rollback(
    ctx: &Ctx,
    svc: &Service,
    pairs: &[Pair],
    undo: &Undo,
    secret: &impl Fn(&Path) -> bool,
    e: Error,
) -> Error {
    if let Err(r) = undo.restore(ctx, svc, secret) {
        return Error::new(
            e.class,
            format!("{e}; restoring the previous files failed: {r}"),
        );
    }
    let previous: Vec<Loaded> = pairs
        .iter()
        .filter_map(|p| {
            material::load_and_check(p, &Overrides::new(), &ctx.config.pub_dir, &[], clock::now())
                .ok()
        })
        .collect();
    let tail = match act::deliver(ctx, svc, &previous) {
        Ok(done) => format!("previous files restored, {done}"),
        Err(again) => format!("previous files restored, but {again}"),
    };
    Error::new(e.class, format!("rolled back: {e}; {tail}"))
}
