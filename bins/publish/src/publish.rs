//! One publication run (`run`, `-n`): for each configured line, read its
//! files from certs/, pass them through the gate, compare them with what
//! pub/ holds, and publish a new version with a signed manifest — or say
//! why not, in one line. A failing line never stops the others and never
//! touches its published version.

use std::path::Path;

use certdrop_core::atomic::{self, MODE_PUBLIC, MODE_PUBLIC_DIR};
use certdrop_core::certinfo::{self, CertInfo};
use certdrop_core::clock;
use certdrop_core::error::{Error, Worst};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_core::store::{CertFiles, CERT, CHAIN, FULLCHAIN, PUBKEY};
use certdrop_core::untrusted::{self, Rules};
use certdrop_core::versions;
use certdrop_manifest::{manifest, sshsig, Manifest, MANIFEST, SIGNATURE};
use serde::Serialize;

use crate::config::{Config, Line};
use crate::gate;
use crate::source;
use certdrop_manifest::SigningKey;

/// What the caller asked for.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `-n`: gate, write nothing.
    pub check: bool,
    /// `-f`: publish even an intact, identical version again.
    pub force: bool,
    /// Only these lines (empty: all).
    pub only: Vec<String>,
    /// Print a JSON report instead of action lines.
    pub json: bool,
}

/// What happened to one line, for `--json`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The line.
    pub line: String,
    /// `published`, `would-publish`, `unchanged` or `failed`.
    pub status: &'static str,
    /// Serial of the certificate considered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Its notAfter, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<String>,
    /// The new version directory, relative to pub/.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Why it failed (the printed line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A line's success.
enum Done {
    Published { leaf: CertInfo, version: String },
    WouldPublish { leaf: CertInfo },
    Unchanged { leaf: CertInfo },
}

/// Publish (or with `check`, gate) every selected line. Changes outweigh
/// failures: if one line was published, the run exits 0 and the others'
/// failures are printed, so `certdrop-issue run && certdrop-publish run`
/// still chains; otherwise the worst failure decides.
pub fn run_once(
    config: &Config,
    key: &SigningKey,
    opts: &Options,
    out: &Output,
) -> Result<Outcome, Error> {
    let now = clock::now();
    let mut outcome = Outcome::Unchanged;
    let mut worst = Worst::default();
    let mut reports = Vec::new();
    for line in config
        .lines
        .iter()
        .filter(|l| opts.only.is_empty() || opts.only.contains(&l.name))
    {
        let mut report = Report {
            line: line.name.clone(),
            status: "failed",
            serial: None,
            not_after: None,
            version: None,
            error: None,
        };
        match publish_line(config, line, key, opts, now, out) {
            Ok(done) => {
                let (leaf, status, verb) = match &done {
                    Done::Published { leaf, version } => {
                        report.version = Some(format!("{}/{version}", versions::DIR));
                        outcome = Outcome::Changed;
                        (leaf, "published", Some("published"))
                    }
                    Done::WouldPublish { leaf } => (leaf, "would-publish", Some("would publish")),
                    Done::Unchanged { leaf } => (leaf, "unchanged", None),
                };
                report.status = status;
                report.serial = Some(gate::serial_text(leaf));
                report.not_after = Some(clock::rfc3339(leaf.not_after));
                match verb {
                    Some(verb) if !opts.json => out.action(&format!(
                        "{}: {verb} serial {}, valid until {}",
                        line.name,
                        gate::serial_text(leaf),
                        clock::date(leaf.not_after)
                    )),
                    Some(_) => {}
                    None => out.verbose(&format!(
                        "{}: serial {} already published",
                        line.name,
                        gate::serial_text(leaf)
                    )),
                }
            }
            Err(e) => {
                report.error = Some(e.msg.clone());
                worst.add(out, e);
            }
        }
        reports.push(report);
    }
    if opts.json {
        out.print(&serde_json::to_string_pretty(&reports).expect("reports serialize"));
    }
    match worst.get() {
        Some(f) if outcome != Outcome::Changed => Err(Error::reported(f)),
        _ if opts.check => {
            if !opts.json {
                out.print(&format!(
                    "{}: configuration ok ({} line(s))",
                    config.path.display(),
                    config.lines.len()
                ));
            }
            Ok(Outcome::Reported)
        }
        _ => Ok(outcome),
    }
}

