//! certdrop-issue: certificates from an ACME CA (RFC 8555), challenges
//! through drop directories. Parse arguments, build the validated config,
//! take the state lock, run once, map the result to the exit contract.

mod account;
mod acme;
mod ari;
mod challenge;
mod cli;
mod config;
mod dns;
mod error;
mod keys;
mod lifecycle;
mod order;
mod propagation;
mod rollover;
mod run;
mod state;
mod status;

use std::process::ExitCode;
use std::sync::Arc;

use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::lock::{LockError, StateLock};
use certdrop_core::output::Output;

use crate::cli::{AccountCommand, Cli, Command};
use crate::config::Config;
use crate::error::Error;

/// Program name in messages.
const PROGRAM: &str = "certdrop-issue";

fn main() -> ExitCode {
    let cli = match certdrop_core::exit::parse_args::<Cli>() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let out = Output::new(PROGRAM, Output::verbosity_from(cli.verbose));
    exit::exit_code(main_result(&cli, &out))
}

fn main_result(cli: &Cli, out: &Output) -> Result<Outcome, Failure> {
    let config = Config::load(&cli.config).map_err(|e| report(out, e))?;
    let command = match &cli.command {
        _ if cli.check => return check(&config, out).map_err(|e| report(out, e)),
        Some(Command::Check) => return check(&config, out).map_err(|e| report(out, e)),
        Some(c) => c,
        None => {
            return Err(report(
                out,
                Error::new(
                    Failure::Usage,
                    "a command is needed: run, issue, status, revoke, account (see --help)",
                ),
            ))
        }
    };
    if let Command::Status { json } = command {
        let rows = status::rows(&config).map_err(|e| report(out, e))?;
        if *json || cli.json {
            out.print(&serde_json::to_string_pretty(&rows).expect("rows serialize"));
        } else {
            out.print(&status::table(&rows));
        }
        return Ok(Outcome::Reported);
    }
    // Validate the command against the configuration before touching disk.
    match command {
        Command::Issue { lines, .. } => {
            for l in lines {
                config.line(l).map_err(|e| report(out, e))?;
            }
        }
        Command::Revoke { line, .. } => {
            config.line(line).map_err(|e| report(out, e))?;
        }
        Command::Account {
            command: AccountCommand::Deactivate { yes: false },
        } => {
            return Err(report(
                out,
                Error::new(
                    Failure::Usage,
                    "account deactivate: irreversible; add --yes to confirm",
                ),
            ))
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| report(out, Error::new(Failure::Software, format!("runtime: {e}"))))?;
    if let Command::Account {
        command: AccountCommand::Show,
    } = command
    {
        // Read-only: no store, no lock.
        return runtime
            .block_on(account::show(&config, cli.json, out))
            .map_err(|e| report(out, e));
    }

    run::prepare(&config).map_err(|e| report(out, e))?;
    let wait = if cli.no_wait {
        std::time::Duration::ZERO
    } else {
        config.lock_wait
    };
    // The lock is taken before any work and held until exit.
    let _lock = match StateLock::acquire(&config.state, wait) {
        Ok(lock) => lock,
        Err(e @ LockError::Busy(_)) => {
            return Err(report(out, Error::temp(e.to_string())));
        }
        Err(e) => return Err(report(out, Error::cantcreat(e.to_string()))),
    };
    let config = Arc::new(config);
    runtime.block_on(async {
        match command {
            Command::Run => run::run_once(config, &run::Options::default(), out).await,
            Command::Issue { lines, force } => {
                let opts = run::Options {
                    only: lines.clone(),
                    force: *force || cli.force,
                };
                run::run_once(config, &opts, out).await
            }
            Command::Revoke { line, reason } => account::revoke(&config, line, *reason, out)
                .await
                .map_err(|e| report(out, e)),
            Command::Account { command } => match command {
                AccountCommand::Show => account::show(&config, cli.json, out).await,
                AccountCommand::Deactivate { yes } => account::deactivate(&config, *yes, out).await,
                AccountCommand::Rollover => account::rollover(&config, out).await,
            }
            .map_err(|e| report(out, e)),
            Command::Status { .. } | Command::Check => unreachable!("handled above"),
        }
    })
}

/// Print an error's one line and return its class.
fn report(out: &Output, e: Error) -> Failure {
    out.error(&e.msg);
    e.class
}

/// `-n/--check`: validate everything that can be validated offline and
/// change nothing.
fn check(config: &Config, out: &Output) -> Result<Outcome, Error> {
    if let Some(bundle) = &config.ca_bundle {
        acme::http_client(Some(bundle))?;
    }
    acme::read_credentials(&config.account)?;
    for line in &config.lines {
        match &line.key_policy {
            config::KeyPolicy::Csr(_) => {
                let mut st = state::LineState::default();
                lifecycle::signer(config, line, &lifecycle::Reason::Window, &mut st)?;
            }
            _ => {
                let key = config.store.key_path(&line.name);
                if key.exists() {
                    keys::load(&key, line.key_group)?;
                }
            }
        }
        if let Some(cert) = lifecycle::current_cert(config, line)? {
            out.verbose(&format!(
                "{}: current certificate valid until {}",
                line.name,
                certdrop_core::clock::rfc3339(cert.not_after)
            ));
        }
    }
    out.print(&format!(
        "{}: configuration ok ({} line(s))",
        config.path.display(),
        config.lines.len()
    ));
    Ok(Outcome::Reported)
}
