//! certdrop-zone: the DNS stage. Parse arguments, build the validated
//! configuration, take the build-tree lock, build, map the result to the
//! exit contract; `watch` only repeats that same build on events. It reads
//! dnsextra/, certs/ and phonehome/ (never trusting them) and writes only
//! its build tree and nsd's zone directory.

mod assembled;
mod build;
mod caa;
mod cli;
mod config;
mod deadline;
mod fragments;
mod inputs;
mod leftovers;
mod masterfile;
mod persist;
mod record;
mod secondaries;
mod serial;
mod served;
mod sign;
mod sshfp;
mod steps;
mod tlsa;
mod tsig;
mod warnings;
mod watch;
mod xfr;

use std::path::Path;
use std::process::ExitCode;

use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::lock::StateLock;
use certdrop_core::output::Output;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::warnings::{Said, Warnings};

/// Program name in messages.
const PROGRAM: &str = "certdrop-zone";
/// The verbs, for a command line without one.
const NO_COMMAND: &str = "a command is needed: build, check, watch, fragments, tlsa, sshfp, \
                          assemble, sign, install, secondaries, tsig-key (see --help)";

fn main() -> ExitCode {
    certdrop_core::exit::main::<Cli, _>(PROGRAM, run)
}

fn run(cli: Cli, out: &Output) -> Result<Outcome> {
    let force = cli.force;
    let config = cli.config.clone();
    match command(cli)? {
        Command::Build { zones } => build_once(
            &Config::load(&config)?,
            &zones,
            force,
            false,
            &mut Said::default(),
            out,
        ),
        Command::Check { zones } => build_once(
            &Config::load(&config)?,
            &zones,
            force,
            true,
            &mut Said::default(),
            out,
        ),
        Command::Watch { interval } => {
            let config = Config::load(&config)?;
            // The watcher only decides when; every build is build_once,
            // and -f applies to the first one only. Warnings one round
            // said are not said again by the next.
            let mut said = Said::default();
            watch::run(&config, interval, out, |first| {
                build_once(&config, &[], force && first, false, &mut said, out)
                    .map_err(|e| e.report(out))
            })
        }
        Command::Fragments {
            origins,
            owner,
            dir,
        } => fragments_cmd(&origins, owner, &dir, out),
        Command::Tlsa {
            origin,
            map,
            certs,
            ttl,
        } => tlsa_cmd(origin.as_deref(), &map, &certs, ttl, out),
        Command::Sshfp {
            origin,
            no_sha1,
            ttl,
            dir,
        } => sshfp_cmd(&origin, no_sha1, ttl, &dir, out),
        Command::Assemble { zone, parts } => {
            let config = Config::load(&config)?;
            step(&config, out, || {
                steps::assemble(&config, &zone, &parts, force, out)
            })
        }
        Command::Secondaries { wait, json, zones } => {
            secondaries::run(&Config::load(&config)?, &zones, wait, json, out)
        }
        Command::TsigKey {
            name,
            output,
            algorithm,
        } => tsig_key_cmd(&name, &output, &algorithm, out),
        Command::Sign { zone } => {
            let config = Config::load(&config)?;
            step(&config, out, || steps::sign(&config, &zone, out))
        }
        Command::Install { zone } => {
            let config = Config::load(&config)?;
            step(&config, out, || steps::install(&config, &zone, out))
        }
    }
}

/// The command to run: `-n/--check` becomes `check` here (alone, or with
/// `build [ZONE...]`), so dispatch sees one verb; with a command that
/// writes and is not a build, it is a usage error; the filters (fragments,
/// tlsa, sshfp) change nothing anyway and ignore it.
fn command(cli: Cli) -> Result<Command> {
    match (cli.command, cli.check) {
        (None, true) => Ok(Command::Check { zones: Vec::new() }),
        (None, false) => Err(Error::usage(NO_COMMAND)),
        (Some(Command::Build { zones }), true) => Ok(Command::Check { zones }),
        (Some(Command::Watch { .. }), true) => Err(Error::usage(
            "watch installs zones: -n/--check goes with build or check",
        )),
        (Some(Command::Assemble { .. } | Command::Sign { .. } | Command::Install { .. }), true) => {
            Err(Error::usage(
                "assemble, sign and install are make steps that write: -n goes with build or check",
            ))
        }
        (Some(Command::TsigKey { .. }), true) => Err(Error::usage(
            "tsig-key writes a key: -n goes with build or check",
        )),
        (Some(c), _) => Ok(c),
    }
}