/// One line: read, gate, compare with pub/, write.
fn publish_line(
    config: &Config,
    line: &Line,
    key: &SigningKey,
    opts: &Options,
    now: i64,
    out: &Output,
) -> Result<Done, Error> {
    let name = &line.name;
    let src = source::read(&config.certs, name).map_err(|e| e.context(name))?;
    out.debug(&format!("{name}: read {}", src.dir.display()));
    let refuse = |why: String| Error::data(format!("{name}: refused: {why}"));
    let leaf = gate::check(&src.files, &line.names, now).map_err(refuse)?;
    match published(&config.pub_dir, name, key) {
        Ok(None) => {}
        Ok(Some(p)) => {
            if p.files == src.files && p.intact && !opts.force {
                return Ok(Done::Unchanged { leaf });
            }
            if is_rollback(&config.pub_dir, name, &leaf, &p.leaf) {
                return Err(refuse(format!(
                    "serial {} (not before {}) is older than the published serial {} (not before {})",
                    gate::serial_text(&leaf),
                    clock::rfc3339(leaf.not_before),
                    gate::serial_text(&p.leaf),
                    clock::rfc3339(p.leaf.not_before)
                )));
            }
            if p.files == src.files {
                out.verbose(&format!(
                    "{name}: publishing serial {} again ({})",
                    gate::serial_text(&leaf),
                    if opts.force {
                        "forced"
                    } else {
                        "manifest or signature not current"
                    }
                ));
            }
        }
        Err(why) => out.warn(&format!(
            "{name}: published version unreadable, replacing it: {why}"
        )),
    }
    if opts.check {
        return Ok(Done::WouldPublish { leaf });
    }
    let version = write(config, line, &src.files, &leaf, key, now).map_err(|e| e.context(name))?;
    Ok(Done::Published { leaf, version })
}

/// What pub/<line> holds now.
struct Published {
    files: CertFiles,
    leaf: CertInfo,
    /// Its manifest lists exactly these files with their digests, names
    /// this line, and carries a valid signature by the current key.
    intact: bool,
}

/// Read the published version of `line`, if any. Only the publisher writes
/// pub/, but it is read with the same care as anything else.
fn published(pub_dir: &Path, line: &str, key: &SigningKey) -> Result<Option<Published>, String> {
    let Some(dir) = versions::current(pub_dir, line).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let read =
        |f: &str| untrusted::read(&dir.join(f), &Rules::default()).map_err(|e| format!("{f}: {e}"));
    let files = CertFiles {
        cert: read(CERT)?,
        chain: read(CHAIN)?,
        fullchain: read(FULLCHAIN)?,
        pubkey: read(PUBKEY)?,
    };
    let leaf = certinfo::parse_chain(&files.cert)
        .map_err(|e| format!("{CERT}: {e}"))?
        .swap_remove(0);
    let intact = (|| -> Option<()> {
        let text = read(MANIFEST).ok()?;
        let sig = sshsig::parse_signature(&read(SIGNATURE).ok()?).ok()?;
        key.verify(&text, &sig).ok()?;
        let m = Manifest::parse(&text).ok()?;
        let want: Vec<(String, [u8; 32])> = source::named(&files)
            .iter()
            .map(|(n, d)| (n.to_string(), manifest::digest(d)))
            .collect();
        (m.line == line && m.files == want).then_some(())
    })()
    .is_some();
    Ok(Some(Published {
        files,
        leaf,
        intact,
    }))
}

/// Would publishing `leaf` over `current` go back in time? A certificate
/// with an earlier notBefore would; so would, within the same second
/// (serials are random: their order means nothing), one that pub/ already
/// held in a version it replaced. A version a crashed run wrote but never
/// switched on (an orphan) was never published and does not count.
fn is_rollback(pub_dir: &Path, line: &str, leaf: &CertInfo, current: &CertInfo) -> bool {
    use std::cmp::Ordering;
    match leaf.not_before.cmp(&current.not_before) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal if gate::order(leaf, current) == Ordering::Equal => false,
        Ordering::Equal => versions::previous(pub_dir, line)
            .unwrap_or_default()
            .iter()
            .map(|v| pub_dir.join(versions::DIR).join(v))
            .filter_map(|d| untrusted::read(&d.join(CERT), &Rules::default()).ok())
            .filter_map(|pem| certinfo::parse_chain(&pem).ok())
            .filter_map(|mut c| (!c.is_empty()).then(|| c.swap_remove(0)))
            .any(|old| gate::order(leaf, &old) == Ordering::Equal),
    }
}

/// Write a new version of `line` (four files, manifest, signature) and
/// switch pub/<line> onto it; returns the version's name. Any failure to
/// write is 73 (a full disk, a read-only pub/), named with pub/.
fn write(
    config: &Config,
    line: &Line,
    files: &CertFiles,
    leaf: &CertInfo,
    key: &SigningKey,
    now: i64,
) -> Result<String, Error> {
    let named = source::named(files);
    let m = Manifest {
        line: line.name.clone(),
        names: certinfo::name_set(&leaf.names),
        serial: gate::serial_text(leaf),
        not_before: clock::rfc3339(leaf.not_before),
        not_after: clock::rfc3339(leaf.not_after),
        published: clock::rfc3339(now),
        files: named
            .iter()
            .map(|(n, d)| (n.to_string(), manifest::digest(d)))
            .collect(),
    };
    let text = m.render();
    let sig = key.sign(text.as_bytes())?;
    versions::install(
        &config.pub_dir,
        &line.name,
        MODE_PUBLIC_DIR,
        config.keep - 1,
        |dir| {
            for (n, data) in named {
                atomic::write(&dir.join(n), data, MODE_PUBLIC)?;
            }
            atomic::write(&dir.join(MANIFEST), text.as_bytes(), MODE_PUBLIC)?;
            atomic::write(&dir.join(SIGNATURE), sig.as_bytes(), MODE_PUBLIC)
        },
    )
    .map_err(|e| Error::cantcreat(&config.pub_dir, "cannot publish", &e))
}
