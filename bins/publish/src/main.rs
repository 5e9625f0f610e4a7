//! certdrop-publish: the publication stage (DESIGN.md, "Publication").
//! Parse arguments, build the validated configuration, load the signing
//! key, take the lock on pub/, publish each line once, map the result to
//! the exit contract. It reads certs/ (never trusting it), never keys/, and
//! writes only pub/; `watch` does the same run whenever certs/ changes;
//! `verify` checks a received copy of pub/, and `pull` fetches one (or a
//! site's CSR outbox), verifies it and installs it.

mod cli;
mod config;
mod gate;
mod publish;
mod pull;
mod source;
mod verify;
mod watch;

use std::path::Path;
use std::process::ExitCode;

use certdrop_core::atomic::{self, MODE_PUBLIC_DIR};
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Outcome;
use certdrop_core::lock::StateLock;
use certdrop_core::output::Output;

use crate::cli::{Cli, Command};
use crate::config::Config;
use certdrop_manifest::SigningKey;

/// Program name in messages.
const PROGRAM: &str = "certdrop-publish";

fn main() -> ExitCode {
    certdrop_core::exit::main::<Cli, _>(PROGRAM, run)
}

fn run(cli: Cli, out: &Output) -> Result<Outcome> {
    // -n is the `check` command, with the lines `run` was given.
    let command = match cli.command {
        Some(Command::Run { lines }) if cli.check => Some(Command::Check { lines }),
        Some(Command::Watch { .. }) if cli.check => {
            return Err(Error::usage(
                "watch acts: -n/--check goes with run, check or pull",
            ))
        }
        // A receiving site's file (only [pull]): -n checks the pull.
        None if cli.check && config::only_pulls(&cli.config) => Some(Command::Pull),
        None if cli.check => Some(Command::Check { lines: Vec::new() }),
        other => other,
    };
    let opts = |check, only| publish::Options {
        check,
        force: cli.force,
        only,
        json: cli.json,
    };
    match command {
        Some(Command::Run { lines }) => publish(&cli.config, &opts(false, lines), out),
        Some(Command::Check { lines }) => publish(&cli.config, &opts(true, lines), out),
        Some(Command::Watch { interval }) => {
            if config::only_pulls(&cli.config) {
                return Err(Error::config(format!(
                    "{}: holds only [pull]: nothing to watch (run certdrop-publish pull from cron)",
                    cli.config.display()
                )));
            }
            let config = Config::load(&cli.config)?;
            watch::run(&config.certs, interval, out, |first| {
                // --force applies to the first round only.
                let force = cli.force && first;
                let opts = publish::Options {
                    force,
                    ..opts(false, Vec::new())
                };
                publish_loaded(&config, &opts, out)
            })
        }
        Some(Command::Pull) => pull::run(&cli.config, cli.check, cli.json, out),
        // Needs no configuration: it runs where the tree is received.
        Some(Command::Verify {
            dir,
            allowed_signers,
            identity,
        }) => verify::run(
            &verify::Request {
                dir,
                allowed_signers,
                identity,
            },
            out,
        ),
        None => Err(Error::usage(
            "a command is needed: run, check, watch, pull, verify (see --help)",
        )),
    }
}

/// `run` and `check`: load, acquire, then publish (or only gate) the lines.
fn publish(config: &Path, opts: &publish::Options, out: &Output) -> Result<Outcome> {
    let config = Config::load(config)?;
    for l in &opts.only {
        if !config.lines.iter().any(|c| &c.name == l) {
            return Err(Error::usage(format!(
                "{}: no line named '{l}'",
                config.path.display()
            )));
        }
    }
    publish_loaded(&config, opts, out)
}

/// `run` and `check` on a loaded configuration (and each round of `watch`).
fn publish_loaded(config: &Config, opts: &publish::Options, out: &Output) -> Result<Outcome> {
    // Acquire first: the one secret, before any untrusted input is parsed.
    let key = SigningKey::load(&config.signing_key)?;
    out.debug(&format!("signing key {}", key.fingerprint()));
    if opts.check {
        // -n takes no lock and writes nothing.
        return publish::run_once(config, &key, opts, out);
    }
    let pub_dir = &config.pub_dir;
    atomic::ensure_dir(pub_dir, MODE_PUBLIC_DIR)
        .map_err(|e| Error::cantcreat(pub_dir, "cannot create", &e))?;
    let _lock = StateLock::acquire(pub_dir, config.lock_wait)?;
    // A crashed run's temporary links (pub/.tmp.*); its half-written
    // versions are never linked and fall to pruning.
    atomic::clean_temp(pub_dir).map_err(|e| Error::cantcreat(pub_dir, "cannot clean", &e))?;
    // From here on the process reads certs/ (untrusted: every line passes
    // the gate) and writes pub/ under the lock; it holds the signing key in
    // memory and opens no other file. certdrop runs no privilege-dropping
    // sandbox yet: the jail's mounts (certs/ read-only, no keys/) enforce it.
    publish::run_once(config, &key, opts, out)
}
