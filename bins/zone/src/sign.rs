//! Signing with ldns-signzone (RFC 4033-4035; NSEC3 with the RFC 9276
//! parameters: no extra iterations, no salt), inception backdated, and the
//! result verified with ldns-verify-zone before it may be installed.

pub mod opendnssec;

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_core::clock;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

use crate::config::{Zone, DEFAULT_INCEPTION_BACKDATE};

pub mod knot;

/// `YYYYMMDDhhmmss`, the time format ldns-signzone's -i and -e take.
fn ldns_time(secs: i64) -> String {
    clock::stamp(secs).replace(['T', 'Z'], "")
}

/// Sign `unsigned` into `signed` with the zone's keys; returns the
/// signatures' expiration (seconds since the epoch).
pub fn sign(
    zone: &Zone,
    keys: &[std::path::PathBuf],
    unsigned: &Path,
    signed: &Path,
) -> Result<i64> {
    let now = clock::now();
    let inception = now - DEFAULT_INCEPTION_BACKDATE.as_secs() as i64;
    let expiration = now + zone.signature_validity.as_secs() as i64;
    let mut cmd = Command::new("ldns-signzone");
    if zone.nsec3 {
        // ldns 1.8 takes no salt by default; `-s -` is refused as bad hex.
        cmd.args(["-n", "-t", "0"]);
    }
    cmd.args([
        "-i",
        &ldns_time(inception),
        "-e",
        &ldns_time(expiration),
        "-o",
        &zone.name,
        // To standard output: ldns-signzone exits 0 when its own write to
        // a full disk fails, leaving a cut file that only the verifier
        // notices, as a parse error. We write the file and see ENOSPC.
        "-f",
        "-",
    ])
    .arg(unsigned)
    .args(keys);
    // The signer failing on a zone that nsd-checkzone accepted is the
    // signer's failure (keys it cannot use), not bad zone data: exit 69
    // ("the signer cannot run"); no room for its output is 73.
    run_into(&mut cmd, "ldns-signzone", signed)?;
    let mut verify = Command::new("ldns-verify-zone");
    verify.arg(signed);
    // What the signer produced does not verify: bad data, never served.
    run(&mut verify, "ldns-verify-zone", Failure::Data)?;
    Ok(expiration)
}

/// Run a tool; its stderr's first line becomes the error, of class
/// `failed` when the tool ran and said no. A tool that cannot be started
/// (missing, not executable) is a service unavailable (69).
pub fn run(cmd: &mut Command, what: &str, failed: Failure) -> Result<()> {
    let out = cmd
        .output()
        .map_err(|e| Error::unavailable(format!("{what}: cannot run: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let text = if text.trim().is_empty() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        text.into_owned()
    };
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed");
    Err(Error::new(
        failed,
        format!("{what}: {} ({})", first.trim(), out.status),
    ))
}

/// Run a tool that writes its output to standard output, into the file
/// `to` (fsynced), as [`run`] does otherwise; a file that cannot be
/// written (a full disk) is 73 naming `to`, and nothing of it is left.
fn run_into(cmd: &mut Command, what: &str, to: &Path) -> Result<()> {
    // A file an interrupted build left there is ours to replace.
    let _ = std::fs::remove_file(to);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(certdrop_core::atomic::MODE_PUBLIC)
        .open(to)
        .map_err(|e| Error::cantcreat(to, "cannot create", &e))?;
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::unavailable(format!("{what}: cannot run: {e}")))?;
    // Its messages, read beside the output so that neither pipe fills.
    let mut stderr = child.stderr.take().expect("stderr was piped");
    let messages = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    let mut stdout = child.stdout.take().expect("stdout was piped");
    let copied = std::io::copy(&mut stdout, &mut file).and_then(|_| file.sync_all());
    if copied.is_err() {
        let _ = child.kill();
    }
    drop(stdout);
    let status = child.wait();
    let text = messages.join().unwrap_or_default();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(to);
        return Err(Error::cantcreat(to, "cannot write", &e));
    }
    let status = status.map_err(|e| Error::unavailable(format!("{what}: cannot wait: {e}")))?;
    if status.success() {
        return Ok(());
    }
    let _ = std::fs::remove_file(to);
    let text = String::from_utf8_lossy(&text);
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("failed");
    Err(Error::unavailable(format!(
        "{what}: {} ({status})",
        first.trim()
    )))
}

/// Whether signatures expiring at `expires` are due for renewal.
pub fn due(expires: Option<i64>, resign_before: Duration) -> bool {
    expires.map_or(true, |e| clock::now() >= e - resign_before.as_secs() as i64)
}
