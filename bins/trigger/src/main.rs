//! certdrop-trigger: the service stage. Parse arguments, build the
//! validated configuration, take the state-directory lock, run each
//! service (src/deploy.rs), map the result to the exit contract; `watch`
//! only repeats that same run on events under pub/; `csr` makes this
//! site's keys and writes its CSR outbox (src/csr.rs).
//!
//! Privileges: it runs as the user that may reload or restart the services
//! (usually root in the service jail), so there is nothing to drop to; what
//! bounds it is what it is given: pub/ mounted read-only, its state
//! directory, the services' certificate paths only with `install`.

mod act;
mod cli;
mod command;
mod config;
mod csr;
mod ctx;
mod definition;
mod deploy;
mod der;
mod discover;
mod input;
mod install;
mod keymatch;
mod manifest;
mod material;
mod owner;
mod plan;
mod postflight;
mod quiet;
mod state;
mod watch;

use std::process::ExitCode;

use certdrop_core::atomic::{self, MODE_SECRET_DIR};
use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::lock::StateLock;
use certdrop_core::output::{Output, Verbosity};
use sha2::{Digest, Sha256};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::ctx::{Ctx, Mode};

/// Program name in messages.
const PROGRAM: &str = "certdrop-trigger";

fn main() -> ExitCode {
    certdrop_core::exit::main::<Cli, _>(PROGRAM, run)
}

/// The command, after `-n` became `check` (src/cli.rs).
fn run(mut cli: Cli, out: &Output) -> Result<Outcome> {
    let force = cli.force;
    let check = cli.check;
    let command = cli.command()?;
    let text = certdrop_core::tomlcfg::read(&cli.config)?;
    if let Command::Run { services } = &command {
        // Nothing changed since a pass found nothing to do anywhere: say
        // so before the services are even read (src/plan.rs). Not with
        // -v, which narrates each service.
        let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if services.is_empty()
            && !force
            && out.verbosity() == Verbosity::Quiet
            && plan::holds(&cli.config, &text, digest)?
        {
            return Ok(Outcome::Unchanged);
        }
    }
    let config = Config::parse(&cli.config, &text)?;
    match command {
        Command::Run { services } => {
            let names = known(&config, services)?;
            run_once(
                &config,
                &names,
                Mode {
                    force,
                    check: false,
                },
                out,
            )
        }
        Command::Check { services } => {
            let names = known(&config, services)?;
            run_once(&config, &names, Mode { force, check: true }, out)
        }
        Command::Csr { lines } => csr::run(&config, &lines, Mode { force, check }, out),
        Command::Watch { interval } => watch::run(&config, interval, out, |first| {
            // --force applies to the first round only.
            let mode = Mode {
                force: force && first,
                check: false,
            };
            run_once(&config, &[], mode, out)
        }),
    }
}

/// Service names from the command line, each one the configuration has (64).
fn known(config: &Config, names: Vec<String>) -> Result<Vec<String>> {
    match names
        .iter()
        .find(|n| !config.services.iter().any(|s| &s.name == *n))
    {
        Some(n) => Err(Error::usage(format!(
            "{}: no service named '{n}'",
            config.path.display()
        ))),
        None => Ok(names),
    }
}

/// One run over the named services (all when `names` is empty) under the
/// state lock: what `run`, `check` and each round of `watch` do. A failing
/// service does not stop the others; each failure is one line and the
/// worst decides the exit.
fn run_once(config: &Config, names: &[String], mode: Mode, out: &Output) -> Result<Outcome> {
    atomic::ensure_dir(&config.state, MODE_SECRET_DIR)
        .map_err(|e| Error::cantcreat(&config.state, "cannot create", &e))?;
    // Busy: 75 (the next run will do it); cannot be made: 73.
    let _lock = StateLock::acquire(&config.state, config.lock_wait)?;
    let _ = atomic::clean_temp(&config.state);
    if !mode.check {
        // A killed run's temporary files, some holding a key copy (issue 12):
        // ours only, found by the names atomic writes give them.
        let mut backups = std::collections::HashSet::new();
        for entry in std::fs::read_dir(&config.state)
            .map_err(|e| Error::unreadable(&config.state, "cannot read", &e))?
            .flatten()
        {
            let name = entry.file_name();
            if name.as_encoded_bytes().ends_with(b".prev") {
                backups.insert(name);
            } else if name.as_encoded_bytes().ends_with(b".quiet") {
                // A no-op record of an earlier version (one file per
                // service); `<state>/quiet` holds them now (src/quiet.rs).
                let _ = std::fs::remove_file(entry.path());
            }
        }
        for svc in &config.services {
            if let Err(e) = install::clean_leftovers(&config.state, svc, &backups) {
                out.warn(&format!(
                    "{}: cannot remove temporary files left by a killed run: {e}",
                    svc.name
                ));
            }
        }
    }
    let signers = match &config.allowed_signers {
        Some(p) => {
            Some(std::fs::read_to_string(p).map_err(|e| Error::unreadable(p, "cannot read", &e))?)
        }
        None => None,
    };
    let ctx = Ctx {
        config,
        signers,
        out,
        mode,
        shared: std::cell::OnceCell::new(),
        saved: std::cell::Cell::new(false),
        signers_until: std::cell::OnceCell::new(),
        quiet: quiet::Records::default(),
        plan: plan::Collector::new(names.is_empty() && !mode.force && !mode.check),
    };
    let mut outcome = if mode.check {
        Outcome::Reported
    } else {
        Outcome::Unchanged
    };
    let mut worst = Worst::default();
    for svc in config
        .services
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
    {
        match deploy::service(&ctx, svc) {
            Ok(o) => outcome = outcome.and(o),
            Err(e) => worst.add(out, e),
        }
    }
    ctx.quiet.flush(&ctx);
    ctx.plan.settle(config, ctx.signers.as_deref());
    if ctx.saved.get() {
        if let Err(e) = state::sync(&config.state) {
            worst.add(out, Error::cantcreat(&config.state, "cannot sync", &e));
        }
    }
    worst.or(outcome)
}