/// Create the build tree if needed and take its lock: a second run waits
/// for the first up to `lock_wait`, then gives up (75).
fn lock_build(config: &Config) -> Result<StateLock> {
    certdrop_core::atomic::ensure_dir(&config.build, certdrop_core::atomic::MODE_PUBLIC_DIR)
        .map_err(|e| Error::cantcreat(&config.build, "cannot create", &e))?;
    Ok(StateLock::acquire(&config.build, config.lock_wait)?)
}

/// One build of the named zones (all when `names` is empty) under the
/// build-tree lock: what `build`, `check` and each round of `watch` run.
/// A name that is no zone is a usage error before anything is locked.
/// Each zone's failure is printed where it happens; the worst class is
/// the exit code, unless another zone changed.
fn build_once(
    config: &Config,
    names: &[String],
    force: bool,
    check_only: bool,
    said: &mut Said,
    out: &Output,
) -> Result<Outcome> {
    for n in names {
        if !config.zones.iter().any(|z| &z.name == n) {
            return Err(Error::usage(format!(
                "{}: no zone named '{n}'",
                config.path.display()
            )));
        }
    }
    let _lock = lock_build(config)?;
    match check_only {
        // -n may run where nsd's directory is made later (a release
        // checked before its jails start): said, and refused by a build.
        true => {
            config.unused.iter().for_each(|u| out.warn(u));
            if let Err(e) = config.install_exists() {
                out.warn(&format!("{e}; a build refuses it"));
            }
        }
        false => {
            config.install_exists()?;
            clean_leftovers(config, out)?;
        }
    }
    let mut outcome = Outcome::Unchanged;
    let mut worst = Worst::default();
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
    let mut gen = build::generate(config);
    let mut warnings = std::mem::take(&mut gen.problems);
    for (zone, fp) in todo {
        let built = build::build_zone(config, zone, &gen, force, check_only, &mut warnings, out);
        let built = built.and_then(|o| match check_only {
            true => Ok(o),
            false => build::record_inputs(config, zone, fp).map(|()| o),
        });
        match built {
            Ok(o) => outcome = outcome.and(o),
            Err(e) => worst.add(out, e),
        }
    }
    warnings.emit(out, said);
    if outcome == Outcome::Changed {
        say_secondaries(config, out);
    }
    // A zone that changed outweighs another's failure (printed above), as
    // in certdrop-issue: the served zones did move on.
    if outcome == Outcome::Changed {
        return Ok(outcome);
    }
    if check_only && worst.get().is_none() {
        out.print(&format!(
            "{}: configuration ok ({} zone(s){})",
            config.path.display(),
            config.zones.len(),
            config
                .xfr
                .as_ref()
                .map(xfr::Xfr::summary)
                .unwrap_or_default()
        ));
        return Ok(Outcome::Reported);
    }
    worst.or(outcome)
}

/// With -v after a build that changed something: the secondaries get it
/// from nsd (NOTIFY, then a transfer); the build does not wait for them,
/// so a site that is down never holds up the next dns-01 challenge.
fn say_secondaries(config: &Config, out: &Output) {
    if let Some(x) = config.xfr.as_ref().filter(|x| !x.secondaries.is_empty()) {
        out.verbose(&format!(
            "{} secondary(ies) configured: nsd notifies them; not waited for (see `secondaries --wait`)",
            x.secondaries.len()
        ));
    }
}

