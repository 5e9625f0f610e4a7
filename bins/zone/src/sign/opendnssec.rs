//! `signer = "opendnssec"`: OpenDNSSEC signs, certdrop builds. certdrop
//! assembles the zone and bumps its serial as for every signer, writes it
//! (atomically) to the file the zone's File input adapter reads, has the
//! signer daemon read it (`ods-signer sign ZONE`, or `update ZONE` after
//! a key event), waits until the File
//! output adapter's file carries that serial (or a later one the signer
//! made: `<Serial>counter</Serial>` or `unixtime` in the KASP), verifies
//! it with ldns-verify-zone and installs it where nsd reads it, as the
//! ldns path does. Keys, their rollovers and the DS hand-over are the
//! enforcer's (ods-enforcerd, SoftHSM); nothing here touches a key.
//!
//! With `<Serial>keep</Serial>` the signer cannot publish anything of its
//! own (new keys, refreshed signatures) without a new input serial, so a
//! build hands the zone over again, with the next serial, when the
//! enforcer rewrote the zone's signer configuration (`signconf`) since the
//! last hand-over, or when that hand-over is older than `refresh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use certdrop_core::atomic;
use certdrop_core::duration;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use serde::Deserialize;

/// How long a build waits for the signer's output by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);
/// Hand the zone over again after this long even when nothing changed.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(86_400);
/// How long an `ods-signer update` may take to show before `sign` follows.
/// A `sign` sent while a real update is still queued can take its place
/// (the zone is then signed with the old keys, and nothing hands it over
/// again before the next key event): on a loaded machine 3 s was seen to
/// be too short. Key events are rare (a rollover's few steps), so the
/// price of a longer grace, when the update had nothing to do, is small.
const UPDATE_GRACE: Duration = Duration::from_secs(10);
/// Between two looks at the output file while the signer works.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// `[zone.opendnssec]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Raw {
    unsigned: PathBuf,
    signed: PathBuf,
    signconf: PathBuf,
    ods_signer: Option<PathBuf>,
    socket: Option<PathBuf>,
    #[serde(default, with = "duration::serde_text_opt")]
    wait: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    refresh: Option<Duration>,
}

/// `[zone.opendnssec]`, validated (paths absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file the zone's File input adapter (zonelist.xml) reads.
    pub unsigned: PathBuf,
    /// The file its File output adapter writes.
    pub signed: PathBuf,
    /// The zone's signer configuration (`<SignerConfiguration>`), which
    /// the enforcer rewrites at each key event.
    pub signconf: PathBuf,
    /// The `ods-signer` program.
    pub ods_signer: PathBuf,
    /// The signer daemon's socket (`ods-signer -s`), when not the default.
    pub socket: Option<PathBuf>,
    /// How long to wait for the signer's output.
    pub wait: Duration,
    /// Hand the zone over again when the last hand-over is this old.
    pub refresh: Duration,
}

impl Settings {
    /// Validate a raw table; `abs` resolves paths relative to zone.toml.
    /// Errors are the key and why, the caller adds file and line.
    pub fn validate(
        raw: Raw,
        abs: impl Fn(&Path) -> PathBuf,
    ) -> std::result::Result<Self, (&'static str, &'static str)> {
        if raw.unsigned == raw.signed {
            return Err((
                "signed",
                "the same file as unsigned (the signer's input and output must differ)",
            ));
        }
        if raw.wait == Some(Duration::ZERO) {
            return Err(("wait", "0s leaves the signer no time to sign"));
        }
        if raw.refresh == Some(Duration::ZERO) {
            return Err(("refresh", "0s would hand the zone over at every build"));
        }
        Ok(Settings {
            unsigned: abs(&raw.unsigned),
            signed: abs(&raw.signed),
            signconf: abs(&raw.signconf),
            ods_signer: raw.ods_signer.map_or_else(
                || PathBuf::from("ods-signer"),
                |p| {
                    // A bare program name is looked up in PATH, as a
                    // command; a path is relative to zone.toml.
                    if p.components().count() > 1 {
                        abs(&p)
                    } else {
                        p
                    }
                },
            ),
            socket: raw.socket.as_deref().map(&abs),
            wait: raw.wait.unwrap_or(DEFAULT_WAIT),
            refresh: raw.refresh.unwrap_or(DEFAULT_REFRESH),
        })
    }
}

