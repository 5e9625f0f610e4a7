//! certdrop-issue: certificates from an ACME CA (RFC 8555), challenges
//! through drop directories. Parse arguments, build the validated config,
//! dispatch the one command (taking the state lock for those that write),
//! and let `certdrop_core::exit::main` map the result to the exit contract.

mod account;
mod accountfile;
mod acme;
mod ari;
mod budget;
mod chains;
mod challenge;
mod cli;
mod client;
mod config;
mod csrkeys;
mod dns;
mod fallback;
mod import;
mod jws;
mod keys;
mod lifecycle;
mod order;
mod persist;
mod profile;
mod propagation;
mod retry;
mod rollover;
mod run;
mod state;
mod status;
mod syncer;

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Outcome;
use certdrop_core::lock::StateLock;
use certdrop_core::output::Output;

use crate::cli::{AccountCommand, Cli, Command};
use crate::config::Config;

/// Program name in messages.
const PROGRAM: &str = "certdrop-issue";

fn main() -> ExitCode {
    certdrop_core::exit::main::<Cli, _>(PROGRAM, run)
}

/// Take the one command the line asks for, then load the configuration
/// and run it: no command is a usage error (64) before any configuration
/// is read, as in the other binaries.
fn run(mut cli: Cli, out: &Output) -> Result<Outcome> {
    // `-n` is the `check` command, whatever else the line names.
    let command = match cli.command.take() {
        _ if cli.check => Command::Check,
        Some(c) => c,
        None => {
            return Err(Error::usage(
                "a command is needed: run, issue, status, revoke, account (see --help)",
            ))
        }
    };
    let config = Config::load(&cli.config)?;
    match command {
        Command::Check => check(&config, out),
        Command::Status { json } => {
            let rows = status::rows(&config, certdrop_core::clock::now())?;
            if json || cli.json {
                out.print(&serde_json::to_string_pretty(&rows).expect("rows serialize"));
            } else {
                out.print(&status::table(&rows));
            }
            Ok(Outcome::Reported)
        }
        // Read-only: no store, no lock.
        Command::Account {
            command: AccountCommand::Show,
        } => runtime()?.block_on(account::show(&config, cli.json, out)),
        Command::Account {
            command: AccountCommand::Deactivate { yes: false },
        } => Err(Error::usage(
            "account deactivate: irreversible; add --yes to confirm",
        )),
        Command::Account {
            command: AccountCommand::Deactivate { yes: true },
        } => locked(&cli, out, config, |c, _| async move {
            account::deactivate(&c, true, out).await
        }),
        Command::Account {
            command: AccountCommand::Rollover,
        } => locked(&cli, out, config, |c, _| async move {
            account::rollover(&c, out).await
        }),
        Command::Account {
            command: AccountCommand::Import { file, format },
        } => locked(&cli, out, config, |c, _| async move {
            import::import(&c, &file, format, out).await
        }),
        Command::Revoke {
            line,
            reason,
            with_cert_key,
        } => {
            config.line(&line)?;
            locked(&cli, out, config, |c, _| async move {
                account::revoke(&c, &line, reason, with_cert_key, out).await
            })
        }
        Command::Run => locked(&cli, out, config, |c, budget| async move {
            run::run_once(c, &run::Options::default(), budget, out).await
        }),
        Command::Issue { lines, force } => {
            for l in &lines {
                config.line(l)?;
            }
            let opts = run::Options {
                only: lines,
                force: force || cli.force,
            };
            locked(&cli, out, config, |c, budget| async move {
                run::run_once(c, &opts, budget, out).await
            })
        }
    }
}

/// The runtime instant-acme needs: two workers, enough for the bounded
/// concurrency of a run.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::software(format!("runtime: {e}")))
}

/// Run a command that writes: prepare the trees, take the state lock
/// (held until the command returns), then run `work` on the runtime within
/// the run's budget (`budget.rs`: `work` gets it to bound its parts; the
/// whole is cut a little before the budget, the watchdog ends the process
/// at it).
fn locked<F, Fut>(cli: &Cli, out: &Output, config: Config, work: F) -> Result<Outcome>
where
    F: FnOnce(Arc<Config>, budget::Budget) -> Fut,
    Fut: Future<Output = Result<Outcome>>,
{
    let runtime = runtime()?;
    run::prepare(&config)?;
    let wait = if cli.no_wait {
        std::time::Duration::ZERO
    } else {
        config.lock_wait
    };
    // Busy is 75, a lock file that cannot be made is 73 (core's From).
    let _lock = StateLock::acquire(&config.state, wait)?;
    let budget = budget::Budget::start(config.run_timeout);
    budget.watchdog(out);
    let result = runtime.block_on(async {
        match tokio::time::timeout_at(budget.run(), work(Arc::new(config), budget)).await {
            Ok(result) => result,
            Err(_) => Err(Error::temp(format!(
                "run_timeout ({}) reached: the run stopped; the next one continues where it stopped",
                budget.words()
            ))),
        }
    });
    // A blocking lookup the cut left behind must not hold the exit (and
    // the lock) up.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

/// `-n/--check`: validate everything that can be validated offline (and
/// the lines' profiles against the CA's directory) and change nothing.
fn check(config: &Config, out: &Output) -> Result<Outcome, Error> {
    // Every CA's trust and binding: the top-level one and each [[ca]].
    let names = std::iter::once(None).chain(config.cas.iter().map(|c| Some(c.name.as_str())));
    for at in names.map(|n| config.for_ca(n)) {
        if let Some(bundle) = &at.ca_bundle {
            client::http_client(Some(bundle))?;
        }
        // The binding's key matters until the account exists: checked
        // (mode, base64url) but never printed.
        if acme::read_credentials(&at.account)?.is_none() {
            if let Some(eab) = &at.eab {
                eab.read_key()?;
            }
        }
    }
    for line in &config.lines {
        match &line.key_policy {
            // The CSR file, and a next.csr.pem beside it, must pass.
            config::KeyPolicy::Csr(_) => {
                if let Some(e) = csrkeys::load(line)?.and_then(|c| c.next_error) {
                    return Err(e);
                }
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
    // Profiles are the CA's to offer: its directory is asked (the one
    // thing -n fetches, and only for a configuration that names one).
    // Each line's profile at each CA it may use.
    let mut offered_by: Vec<(Option<String>, profile::Offered)> = Vec::new();
    for line in config.lines.iter().filter(|l| l.profile.is_some()) {
        let cas: Vec<Option<String>> = match line.cas.is_empty() {
            true => vec![None],
            false => line.cas.iter().cloned().map(Some).collect(),
        };
        for ca in cas {
            let at = config.for_ca(ca.as_deref());
            if !offered_by.iter().any(|(c, _)| *c == ca) {
                let offered = runtime()?.block_on(profile::of_directory(&at))?;
                offered_by.push((ca.clone(), offered));
            }
            let (_, offered) = offered_by
                .iter()
                .find(|(c, _)| *c == ca)
                .expect("fetched above");
            profile::check(&at, line, offered)?;
        }
    }
    out.print(&format!(
        "{}: configuration ok ({} line(s))",
        config.path.display(),
        config.lines.len()
    ));
    Ok(Outcome::Reported)
}
