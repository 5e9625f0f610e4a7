//! certdrop-trigger: the service stage. Parse arguments, build the
//! validated configuration, take the state-directory lock, run each
//! service (src/deploy.rs), map the result to the exit contract; `watch`
//! only repeats that same run on events under pub/.
//!
//! Privileges: it runs as the user that may reload or restart the services
//! (usually root in the service jail), so there is nothing to drop to; what
//! bounds it is what it is given: pub/ mounted read-only, its state
//! directory, the services' certificate paths only with `install`.

mod cli;
mod command;
mod config;
mod definition;
mod deploy;
mod der;
mod discover;
mod install;
mod keymatch;
mod manifest;
mod material;
mod postflight;
mod quiet;
mod state;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use certdrop_core::atomic::{self, MODE_SECRET_DIR};
use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::lock::StateLock;
use certdrop_core::output::{fail, Output};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::deploy::{Ctx, Mode};

/// Program name in messages.
const PROGRAM: &str = "certdrop-trigger";
/// How long a run waits for another run's lock.
const LOCK_WAIT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let cli = match certdrop_core::exit::parse_args::<Cli>() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out = Output::new(PROGRAM, Output::verbosity_from(cli.verbose));
    exit::exit_code(run(&cli, &out))
}

fn run(cli: &Cli, out: &Output) -> Result<Outcome, Failure> {
    let config = Config::load(&cli.config).map_err(|e| fail(out, Failure::Config, &e))?;
    let (names, check) = match &cli.command {
        Some(Command::Run { services }) => (services.clone(), cli.check),
        Some(Command::Check { services }) => (services.clone(), true),
        None if cli.check => (Vec::new(), true),
        Some(Command::Watch { interval }) => {
            if cli.check {
                return Err(fail(
                    out,
                    Failure::Usage,
                    "watch acts: -n/--check goes with run or check",
                ));
            }
            let mode = Mode {
                force: cli.force,
                check: false,
            };
            return watch::run(&config, *interval, out, |first| {
                let mode = Mode {
                    force: mode.force && first,
                    ..mode
                };
                run_once(&config, &[], mode, out)
            });
        }
        None => {
            return Err(fail(
                out,
                Failure::Usage,
                "a command is needed: run, check, watch (see --help)",
            ))
        }
    };
    for n in &names {
        if !config.services.iter().any(|s| &s.name == n) {
            return Err(fail(
                out,
                Failure::Usage,
                &format!("{}: no service named '{n}'", config.path.display()),
            ));
        }
    }
    run_once(
        &config,
        &names,
        Mode {
            force: cli.force,
            check,
        },
        out,
    )
}

/// One run over the named services (all when `names` is empty) under the
/// state lock: what `run`, `check` and each round of `watch` do. A failing
/// service does not stop the others; the worst failure decides the exit.
fn run_once(
    config: &Config,
    names: &[String],
    mode: Mode,
    out: &Output,
) -> Result<Outcome, Failure> {
    atomic::ensure_dir(&config.state, MODE_SECRET_DIR).map_err(|e| {
        fail(
            out,
            Failure::CantCreate,
            &format!("{}: {e}", config.state.display()),
        )
    })?;
    let _lock = StateLock::acquire(&config.state, LOCK_WAIT)
        .map_err(|e| fail(out, Failure::Temporary, &e.to_string()))?;
    let _ = atomic::clean_temp(&config.state);
    let signers = match &config.allowed_signers {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            fail(
                out,
                Failure::NoInput,
                &format!("{}: cannot read: {e}", p.display()),
            )
        })?),
        None => None,
    };
    let ctx = Ctx {
        config,
        signers,
        out,
        mode,
        shared: std::cell::OnceCell::new(),
    };
    let mut outcome = if mode.check {
        Outcome::Reported
    } else {
        Outcome::Unchanged
    };
    let mut worst: Option<Failure> = None;
    for svc in config
        .services
        .iter()
        .filter(|s| names.is_empty() || names.contains(&s.name))
    {
        match deploy::service(&ctx, svc) {
            Ok(o) => outcome = outcome.and(o),
            Err(f) => worst = Some(worst.map_or(f, |w| w.max(f))),
        }
    }
    match worst {
        Some(f) => Err(f),
        None => Ok(outcome),
    }
}
