//! certdrop-zone: the DNS stage. Parse arguments, build the validated
//! configuration, take the build-tree lock, build, map the result to the
//! exit contract; `watch` only repeats that same build on events. It reads
//! dnsextra/, certs/ and phonehome/ (never trusting them) and writes only
//! its build tree and nsd's zone directory.

mod build;
mod caa;
mod cli;
mod config;
mod fragments;
mod inputs;
mod masterfile;
mod record;
mod serial;
mod sign;
mod sshfp;
mod steps;
mod tlsa;
mod verify;
mod watch;

use std::process::ExitCode;
use std::time::Duration;

use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::lock::StateLock;
use certdrop_core::output::{fail, Output};

use crate::cli::{Cli, Command};
use crate::config::Config;

/// Program name in messages.
const PROGRAM: &str = "certdrop-zone";
/// How long a build waits for another build's lock.
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
    match &cli.command {
        Some(Command::Fragments {
            origins,
            owner,
            dir,
        }) => return fragments_cmd(origins, *owner, dir, out),
        Some(Command::Tlsa {
            origin,
            map,
            certs,
            ttl,
        }) => {
            let text = std::fs::read_to_string(map)
                .map_err(|e| fail(out, Failure::NoInput, &format!("{}: {e}", map.display())))?;
            let entries = tlsa::parse_map(map, &text).map_err(|e| fail(out, Failure::Data, &e))?;
            let (records, problems) = tlsa::records(&entries, certs, *ttl);
            for r in records.iter().filter(|r| {
                origin
                    .as_deref()
                    .map_or(true, |o| certdrop_core::name::in_zone(&r.owner, o))
            }) {
                out.print(&r.to_string());
            }
            // A line without a certificate yet is normal early on: say so,
            // but let the records that exist flow (make goes on).
            for p in &problems {
                out.warn(p);
            }
            return Ok(Outcome::Reported);
        }
        Some(Command::Sshfp {
            origin,
            no_sha1,
            ttl,
            dir,
        }) => {
            let origin = certdrop_core::name::domain(origin, false)
                .map_err(|e| fail(out, Failure::Usage, &e))?;
            let policy = sshfp::SshfpPolicy {
                origin,
                allow: None,
                sha1: !no_sha1,
                sha256: true,
                ttl: *ttl,
            };
            let (records, rejected) = sshfp::from_dir(dir, &policy);
            for r in &records {
                out.print(&r.to_string());
            }
            for (file, why) in &rejected {
                out.error(&format!("{file}: rejected: {why}"));
            }
            return Ok(Outcome::Reported);
        }
        Some(Command::Verify {
            name,
            port,
            server,
            connect,
            timeout,
        }) => {
            let request = verify::Request {
                name: name.clone(),
                port: *port,
                server: *server,
                connect: *connect,
                timeout: *timeout,
            };
            return verify::run(&request, out);
        }
        None if !cli.check => {
            return Err(fail(
                out,
                Failure::Usage,
                "a command is needed: build, check, watch, fragments, tlsa, sshfp, assemble, sign, install, verify (see --help)",
            ))
        }
        Some(Command::Assemble { .. } | Command::Sign { .. } | Command::Install { .. })
            if cli.check =>
        {
            return Err(fail(
                out,
                Failure::Usage,
                "assemble, sign and install are make steps that write: -n goes with build or check",
            ))
        }
        _ => {}
    }
    let config = Config::load(&cli.config).map_err(|e| fail(out, Failure::Config, &e))?;
    let (names, check_only) = match &cli.command {
        Some(Command::Build { zones }) => (zones.clone(), cli.check),
        Some(Command::Check) => (Vec::new(), true),
        None if cli.check => (Vec::new(), true),
        Some(Command::Assemble { zone, parts }) => {
            return step(&config, out, || {
                steps::assemble(&config, zone, parts, cli.force, out)
            })
        }
        Some(Command::Sign { zone }) => {
            return step(&config, out, || steps::sign(&config, zone, out))
        }
        Some(Command::Install { zone }) => {
            return step(&config, out, || steps::install(&config, zone, out))
        }
        Some(Command::Watch { interval }) => {
            if cli.check {
                return Err(fail(
                    out,
                    Failure::Usage,
                    "watch installs zones: -n/--check goes with build or check",
                ));
            }
            // The watcher only decides when; every build is build_once.
            return watch::run(&config, *interval, cli.force, out, |force| {
                build_once(&config, &[], force, false, out)
            });
        }
        _ => return Err(fail(
            out,
            Failure::Usage,
            "a command is needed: build, check, watch, fragments, tlsa, sshfp, assemble, sign, install, verify (see --help)",
        )),
    };
    for n in &names {
        if !config.zones.iter().any(|z| &z.name == n) {
            return Err(fail(
                out,
                Failure::Usage,
                &format!("{}: no zone named '{n}'", config.path.display()),
            ));
        }
    }
    build_once(&config, &names, cli.force, check_only, out)
}

