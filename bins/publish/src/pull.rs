//! `pull`: receive a signed tree from another site (DESIGN.md,
//! "Publication"; issue 15). A transport command (rsync, git, anything
//! that fills a directory) writes the staging directory, which is never
//! trusted; every line there passes the checks `verify` makes
//! ([`verify::tree`]), and only then is each newer line installed into
//! `into` as a new version written from the verified bytes (never moved
//! out of staging), `into/<line>` switched by one rename
//! (core::versions). Any problem in any line switches nothing; an older
//! line (a rollback) is kept and said while newer lines still switch; a
//! line gone from staging is kept.
//!
//! Kind "pub" receives a publication tree (`certdrop-manifest 1`), which
//! the trigger at this site then reads as its pub/; kind "outbox" receives
//! a service site's CSR outbox (`certdrop-outbox 1`) into the signing
//! site's inbox/<site>/.

mod order;
mod transport;

use std::collections::BTreeSet;
use std::path::Path;

use certdrop_core::atomic::{self, MODE_PUBLIC, MODE_PUBLIC_DIR};
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::lock::StateLock;
use certdrop_core::output::Output;
use certdrop_core::versions;
use certdrop_manifest::{MANIFEST, SIGNATURE};

use crate::config::{pull, PullConfig};
use crate::verify::{self, Received};
use order::Order;
use serde::Serialize;

/// What happened to one line (or one problem), for `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The line, when the report is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// `switched`, `unchanged`, `kept` (older than the held one),
    /// `not-in-staging` or `refused` (a problem in staging).
    pub status: &'static str,
    /// What was received: `serial ..., valid until ...` or `outbox of ...`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<String>,
    /// The new version directory, relative to `into`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it was kept or refused (the printed line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Report {
    fn new(line: Option<&str>, status: &'static str) -> Report {
        Report {
            line: line.map(str::to_string),
            status,
            received: None,
            version: None,
            error: None,
        }
    }
}

/// `pull` (or with `check`, `-n pull`): load the configuration, then
/// validate it only, or pull once.
pub fn run(config: &Path, check: bool, json: bool, out: &Output) -> Result<Outcome> {
    let config = PullConfig::load(config)?;
    if check {
        return check_only(&config, out);
    }
    // Before any other thread exists (the signal thread's mask is
    // everyone's): a pull killed by SIGTERM or SIGINT takes its transport
    // with it.
    transport::kill_on_signals()?;
    let mut reports = Vec::new();
    let result = run_once(&config, &mut reports, json, out);
    if json {
        out.print(&serde_json::to_string_pretty(&reports).expect("reports serialize"));
    }
    result
}

/// `-n pull`: what a pull needs before it runs anything: the transport's
/// program, the allowed_signers file (the paths' rules and the identity
/// were checked when the file was read). Runs nothing, writes nothing.
fn check_only(config: &PullConfig, out: &Output) -> Result<Outcome> {
    let p = &config.pull;
    let program = &p.transport[0];
    let Some(found) = pull::find_program(program) else {
        return Err(Error::config(format!(
            "{}: pull.transport: '{program}' {}",
            config.path.display(),
            if program.contains('/') {
                "is not an executable file"
            } else {
                "not found on PATH"
            }
        )));
    };
    out.verbose(&format!("transport {program}: {}", found.display()));
    let allowed = verify::allowed_signers(&p.allowed_signers)?;
    out.verbose(&format!(
        "{}: {} signer(s)",
        p.allowed_signers.display(),
        allowed.len()
    ));
    out.print(&format!(
        "{}: configuration ok (pull {} into {})",
        config.path.display(),
        p.kind.word(),
        p.into.display()
    ));
    Ok(Outcome::Reported)
}