/// `signer = "opendnssec"` (at `span`) with its `[zone.opendnssec]`
/// table; `key` names a key of this zone for messages.
pub fn signer(
    src: &certdrop_core::tomlcfg::Source,
    table: Option<&toml::Spanned<Raw>>,
    span: std::ops::Range<usize>,
    key: &dyn Fn(&str) -> String,
) -> std::result::Result<crate::config::Signer, String> {
    let Some(table) = table else {
        return Err(src.err(
            span,
            &key("opendnssec"),
            "signer \"opendnssec\" needs a [zone.opendnssec] table with unsigned, signed and \
             signconf (the zone's input and output adapter files and its \
             SignerConfiguration in zonelist.xml)",
        ));
    };
    Settings::validate(table.get_ref().clone(), |p| src.abs(p))
        .map(crate::config::Signer::OpenDnssec)
        .map_err(|(k, why)| src.err(table.span(), &key(&format!("opendnssec.{k}")), why))
}

/// Whether the zone must be handed over again although its content did
/// not change: the enforcer rewrote the signer configuration after the
/// last hand-over (`last`, certdrop's copy of the signed zone), or that
/// hand-over is older than `refresh`. Nothing handed over yet: due.
pub fn due(s: &Settings, last: &Path) -> bool {
    let Some(handed) = mtime(last) else {
        return true;
    };
    key_event(s, last)
        || SystemTime::now()
            .duration_since(handed)
            .is_ok_and(|age| age >= s.refresh)
}