/// `tsig-key NAME -o FILE [-a ALG]`.
fn tsig_key_cmd(name: &str, output: &Path, algorithm: &str, out: &Output) -> Result<Outcome> {
    let key = tsig::generate(name, algorithm)?;
    tsig::write_new(output, &key)?;
    out.action(&format!(
        "{}: TSIG key \"{}\" ({}) written; include it in nsd.conf on the primary and every secondary",
        output.display(),
        key.name,
        key.algorithm
    ));
    Ok(Outcome::Changed)
}

/// A make step, under the build-tree lock.
fn step(config: &Config, out: &Output, f: impl FnOnce() -> Result<Outcome>) -> Result<Outcome> {
    let _lock = lock_build(config)?;
    config.install_exists()?;
    clean_leftovers(config, out)?;
    f()
}

/// Remove what a killed build left (we hold the lock: no build is
/// writing them now), saying how many with -v.
fn clean_leftovers(config: &Config, out: &Output) -> Result<()> {
    let n = leftovers::clean(config)?;
    if n > 0 {
        out.verbose(&format!(
            "{}: removed {n} temporary file(s) left by an interrupted build",
            config.build.display()
        ));
    }
    Ok(())
}

/// `fragments --origin ZONE DIR`.
fn fragments_cmd(
    origins: &[String],
    owner: Option<u32>,
    dir: &Path,
    out: &Output,
) -> Result<Outcome> {
    let mut zones = Vec::new();
    for o in origins {
        zones.push(certdrop_core::name::domain(o, false).map_err(Error::usage)?);
    }
    let mut policy = fragments::Policy::new(zones);
    policy.owner_uid = owner;
    let f = fragments::filter_dir(dir, &policy)?;
    for r in &f.records {
        out.print(r.render().trim_end());
    }
    // Rejections are reported as `build` reports them (a few per
    // directory, then the count), not fatal: the valid fragments flow.
    let mut problems = Warnings::default();
    fragments::report_cap(&f, dir, &mut problems);
    for r in &f.rejected {
        problems.fragment(dir, &r.file, &r.reason);
    }
    problems.emit(out, &mut Said::default());
    Ok(Outcome::Reported)
}

/// `tlsa --map FILE --certs DIR [--origin ZONE]`.
fn tlsa_cmd(
    origin: Option<&str>,
    map: &Path,
    certs: &Path,
    ttl: u32,
    out: &Output,
) -> Result<Outcome> {
    let text =
        std::fs::read_to_string(map).map_err(|e| Error::unreadable(map, "cannot read", &e))?;
    let mut entries = tlsa::parse_map(map, &text).map_err(Error::data)?;
    let mut problems = Vec::new();
    if let Some(o) = origin {
        (entries, problems) = tlsa::inside(map, entries, o, &[]);
    }
    let (records, more) = tlsa::records(&entries, certs, ttl);
    problems.extend(more);
    for r in &records {
        out.print(&r.to_string());
    }
    // A line without a certificate yet is normal early on: say so, but let
    // the records that exist flow (make goes on).
    let mut warnings = Warnings::default();
    let group = map.display().to_string();
    for p in problems {
        warnings.push(&group, p);
    }
    warnings.emit(out, &mut Said::default());
    Ok(Outcome::Reported)
}

/// `sshfp --origin ZONE DIR`.
fn sshfp_cmd(origin: &str, no_sha1: bool, ttl: u32, dir: &Path, out: &Output) -> Result<Outcome> {
    let origin = certdrop_core::name::domain(origin, false).map_err(Error::usage)?;
    let policy = sshfp::SshfpPolicy {
        origin,
        allow: None,
        sha1: !no_sha1,
        sha256: true,
        ttl,
    };
    let (records, rejected) = sshfp::from_dir(dir, &policy);
    for r in &records {
        out.print(&r.to_string());
    }
    let mut problems = Warnings::default();
    for (file, why) in &rejected {
        problems.hostkey(dir, file, why);
    }
    problems.emit(out, &mut Said::default());
    Ok(Outcome::Reported)
}
