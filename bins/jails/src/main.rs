//! certdrop-jails: one site description rendered into jail.conf, nullfs
//! fstabs, crontabs and install/update scripts for FreeBSD, and the same
//! site for Linux with mount namespaces (DESIGN.md, privilege domains).
//! Reads the site and templates; writes only the output directory.

mod check;
mod cli;
mod render;
mod schedule;
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
    certdrop_core::exit::main::<Cli, _>(PROGRAM, |c| c.verbose, run)
}

/// The command, after `-n` became `check` (src/cli.rs).
fn run(cli: Cli, out: &Output) -> Result<Outcome> {
    match cli.command() {
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