/// One build of the named zones (all when `names` is empty) under the
/// build-tree lock: what `build`, `check` and each round of `watch` run.
fn build_once(
    config: &Config,
    names: &[String],
    force: bool,
    check_only: bool,
    out: &Output,
) -> Result<Outcome, Failure> {
    certdrop_core::atomic::ensure_dir(&config.build, certdrop_core::atomic::MODE_PUBLIC_DIR)
        .map_err(|e| {
            fail(
                out,
                Failure::CantCreate,
                &format!("{}: {e}", config.build.display()),
            )
        })?;
    let _lock = StateLock::acquire(&config.build, LOCK_WAIT)
        .map_err(|e| fail(out, Failure::Temporary, &e.to_string()))?;
    let mut outcome = Outcome::Unchanged;
    let mut worst: Option<Failure> = None;
    // Fingerprint the inputs first: zones with nothing new stop here.
    let mut todo = Vec::new();
    for zone in config
        .zones
        .iter()
        .filter(|z| names.is_empty() || names.contains(&z.name))
    {
        let fp = inputs::fingerprint(config, zone);
        match build::unchanged(config, zone, &fp) {
            Ok(true) if !force && !check_only => {
                out.verbose(&format!("zone {}: inputs unchanged", zone.name))
            }
            _ => todo.push((zone, fp)),
        }
    }
    if todo.is_empty() {
        return Ok(outcome);
    }
    let gen = build::generate(config);
    for p in &gen.problems {
        out.warn(p);
    }
    for (zone, fp) in todo {
        let built = build::build_zone(config, zone, &gen, force, check_only, out).and_then(|o| {
            match check_only {
                true => Ok(o),
                false => build::record_inputs(config, zone, fp).map(|()| o),
            }
        });
        match built {
            Ok(o) => outcome = outcome.and(o),
            Err(e) => {
                out.error(&e);
                worst = Some(worst.map_or(Failure::Data, |w| w.max(Failure::Data)));
            }
        }
    }
    // A zone that changed outweighs another's failure (printed above), as
    // in certdrop-issue: the served zones did move on.
    if outcome == Outcome::Changed {
        return Ok(outcome);
    }
    match worst {
        Some(f) => Err(f),
        None if check_only => {
            out.print(&format!(
                "{}: configuration ok ({} zone(s))",
                config.path.display(),
                config.zones.len()
            ));
            Ok(Outcome::Reported)
        }
        None => Ok(outcome),
    }
}

/// A make step's result: one line on failure, exit 65.
fn step(
    config: &Config,
    out: &Output,
    f: impl FnOnce() -> Result<Outcome, String>,
) -> Result<Outcome, Failure> {
    certdrop_core::atomic::ensure_dir(&config.build, certdrop_core::atomic::MODE_PUBLIC_DIR)
        .map_err(|e| {
            fail(
                out,
                Failure::CantCreate,
                &format!("{}: {e}", config.build.display()),
            )
        })?;
    let _lock = StateLock::acquire(&config.build, LOCK_WAIT)
        .map_err(|e| fail(out, Failure::Temporary, &e.to_string()))?;
    f().map_err(|e| fail(out, Failure::Data, &e))
}

/// `fragments --origin ZONE DIR`.
fn fragments_cmd(
    origins: &[String],
    owner: Option<u32>,
    dir: &std::path::Path,
    out: &Output,
) -> Result<Outcome, Failure> {
    let mut zones = Vec::new();
    for o in origins {
        zones.push(
            certdrop_core::name::domain(o, false).map_err(|e| fail(out, Failure::Usage, &e))?,
        );
    }
    let mut policy = fragments::Policy::new(zones);
    policy.owner_uid = owner;
    let f = fragments::filter_dir(dir, &policy)
        .map_err(|e| fail(out, Failure::NoInput, &format!("{}: {e}", dir.display())))?;
    for r in &f.records {
        out.print(r.render().trim_end());
    }
    for r in &f.rejected {
        out.error(&format!(
            "{}: rejected: {}",
            dir.join(&r.file).display(),
            r.reason
        ));
    }
    // Rejections are reported, not fatal: the valid fragments still flow.
    Ok(Outcome::Reported)
}
