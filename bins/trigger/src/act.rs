//! Acting on a service until it serves what it should (issue 13): its
//! action, the post-flight check, and for a definition that gives both a
//! reload and a restart, the restart when the reload was not taken. The
//! result is the head of the one outcome line, saying which step took the
//! certificate ("reloaded, served", "reload not taken, restarted,
//! served"), or the steps tried and why the last one failed. Used for the
//! new files and, by a rollback, for the previous ones alike.

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

use crate::config::Service;
use crate::ctx::Ctx;
use crate::definition::ActionKind;
use crate::material::Loaded;
use crate::postflight;

/// Run the action, then check that every post-flight endpoint serves
/// `want`; when it does not (or the action failed) and the definition has
/// a restart behind its reload, restart and check again. `Ok` is the
/// outcome's head; the error (69, or the class of the last step's
/// failure) lists the steps tried and ends with the last one's cause:
/// ``reload not taken, restart failed: `cmd`: exit 1: ...``.
pub fn deliver(ctx: &Ctx, svc: &Service, want: &[Loaded]) -> Result<String> {
    let def = &svc.def;
    let (step, cause) = match attempt(ctx, svc, def.action, &def.command, want) {
        Ok(done) => return Ok(done),
        Err(failed) => failed,
    };
    let Some(restart) = &def.fallback else {
        return Err(Error::new(cause.class, format!("{step}: {}", cause.msg)));
    };
    ctx.out
        .verbose(&format!("{}: {step}: {}", svc.name, cause.msg));
    match attempt(ctx, svc, ActionKind::Restart, restart, want) {
        Ok(done) => Ok(format!("{step}, {done}")),
        Err((then, cause)) => Err(Error::new(
            cause.class,
            format!("{step}, {then}: {}", cause.msg),
        )),
    }
}

/// One step: run `cmd` and check. `Ok` says what took (`reloaded,
/// served`); the error says which way the step failed (`reload failed`,
/// `reload not taken`) and why.
fn attempt(
    ctx: &Ctx,
    svc: &Service,
    kind: ActionKind,
    cmd: &str,
    want: &[Loaded],
) -> std::result::Result<String, (String, Error)> {
    let ran = ctx.command(svc, cmd).and_then(|cmd| {
        ctx.run(&cmd, Failure::Unavailable)
            .map_err(|e| Error::new(e.class, format!("`{cmd}`: {}", e.msg)))
    });
    if let Err(e) = ran {
        return Err((format!("{} failed", kind.verb()), e));
    }
    if svc.def.postflight.is_empty() {
        // Nothing can tell a reload that was not taken: say so, and never
        // restart on a guess.
        return Ok(format!(
            "{} (not checked: no postflight endpoint)",
            kind.done()
        ));
    }
    // A reload's effect is asynchronous: nginx's master answers SIGHUP at
    // once and only then starts workers with the new certificate, while
    // the old ones keep serving; other daemons re-read in the background
    // too. So the check polls for the new leaf for up to postflight_wait
    // (as after a restart, where the port is down for a moment) before it
    // calls the reload not taken; deciding at the first look would
    // restart services that were about to serve it.
    match postflight::check(&svc.def.postflight, want, ctx.config.postflight_wait) {
        Ok(()) => Ok(format!("{}, served", kind.done())),
        Err(e) => Err((format!("{} not taken", kind.verb()), e)),
    }
}