/// Whether the enforcer rewrote the signer configuration after the last
/// hand-over began (or there was none).
fn key_event(s: &Settings, last: &Path) -> bool {
    match (mtime(&s.signconf), mtime(last)) {
        (Some(conf), Some(handed)) => conf > handed,
        _ => true,
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Hand `unsigned` (certdrop's zone, serial `serial`) to OpenDNSSEC and
/// copy what it signed into `to`, verified; returns the serial the signer
/// wrote (`serial` with `keep`, maybe later with `counter`/`unixtime`).
///
/// `last` is certdrop's copy of the previous hand-over, whose mtime says
/// when that hand-over began. `ods-signer sign` reads the input again but
/// not the signer configuration; `ods-signer update` reloads that (and
/// then reads the input) only when the file changed since the signer last
/// loaded it, which with `keep` fails on the enforcer's own call (the
/// input serial was already signed). So when the enforcer rewrote the
/// signer configuration after the last hand-over began, `update`; else
/// `sign`. Both at once would race: whichever reads the input first wins
/// the serial, and the other is refused as a serial already signed.
pub fn sign(
    zone: &str,
    s: &Settings,
    serial: u32,
    unsigned: &Path,
    to: &Path,
    last: &Path,
) -> Result<u32> {
    if !s.signconf.is_file() {
        // Not the zone's <SignerConfiguration>, or the enforcer has not
        // written it yet (the zone was just added): 69, try again later.
        return Err(Error::unavailable(format!(
            "OpenDNSSEC: signconf {}: no such file (the zone's SignerConfiguration in zonelist.xml, written by the enforcer)",
            s.signconf.display()
        )));
    }
    let began = SystemTime::now();
    let verb = if key_event(s, last) { "update" } else { "sign" };
    let data =
        std::fs::read(unsigned).map_err(|e| Error::unreadable(unsigned, "cannot read", &e))?;
    // Atomically: the signer may read its input at any time of its own
    // (a re-sign the enforcer asks for), and must never see half a zone.
    atomic::write(&s.unsigned, &data, atomic::MODE_PUBLIC)
        .map_err(|e| Error::cantcreat(&s.unsigned, "cannot write the signer's input", &e))?;
    ods_signer(s, verb, zone)?;
    let got = if verb == "update" {
        // The signer may have loaded this configuration already (at its
        // start, or at the first hand-over): then `update` does nothing,
        // and `sign` must follow. After a real update it only costs the
        // signer one refused read (the serial is signed already).
        match wait_output(s, serial, UPDATE_GRACE.min(s.wait)) {
            Ok(n) => n,
            Err(_) => {
                ods_signer(s, "sign", zone)?;
                wait_output(s, serial, s.wait)?
            }
        }
    } else {
        wait_output(s, serial, s.wait)?
    };
    let copied = std::fs::read(&s.signed)
        .map_err(|e| Error::unreadable(&s.signed, "cannot read the signer's output", &e))?;
    // The output file may be replaced again while it is read: what is
    // checked and installed is this copy, whatever its serial.
    let got = match soa_serial(&String::from_utf8_lossy(&copied)) {
        Some(n) if !crate::serial::greater(serial, n) => n,
        _ => got,
    };
    atomic::write(to, &copied, atomic::MODE_PUBLIC)
        .map_err(|e| Error::cantcreat(to, "cannot write", &e))?;
    // Dated when the hand-over began: a signer configuration the enforcer
    // rewrites while the signer works is newer, and the next build sees it.
    std::fs::File::options()
        .write(true)
        .open(to)
        .and_then(|f| f.set_modified(began))
        .map_err(|e| Error::cantcreat(to, "cannot set the time of", &e))?;
    let mut verify = Command::new("ldns-verify-zone");
    verify.arg(to);
    // OpenDNSSEC's output that does not verify is never served.
    super::run(&mut verify, "ldns-verify-zone", Failure::Data)
        .map_err(|e| e.context(format_args!("OpenDNSSEC output {}", s.signed.display())))?;
    Ok(got)
}

/// Run `ods-signer [-s SOCKET] VERB ZONE`: it prints `sock set to ...` on stdout before
/// anything, and its complaints (`Unable to connect to engine...`,
/// `Error: Zone ... not found.`) on stdout or stderr, so the first line
/// that is not the socket note becomes the error (69: the signer is
/// down or does not know the zone; the next build tries again).
fn ods_signer(s: &Settings, verb: &str, zone: &str) -> Result<()> {
    let mut cmd = Command::new(&s.ods_signer);
    if let Some(sock) = &s.socket {
        cmd.arg("-s").arg(sock);
    }
    let out = cmd
        .args([verb, zone])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::unavailable(format!("ods-signer: cannot run: {e}")))?;
    let said = |b: &[u8]| -> Option<String> {
        String::from_utf8_lossy(b)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("sock set to"))
            .map(str::to_owned)
    };
    // `Error: ...` on stdout with exit 1 (an unknown zone), or nothing on
    // stdout and the connect failure on stderr (exit 201).
    let first = said(&out.stderr).or_else(|| said(&out.stdout));
    if out.status.success() && !first.as_deref().unwrap_or("").starts_with("Error") {
        return Ok(());
    }
    Err(Error::unavailable(format!(
        "ods-signer {verb}: {} ({})",
        first.as_deref().unwrap_or("failed"),
        out.status
    )))
}

/// Wait (bounded by `wait`) until the output file has `serial` or later.
fn wait_output(s: &Settings, serial: u32, wait: Duration) -> Result<u32> {
    let deadline = Instant::now() + wait;
    loop {
        let seen = match std::fs::read_to_string(&s.signed) {
            Ok(text) => match soa_serial(&text) {
                Some(n) if !crate::serial::greater(serial, n) => return Ok(n),
                Some(n) => format!("still has serial {n}"),
                None => "has no SOA record".to_owned(),
            },
            Err(e) => format!("cannot be read: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(Error::unavailable(format!(
                "OpenDNSSEC: {} {seen} after {}, not {serial}: the signer's log says why \
                 (with <Serial>keep</Serial> a serial it has already signed is refused)",
                s.signed.display(),
                duration::render(wait)
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The serial of the first SOA record in a zone file as OpenDNSSEC
/// writes it (one record per line, `owner ttl class SOA mname rname
/// serial ...`).
pub fn soa_serial(text: &str) -> Option<u32> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.iter().position(|w| w.eq_ignore_ascii_case("SOA"))?;
            f.get(at + 3)?.parse().ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_of_the_first_soa() {
        let text = "; comment SOA 1 2 3\nexample.test.\t2\tIN\tSOA\tns1.example.test. h.example.test. 101 3600 600 86400 2\n\
                    example.test.\t2\tIN\tRRSIG\tSOA 13 2 2 20261212121631 20261205111631 55152 example.test. AAAA\n";
        assert_eq!(soa_serial(text), Some(101));
        assert_eq!(soa_serial("example.test. 2 IN NS ns1.\n"), None);
    }

    #[test]
    fn due_when_never_handed_over_or_signconf_newer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let last = dir.path().join("signed");
        let conf = dir.path().join("signconf.xml");
        let s = Settings {
            unsigned: dir.path().join("u"),
            signed: dir.path().join("s"),
            signconf: conf.clone(),
            ods_signer: "ods-signer".into(),
            socket: None,
            wait: DEFAULT_WAIT,
            refresh: DEFAULT_REFRESH,
        };
        assert!(due(&s, &last), "nothing handed over yet");
        std::fs::write(&conf, "x").expect("signconf");
        std::fs::write(&last, "x").expect("last");
        let past = SystemTime::now() - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&conf)
            .and_then(|f| f.set_modified(past))
            .expect("age signconf");
        assert!(!due(&s, &last), "handed over after the signconf");
        std::fs::File::options()
            .write(true)
            .open(&last)
            .and_then(|f| f.set_modified(past - Duration::from_secs(60)))
            .expect("age last");
        assert!(due(&s, &last), "signconf newer than the hand-over");
        std::fs::File::options()
            .write(true)
            .open(&conf)
            .and_then(|f| f.set_modified(past - Duration::from_secs(120)))
            .expect("age signconf");
        assert!(!due(&s, &last), "signconf older again");
        let old = Settings {
            refresh: Duration::from_secs(30),
            ..s
        };
        assert!(due(&old, &last), "older than refresh");
    }
}
