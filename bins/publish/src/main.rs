//! certdrop-publish: the publication stage (DESIGN.md, "Publication").
//! Parse arguments, build the validated configuration, load the signing
//! key, take the lock on pub/, publish each line once, map the result to
//! the exit contract. It reads certs/ (never trusting it), never keys/, and
//! writes only pub/; `verify` checks a received copy of pub/.

mod cli;
mod config;
mod fsread;
mod gate;
mod publish;
mod signing;
mod source;
mod verify;

use std::process::ExitCode;

use certdrop_core::atomic::{self, MODE_PUBLIC_DIR};
use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::lock::{LockError, StateLock};
use certdrop_core::output::{fail, Output};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::signing::SigningKey;

/// Program name in messages.
const PROGRAM: &str = "certdrop-publish";

fn main() -> ExitCode {
    let cli = match certdrop_core::exit::parse_args::<Cli>() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out = Output::new(PROGRAM, Output::verbosity_from(cli.verbose));
    exit::exit_code(run(&cli, &out))
}

fn run(cli: &Cli, out: &Output) -> Result<Outcome, Failure> {
    let only = match &cli.command {
        Some(Command::Verify {
            dir,
            allowed_signers,
            identity,
        }) => {
            // Needs no configuration: it runs where the tree is received.
            let request = verify::Request {
                dir: dir.clone(),
                allowed_signers: allowed_signers.clone(),
                identity: identity.clone(),
            };
            return verify::run(&request, out);
        }
        Some(Command::Run { lines }) => lines.clone(),
        Some(Command::Check) => Vec::new(),
        None if cli.check => Vec::new(),
        None => {
            return Err(fail(
                out,
                Failure::Usage,
                "a command is needed: run, check, verify (see --help)",
            ))
        }
    };
    let check = cli.check || matches!(cli.command, Some(Command::Check));
    let config = Config::load(&cli.config).map_err(|e| fail(out, Failure::Config, &e))?;
    for l in &only {
        if !config.lines.iter().any(|c| &c.name == l) {
            return Err(fail(
                out,
                Failure::Usage,
                &format!("{}: no line named '{l}'", config.path.display()),
            ));
        }
    }
    // Acquire first: the one secret, before any untrusted input is parsed.
    let key = SigningKey::load(&config.signing_key).map_err(|e| fail(out, e.class, &e.msg))?;
    out.debug(&format!("signing key {}", key.fingerprint()));
    let opts = publish::Options {
        check,
        force: cli.force,
        only,
        json: cli.json,
    };
    if check {
        // -n takes no lock and writes nothing.
        return publish::run_once(&config, &key, &opts, out);
    }
    let pub_dir = &config.pub_dir;
    atomic::ensure_dir(pub_dir, MODE_PUBLIC_DIR).map_err(|e| {
        fail(
            out,
            Failure::CantCreate,
            &format!("{}: cannot create: {e}", pub_dir.display()),
        )
    })?;
    let _lock = match StateLock::acquire(pub_dir, config.lock_wait) {
        Ok(lock) => lock,
        Err(e @ LockError::Busy(_)) => return Err(fail(out, Failure::Temporary, &e.to_string())),
        Err(e) => return Err(fail(out, Failure::CantCreate, &e.to_string())),
    };
    // A crashed run's temporary links (pub/.tmp.*); its half-written
    // versions are never linked and fall to pruning.
    atomic::clean_temp(pub_dir).map_err(|e| {
        fail(
            out,
            Failure::CantCreate,
            &format!("{}: cannot clean: {e}", pub_dir.display()),
        )
    })?;
    // From here on the process reads certs/ (untrusted: every line passes
    // the gate) and writes pub/ under the lock; it holds the signing key in
    // memory and opens no other file. certdrop runs no privilege-dropping
    // sandbox yet: the jail's mounts (certs/ read-only, no keys/) enforce it.
    publish::run_once(&config, &key, &opts, out)
}
