//! `signer = "knot"`: Knot DNS signs the zone itself (automatic DNSSEC
//! signing, a KASP policy, KSK and ZSK rollovers by its own key manager).
//! certdrop keeps building the content and choosing the serial; it writes
//! the unsigned zone where Knot reads it (`<install>/<zone>.zone`, the same
//! atomic install as for nsd), makes Knot load it (`knotc zone-reload`),
//! and then looks at what `server` serves: the new serial or a later one
//! Knot made by signing (RFC 1982 arithmetic), transferred whole (AXFR,
//! RFC 5936) and checked by ldns-verify-zone (every RRset signed, the
//! DNSKEY RRset self-signed, the NSEC/NSEC3 chain complete, RFC 4035 §5),
//! holding this build's records. Nothing of the ldns settings (`keys`,
//! `nsec3`, `signature_validity`, `resign_before`) applies: Knot's policy
//! decides.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_core::atomic;
use certdrop_core::duration;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;
use certdrop_core::tomlcfg::Source;
use serde::Deserialize;
use toml::Spanned;

use crate::build;
use crate::config::{Config, Zone};
use crate::masterfile;
use crate::serial;

/// knotc, found on PATH unless `[zone.knot] knotc` names it.
pub const DEFAULT_KNOTC: &str = "knotc";
/// Between two SOA queries while Knot has not loaded the zone yet.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The longest one query may take (the wait as a whole is `serve_wait`).
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// Records Knot adds to what it is given: they are not compared with
/// the build's own (RFC 4034, RFC 5155, RFC 7344).
const ENGINE_TYPES: [&str; 8] = [
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "DNSKEY",
    "CDS",
    "CDNSKEY",
    "SOA",
];

/// `[zone.knot]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKnot {
    control: Option<Spanned<PathBuf>>,
    knotc: Option<PathBuf>,
}

/// How certdrop reaches the Knot that signs a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// knotc's control socket (`knotc -s`); None: knotc's own default
    /// (Knot's `rundir`/knot.sock, or what its configuration says).
    pub control: Option<PathBuf>,
    /// The knotc program.
    pub knotc: PathBuf,
}

impl Settings {
    /// Validate `[zone.knot]` (absent: every default) for `zone`, whose
    /// `signer = "knot"` is at `signer_span`; `server` is where the signed
    /// zone is looked at, which Knot signing needs. Errors are
    /// `file:line: key: why`.
    pub fn validate(
        src: &Source,
        raw: Option<RawKnot>,
        zone: &str,
        signer_span: std::ops::Range<usize>,
        server: Option<std::net::SocketAddr>,
    ) -> std::result::Result<Settings, String> {
        if server.is_none() {
            return Err(src.err(
                signer_span,
                &format!("zone '{zone}': signer"),
                "knot needs server = \"ADDRESS:PORT\" (where Knot answers): \
                 the signed zone is looked at there after each reload",
            ));
        }
        let raw = raw.unwrap_or(RawKnot {
            control: None,
            knotc: None,
        });
        let control = match raw.control {
            None => None,
            Some(c) if c.get_ref().as_os_str().is_empty() => {
                return Err(src.err(
                    c.span(),
                    &format!("zone '{zone}': knot.control"),
                    "empty: the path of knotd's control socket (knot.sock)",
                ))
            }
            Some(c) => Some(src.abs(c.get_ref())),
        };
        Ok(Settings {
            control,
            knotc: raw.knotc.unwrap_or_else(|| PathBuf::from(DEFAULT_KNOTC)),
        })
    }

    /// `knotc [-s SOCKET] ARGS`, stdin closed.
    fn knotc(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.knotc);
        if let Some(s) = &self.control {
            cmd.arg("-s").arg(s);
        }
        cmd.args(args).stdin(std::process::Stdio::null());
        cmd
    }

    /// The serial Knot holds for `zone` (`knotc zone-status ZONE +serial`),
    /// None while it has loaded nothing yet. Knot that cannot be reached
    /// is 69, in knotc's own words.
    pub fn serial(&self, zone: &str) -> Result<Option<u32>> {
        let out = self.knotc(&["zone-status", zone, "+serial"]);
        let text =
            output(out, "knotc zone-status").map_err(|e| e.context(format_args!("zone {zone}")))?;
        Ok(parse_status_serial(&text))
    }
}

