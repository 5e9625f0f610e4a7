//! certdrop-jails: one site description rendered into jail.conf, nullfs
//! fstabs, crontabs and install/update scripts for FreeBSD, and the same
//! site for Linux with mount namespaces (DESIGN.md, privilege domains).
//! Reads the site and templates; writes only the output directory.

mod check;
mod cli;
mod cluster;
mod privilege;
mod render;
mod schedule;
mod service;
mod site;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::process::ExitCode;

use certdrop_core::error::{Error, Result, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;

use crate::cli::{Cli, Command};
use crate::site::Site;

/// Program name in messages.
const PROGRAM: &str = "certdrop-jails";

fn main() -> ExitCode {
    certdrop_core::exit::main::<Cli, _>(PROGRAM, run)
}

/// The command, after `-n` became `check` (src/cli.rs).
fn run(cli: Cli, out: &Output) -> Result<Outcome> {
    let dry = cli.check;
    match cli.command() {
        Command::Cluster { cluster, out: dir } => run_cluster(&cluster, &dir, dry, out),
        Command::Check { site, out: None } => {
            checked(&site, out)?;
            Ok(Outcome::Reported)
        }
        Command::Check {
            site,
            out: Some(dir),
        } => {
            let site = checked(&site, out)?;
            for f in &render::render(&site)? {
                let path = dir.join(&f.path);
                if std::fs::read(&path)
                    .map(|t| t != f.text.as_bytes())
                    .unwrap_or(true)
                {
                    out.action(&format!("would write {}", path.display()));
                }
            }
            Ok(Outcome::Reported)
        }
        Command::Render { site, out: dir } => {
            let site = checked(&site, out)?;
            let changed = render::write(&dir, &render::render(&site)?)?;
            for p in &changed {
                out.verbose(&format!("wrote {}", p.display()));
            }
            if changed.is_empty() {
                return Ok(Outcome::Unchanged);
            }
            out.action(&format!(
                "rendered site '{}' into {} ({} file{} changed)",
                site.name,
                dir.display(),
                changed.len(),
                if changed.len() == 1 { "" } else { "s" }
            ));
            Ok(Outcome::Changed)
        }
    }
}

/// `cluster`: check the cluster (every problem one line, any is 78), then
/// write (or with `-n` say) what changed in each host's directory.
fn run_cluster(path: &Path, dir: &Path, dry: bool, out: &Output) -> Result<Outcome> {
    let c = cluster::Cluster::load(path)?;
    let mut worst = Worst::default();
    for p in cluster::problems(&c) {
        worst.add(out, Error::config(p));
    }
    worst.or(Outcome::Reported)?;
    let files = cluster::render(&c)?;
    if dry {
        for f in &files {
            let path = dir.join(&f.path);
            if std::fs::read(&path)
                .map(|t| t != f.text.as_bytes())
                .unwrap_or(true)
            {
                out.action(&format!("would write {}", path.display()));
            }
        }
        return Ok(Outcome::Reported);
    }
    let mut changed = Vec::new();
    for h in &c.hosts {
        let mine: Vec<render::File> = files
            .iter()
            .filter_map(|f| {
                f.path.strip_prefix(&h.name).ok().map(|p| render::File {
                    path: p.to_path_buf(),
                    text: f.text.clone(),
                    executable: f.executable,
                })
            })
            .collect();
        let here = dir.join(&h.name);
        changed.extend(render::write(&here, &mine)?);
        changed.extend(cluster::remove_stale(&here, &mine)?);
    }
    for p in &changed {
        out.verbose(&format!("wrote {}", p.display()));
    }
    if changed.is_empty() {
        return Ok(Outcome::Unchanged);
    }
    out.action(&format!(
        "rendered cluster '{}' ({} hosts) into {} ({} file{} changed)",
        c.name,
        c.hosts.len(),
        dir.display(),
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    ));
    Ok(Outcome::Changed)
}

/// The site, loaded (66 missing, 78 malformed) and checked against the
/// privilege table: every problem is one line, any is 78.
fn checked(path: &Path, out: &Output) -> Result<Site> {
    let site = Site::load(path)?;
    let mut worst = Worst::default();
    for p in check::problems(&site) {
        worst.add(out, Error::config(p));
    }
    worst.or(Outcome::Reported)?;
    for j in &site.jails {
        let mounts: Vec<String> = j
            .mounts
            .iter()
            .map(|m| format!("{}/ {}", m.dir, m.mode))
            .collect();
        out.verbose(&format!(
            "jail {} ({}, uid {}): {}",
            j.name,
            j.stages
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", "),
            j.uid,
            if mounts.is_empty() {
                "no shared directory".to_string()
            } else {
                mounts.join(", ")
            }
        ));
    }
    Ok(site)
}