/// One pull: 0 when a line switched, 2 when nothing was new, 75 when the
/// transport failed, 65 when staging held a bad line (nothing switched)
/// or an older one (kept; newer ones switched). What happened to each
/// line goes to `reports`; with `json`, not to stdout as well.
pub fn run_once(
    config: &PullConfig,
    reports: &mut Vec<Report>,
    json: bool,
    out: &Output,
) -> Result<Outcome> {
    let p = &config.pull;
    // The administrator's trust, read before anything received.
    let allowed = verify::allowed_signers(&p.allowed_signers)?;
    atomic::ensure_dir(&p.into, MODE_PUBLIC_DIR)
        .map_err(|e| Error::cantcreat(&p.into, "cannot create", &e))?;
    let _lock = StateLock::acquire(&p.into, config.lock_wait)?;
    // A killed pull's temporary links; its unswitched versions are
    // orphans the next install removes.
    atomic::clean_temp(&p.into).map_err(|e| Error::cantcreat(&p.into, "cannot clean", &e))?;
    atomic::ensure_dir(&p.staging, MODE_PUBLIC_DIR)
        .map_err(|e| Error::cantcreat(&p.staging, "cannot create", &e))?;
    let argv = p.command();
    out.debug(&format!("running {}", argv.join(" ")));
    transport::run(&argv, &p.into, p.timeout)?;
    // From here on the process reads staging (untrusted: every line passes
    // the verdict first) and writes only into/, under the lock.
    let now = certdrop_core::clock::now();
    let verdict = verify::tree(&p.staging, p.kind, &allowed, p.identity.as_deref(), now)?;
    if !verdict.problems.is_empty() {
        for problem in &verdict.problems {
            out.error(problem);
            let mut r = Report::new(None, "refused");
            r.error = Some(problem.clone());
            reports.push(r);
        }
        out.verbose(&format!(
            "{}: nothing switched: {} problem(s) in staging",
            p.into.display(),
            verdict.problems.len()
        ));
        return Err(Error::reported(Failure::Data));
    }
    if verdict.lines == 0 {
        return Err(Error::noinput(format!(
            "{}: no line directory",
            p.staging.display()
        )));
    }
    let mut outcome = Outcome::Unchanged;
    let mut kept = 0;
    for recv in &verdict.good {
        let mut warn = |w: String| out.warn(&w);
        let order = order::compare(&p.into, p.kind, recv, &mut warn);
        let mut report = Report::new(Some(&recv.name), "unchanged");
        report.received = Some(recv.signed.describe());
        match order {
            Order::Same => out.verbose(&format!("{}: unchanged", recv.name)),
            Order::Older(why) => {
                kept += 1;
                let line = format!("{}: kept: {why}", recv.name);
                out.error(&line);
                report.status = "kept";
                report.error = Some(line);
            }
            Order::Newer => {
                let version = install(config, recv)?;
                outcome = Outcome::Changed;
                if !json {
                    out.action(&format!(
                        "{}: switched to {}",
                        recv.name,
                        recv.signed.describe()
                    ));
                }
                report.status = "switched";
                report.version = Some(format!("{}/{version}", versions::DIR));
            }
        }
        reports.push(report);
    }
    let received: BTreeSet<&str> = verdict.good.iter().map(|r| r.name.as_str()).collect();
    for line in held_lines(&p.into) {
        if !received.contains(line.as_str()) {
            out.verbose(&format!("{line}: not in staging, kept"));
            reports.push(Report::new(Some(&line), "not-in-staging"));
        }
    }
    match kept {
        0 => Ok(outcome),
        _ => Err(Error::reported(Failure::Data)),
    }
}

/// Write the verified bytes of `recv` as a new version of its line in
/// `into` and switch onto it; 73 if it cannot be written.
fn install(config: &PullConfig, recv: &Received) -> Result<String> {
    let into = &config.pull.into;
    versions::install(into, &recv.name, MODE_PUBLIC_DIR, config.keep - 1, |dir| {
        for (name, data) in &recv.files {
            atomic::write(&dir.join(name), data, MODE_PUBLIC)?;
        }
        atomic::write(&dir.join(MANIFEST), &recv.manifest, MODE_PUBLIC)?;
        atomic::write(&dir.join(SIGNATURE), &recv.signature, MODE_PUBLIC)
    })
    .map_err(|e| Error::cantcreat(into, "cannot install", &e).context(&recv.name))
}

/// The lines `into` shows (its symlinks not starting with a dot).
fn held_lines(into: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(into) else {
        return Vec::new();
    };
    let mut lines: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    lines.sort();
    lines
}
