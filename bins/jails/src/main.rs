//! certdrop-jails: one site description rendered into jail.conf, nullfs
//! fstabs, crontabs and install/update scripts for FreeBSD, and the same
//! site for Linux with mount namespaces (DESIGN.md, privilege domains).
//! Reads the site and templates; writes only the output directory.

mod check;
mod cli;
mod render;
mod site;
#[cfg(test)]
mod tests;

use std::process::ExitCode;

use certdrop_core::exit::{self, Failure, Outcome};
use certdrop_core::output::{fail, Output};

use crate::cli::{Cli, Command};
use crate::site::Site;

/// Program name in messages.
const PROGRAM: &str = "certdrop-jails";

fn main() -> ExitCode {
    let cli = match certdrop_core::exit::parse_args::<Cli>() {
        Ok(c) => c,
        Err(code) => return code,
    };
    let out = Output::new(PROGRAM, Output::verbosity_from(cli.verbose));
    exit::exit_code(run(&cli, &out))
}

fn run(cli: &Cli, out: &Output) -> Result<Outcome, Failure> {
    let path = match &cli.command {
        Command::Render { site, .. } | Command::Check { site } => site,
    };
    if !path.exists() {
        out.error(&format!("{}: no such file", path.display()));
        return Err(Failure::NoInput);
    }
    let site = Site::load(path).map_err(|e| fail(out, Failure::Config, &e))?;
    let problems = check::problems(&site);
    for p in &problems {
        out.error(p);
    }
    if !problems.is_empty() {
        return Err(Failure::Config);
    }
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
    let dir = match &cli.command {
        Command::Check { .. } => return Ok(Outcome::Reported),
        Command::Render { out: dir, .. } => dir,
    };
    let files = render::render(&site).map_err(|e| fail(out, Failure::Config, &e))?;
    if cli.check {
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
    let changed = render::write(dir, &files).map_err(|e| fail(out, Failure::CantCreate, &e))?;
    for p in &changed {
        out.verbose(&format!("wrote {}", p.display()));
    }
    if changed.is_empty() {
        Ok(Outcome::Unchanged)
    } else {
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