/// The serial in knotc's `[zone.] serial: N` line.
fn parse_status_serial(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.split("serial:").nth(1))
        .and_then(|s| s.split(['|', ' ']).find(|w| !w.is_empty()))
        .and_then(|s| s.parse().ok())
}

/// Run `cmd`; its standard output when it succeeds, else its first line
/// of complaint (knotc prints `error: ...` on stdout or stderr) as 69:
/// Knot is not there or would not do it, and the next build tries again.
fn output(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .output()
        .map_err(|e| Error::unavailable(format!("{what}: cannot run: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // knotc exits 0 for a zone command refused per zone ("error: [zone.]
    // (no such zone found)"): its words decide as well as its status.
    let said_error = stdout.lines().any(|l| l.trim_start().starts_with("error:"));
    if out.status.success() && !said_error {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr
        .lines()
        .chain(stdout.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed");
    Err(Error::unavailable(format!(
        "{what}: {first} ({})",
        out.status
    )))
}

/// Step 3 for a Knot zone: hand the unsigned zone to Knot and see it
/// served signed; returns the serial built and what was seen, for the
/// action line. Knot ignores a zone file whose serial is not above the
/// one it serves (it re-signs on its own, raising its serial): the
/// build's serial is raised above Knot's first.
pub fn install(config: &Config, zone: &Zone, knot: &Settings) -> Result<(u32, String)> {
    let name = &zone.name;
    let current = knot.serial(name)?;
    let mut st = build::load_state(config, name)?;
    if let (Some(knot_serial), Some(ours)) = (current, st.serial) {
        if !serial::greater(ours, knot_serial) {
            reserial(config, zone, knot_serial)?;
            st = build::load_state(config, name)?;
        }
    }
    let want = st.serial.unwrap_or(0);
    let unsigned = build::unsigned_path(config, name);
    let data =
        std::fs::read(&unsigned).map_err(|e| Error::unreadable(&unsigned, "cannot read", &e))?;
    let to = build::installed_path(config, name);
    // As for nsd: a temporary file renamed over the old one when whole, so
    // Knot never reads half a zone; a full directory is 73.
    atomic::write(&to, &data, atomic::MODE_PUBLIC)
        .map_err(|e| Error::cantcreat(&to, "cannot install", &e))?;
    // Blocking (-b): knotc returns when Knot has loaded and signed the
    // zone, or with what went wrong ("error: [zone] (failed)": Knot's log
    // has the details); the wait is bounded by serve_wait.
    let limit = config.serve_wait.as_secs().max(1).to_string();
    output(
        knot.knotc(&["-b", "-t", &limit, "zone-reload", name]),
        "knotc zone-reload",
    )
    .map_err(|e| e.context(format_args!("zone {name}")))?;
    let served = wait_signed(config, zone, want, &unsigned)?;
    st.installed = st.serial;
    build::save_state(config, name, &st)?;
    Ok((want, served))
}

/// Write `unsigned/<zone>` again, unchanged but for a serial above
/// `floor` (what Knot serves).
fn reserial(config: &Config, zone: &Zone, floor: u32) -> Result<()> {
    let unsigned = build::unsigned_path(config, &zone.name);
    let text = std::fs::read_to_string(&unsigned)
        .map_err(|e| Error::unreadable(&unsigned, "cannot read", &e))?;
    let rrs = masterfile::parse(&text, &zone.name, None, &unsigned.display().to_string())
        .map_err(Error::data)?;
    build::write_unsigned_above(config, zone, rrs, Some(floor)).map(|_| ())
}

/// Wait (bounded by `serve_wait`) until `server` serves `want` or a
/// later serial, then transfer the zone and check it: it verifies, and it
/// holds the records of `unsigned`. Not served in time: 69, as with nsd;
/// served without these records: 75 (the next build gives it a new
/// serial); served and not verifying: 65.
fn wait_signed(config: &Config, zone: &Zone, want: u32, unsigned: &Path) -> Result<String> {
    let name = &zone.name;
    let server = config
        .server
        .expect("signer knot is refused without server when the configuration is read");
    let deadline = Instant::now() + config.serve_wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.clamp(POLL_INTERVAL, QUERY_TIMEOUT);
        let seen = match certdrop_dns::query_soa_serial(server, name, timeout) {
            Ok(Some(s)) if s == want || serial::greater(s, want) => {
                return check_served(config, zone, want, unsigned)
            }
            Ok(Some(s)) => format!("still serves serial {s}"),
            Ok(None) => "serves no SOA record".to_owned(),
            Err(e) => format!("does not answer: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(Error::unavailable(format!(
                "zone {name}: {server} {seen} after {}, not {want}: does Knot read {}?",
                duration::render(config.serve_wait),
                build::installed_path(config, name).display()
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// AXFR from `server` (drill), ldns-verify-zone on it, and its records
/// (less what Knot adds) compared with the build's.
fn check_served(config: &Config, zone: &Zone, want: u32, unsigned: &Path) -> Result<String> {
    let name = &zone.name;
    let server = config.server.expect("checked when read");
    let axfr = config.build.join("tmp").join(format!("{name}.served"));
    let got = transfer(server, name, &axfr).and_then(|()| {
        let mut verify = Command::new("ldns-verify-zone");
        verify.arg(&axfr);
        crate::sign::run(&mut verify, "ldns-verify-zone", Failure::Data)
            .map_err(|e| e.context(format_args!("the zone {server} serves")))?;
        let served = records(&axfr)?;
        let built = records(unsigned)?;
        let serial = served_serial(&axfr)?;
        Ok((serial, served, built))
    });
    let _ = std::fs::remove_file(&axfr);
    let (serial, served, built) = got.map_err(|e| e.context(format_args!("zone {name}")))?;
    if served != built {
        let missing = built.difference(&served).next();
        let extra = served.difference(&built).next();
        let example = missing
            .map(|r| format!("lacks {r}"))
            .or_else(|| extra.map(|r| format!("has {r}")))
            .unwrap_or_default();
        return Err(Error::temp(format!(
            "zone {name}: {server} serves serial {serial} signed, but not this build's records \
             ({example}): Knot re-signed over serial {want}? the next build gives it a new serial"
        )));
    }
    let later = if serial == want {
        String::new()
    } else {
        format!(" (serial {serial}, Knot's)")
    };
    Ok(format!(
        "{server} serves it signed by Knot{later}, verified"
    ))
}

/// `drill -t -p PORT @ADDR AXFR ZONE > to`; a refused transfer says
/// where to allow it.
fn transfer(server: std::net::SocketAddr, zone: &str, to: &Path) -> Result<()> {
    let mut cmd = Command::new("drill");
    cmd.args(["-t", "-p", &server.port().to_string()])
        .arg(format!("@{}", server.ip()))
        .args(["AXFR", zone]);
    let out = cmd
        .output()
        .map_err(|e| Error::unavailable(format!("drill: cannot run: {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let has_soa = text
        .lines()
        .any(|l| l.split_whitespace().nth(3) == Some("SOA"));
    if !out.status.success() || !has_soa {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(Error::unavailable(format!(
            "AXFR from {server}: refused or empty{}{why} (Knot's acl must allow transfer to this host)",
            if why.is_empty() { "" } else { ": " }
        )));
    }
    atomic::write(to, text.as_bytes(), atomic::MODE_PUBLIC)
        .map_err(|e| Error::cantcreat(to, "cannot write", &e))
}

/// The serial of the SOA in a transferred zone.
fn served_serial(file: &Path) -> Result<u32> {
    let text =
        std::fs::read_to_string(file).map_err(|e| Error::unreadable(file, "cannot read", &e))?;
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(3) == Some(&"SOA"))
        .and_then(|f| f.get(6)?.parse().ok())
        .ok_or_else(|| Error::data(format!("{}: no SOA serial", file.display())))
}

/// A zone's records in ldns's canonical text, without the ones Knot adds.
fn records(file: &Path) -> Result<std::collections::BTreeSet<String>> {
    let mut cmd = Command::new("ldns-read-zone");
    cmd.args(["-c", "-s"]).arg(file);
    let out = cmd
        .output()
        .map_err(|e| Error::unavailable(format!("ldns-read-zone: cannot run: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(Error::data(format!(
            "ldns-read-zone {}: {}",
            file.display(),
            why.lines().next().unwrap_or("failed")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .filter(|l| {
            l.split_whitespace()
                .nth(3)
                .is_some_and(|t| !ENGINE_TYPES.contains(&t))
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_serial() {
        assert_eq!(
            parse_status_serial("[example.test.] serial: 30\n"),
            Some(30)
        );
        assert_eq!(
            parse_status_serial("[example.test.] role: master | serial: 7 | re-sign: +13s"),
            Some(7)
        );
        assert_eq!(parse_status_serial("[example.test.] serial: none\n"), None);
        assert_eq!(parse_status_serial(""), None);
    }
}
