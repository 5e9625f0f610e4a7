//! `signer = "knot"`: Knot DNS signs the zone itself (automatic DNSSEC
//! signing, a KASP policy, KSK and ZSK rollovers by its own key manager).
//! certdrop keeps building the content and choosing the serial; it writes
//! the unsigned zone where Knot reads it (`<install>/<zone>.zone`, the same
//! atomic install as for nsd), makes Knot load it (`knotc zone-reload`),
//! and then looks at what the zone's `server` serves: the new serial or a
//! later one Knot made by signing (RFC 1982 arithmetic), transferred whole
//! (AXFR, RFC 5936) and checked by ldns-verify-zone (every RRset signed,
//! the DNSKEY RRset self-signed, the NSEC/NSEC3 chain complete, RFC 4035
//! §5), holding this build's records. All of it, knotc and the tools
//! included, ends within `serve_wait`. Nothing of the ldns settings
//! (`keys`, `nsec3`, `signature_validity`, `resign_before`) applies:
//! Knot's policy decides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_core::atomic;
use certdrop_core::duration;
use certdrop_core::error::{Error, Result};
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
            // A bare name is looked up on PATH; a path with a directory
            // in it is the configuration's, like every other path there.
            knotc: match raw.knotc {
                None => PathBuf::from(DEFAULT_KNOTC),
                Some(k) if k.components().count() > 1 => src.abs(&k),
                Some(k) => k,
            },
        })
    }

    /// `knotc [-s SOCKET] -t SECONDS ARGS`: knotc's own control timeout
    /// is what is left until `deadline` (its default is 60 s).
    fn knotc(&self, args: &[&str], deadline: Instant) -> Command {
        let left = deadline.saturating_duration_since(Instant::now());
        let secs = (left.as_millis().div_ceil(1000) as u64).max(1);
        let mut cmd = Command::new(&self.knotc);
        if let Some(s) = &self.control {
            cmd.arg("-s").arg(s);
        }
        cmd.args(["-t", &secs.to_string()]).args(args);
        cmd
    }

    /// The serial Knot holds for `zone` (`knotc zone-status ZONE +serial`),
    /// None while it has loaded nothing yet. Knot that cannot be reached
    /// (or does not answer before `deadline`) is 69, in knotc's own words.
    pub fn serial(&self, zone: &str, deadline: Instant) -> Result<Option<u32>> {
        let out = self.knotc(&["zone-status", zone, "+serial"], deadline);
        let text = output(out, "knotc zone-status", deadline)
            .map_err(|e| e.context(format_args!("zone {zone}")))?;
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

/// Run `cmd` until `deadline`; its standard output when it succeeds, else
/// its first line of complaint (knotc prints `error: ...` on stdout or
/// stderr) as 69: Knot is not there or would not do it, and the next
/// build tries again.
fn output(mut cmd: Command, what: &str, deadline: Instant) -> Result<String> {
    let out = crate::deadline::output(&mut cmd, what, deadline)?;
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

/// Whether the zone is handed over already: the serial built is the one
/// installed, and the installed file is `unsigned/<zone>`. Then make's
/// `install` step (which runs whenever `sign` did not write signed/,
/// that is always for Knot) has nothing to do, and Knot is not asked:
/// its serial is above certdrop's after every signing, and answering
/// that with a new serial would reload, transfer and NOTIFY every run.
pub fn handed_over(config: &Config, zone: &Zone) -> Result<bool> {
    let st = build::load_state(config, &zone.name)?;
    if st.installed.is_none() || st.installed != st.serial {
        return Ok(false);
    }
    let unsigned = std::fs::read(build::unsigned_path(config, &zone.name)).ok();
    let installed = std::fs::read(build::installed_path(config, &zone.name)).ok();
    Ok(unsigned.is_some() && unsigned == installed)
}

/// The zone's server: where Knot answers (refused without one when read).
fn server(zone: &Zone) -> SocketAddr {
    zone.server
        .expect("signer knot is refused without server when the configuration is read")
}

/// Step 3 for a Knot zone: hand the unsigned zone to Knot and see it
/// served signed; returns the serial built and what was seen, for the
/// action line. Everything, knotc and the tools included, ends within
/// `serve_wait`. Knot ignores a zone file whose serial is not above the
/// one it serves (it re-signs on its own, raising its serial): the
/// build's serial is raised above Knot's first, unless Knot serves this
/// very content already (a build cut off after the reload).
pub fn install(config: &Config, zone: &Zone, knot: &Settings) -> Result<(u32, String)> {
    let name = &zone.name;
    let deadline = Instant::now() + config.serve_wait;
    let unsigned = build::unsigned_path(config, name);
    let ours = build::load_state(config, name)?.serial.unwrap_or(0);
    let mut knots = knot.serial(name, deadline)?;
    if knots.is_some_and(|k| !serial::greater(ours, k)) {
        let installed = std::fs::read(build::installed_path(config, name)).ok();
        let built = std::fs::read(&unsigned).ok();
        if installed.is_some() && installed == built {
            let looked = check_served(config, zone, &unsigned, deadline)
                .map_err(|e| e.context(format_args!("zone {name}")))?;
            if looked.difference.is_none() {
                return done(config, name, ours, looked, " already");
            }
        }
    }
    // A re-sign by Knot between zone-status and zone-reload leaves the
    // new file ignored (its serial no longer above Knot's): once more.
    for attempt in 0..2 {
        let mut want = build::load_state(config, name)?.serial.unwrap_or(0);
        if attempt > 0 {
            knots = knot.serial(name, deadline)?;
        }
        if let Some(k) = knots.filter(|k| !serial::greater(want, *k)) {
            want = reserial(config, zone, k)?;
        }
        hand_over(config, zone, knot, &unsigned, deadline)?;
        let looked = wait_signed(config, zone, want, &unsigned, deadline)?;
        match &looked.difference {
            None => return done(config, name, want, looked, ""),
            Some(_) if attempt == 0 => continue,
            Some(diff) => {
                return Err(Error::temp(format!(
                    "zone {name}: {} serves serial {} signed, but not this build's records \
                     (serial {want}): it {diff}",
                    server(zone),
                    looked.serial
                )))
            }
        }
    }
    unreachable!("the second attempt returns")
}

/// Install `unsigned` where Knot reads it and make Knot load it.
fn hand_over(
    config: &Config,
    zone: &Zone,
    knot: &Settings,
    unsigned: &Path,
    deadline: Instant,
) -> Result<()> {
    let name = &zone.name;
    let data =
        std::fs::read(unsigned).map_err(|e| Error::unreadable(unsigned, "cannot read", &e))?;
    let to = build::installed_path(config, name);
    // As for nsd: a temporary file renamed over the old one when whole, so
    // Knot never reads half a zone; a full directory is 73.
    atomic::write(&to, &data, atomic::MODE_PUBLIC)
        .map_err(|e| Error::cantcreat(&to, "cannot install", &e))?;
    // Blocking (-b): knotc returns when Knot has loaded and signed the
    // zone, or with what went wrong ("error: [zone] (failed)": Knot's log
    // has the details); -t bounds it by what is left of serve_wait.
    output(
        knot.knotc(&["-b", "zone-reload", name], deadline),
        "knotc zone-reload",
        deadline,
    )
    .map(|_| ())
    .map_err(|e| e.context(format_args!("zone {name}")))
}

/// Record `built` as installed; the words for the action line.
fn done(
    config: &Config,
    name: &str,
    built: u32,
    looked: Looked,
    already: &str,
) -> Result<(u32, String)> {
    let mut st = build::load_state(config, name)?;
    st.installed = st.serial;
    build::save_state(config, name, &st)?;
    let later = if looked.serial == built {
        String::new()
    } else {
        format!(" (serial {}, Knot's)", looked.serial)
    };
    Ok((
        built,
        format!(
            "{}{already} serves it signed by Knot{later}, verified",
            looked.server
        ),
    ))
}

/// Write `unsigned/<zone>` again, unchanged but for a serial above
/// `floor` (what Knot serves); the new serial.
fn reserial(config: &Config, zone: &Zone, floor: u32) -> Result<u32> {
    let unsigned = build::unsigned_path(config, &zone.name);
    let text = std::fs::read_to_string(&unsigned)
        .map_err(|e| Error::unreadable(&unsigned, "cannot read", &e))?;
    let rrs = masterfile::parse(&text, &zone.name, None, &unsigned.display().to_string())
        .map_err(Error::data)?;
    build::write_unsigned_above(config, zone, rrs, Some(floor))?;
    Ok(build::load_state(config, &zone.name)?.serial.unwrap_or(0))
}

/// What the server was seen to serve.
struct Looked {
    server: SocketAddr,
    /// The served SOA serial.
    serial: u32,
    /// The first way the served records differ from the build's
    /// ("lacks R" / "has R"), None when they are the same.
    difference: Option<String>,
}

/// Wait (until `deadline`) until the zone's server serves `want` or a
/// later serial, then transfer the zone and check it: it verifies, and
/// whether it holds the records of `unsigned`. Not served in time: 69,
/// as with nsd; served and not verifying: 65.
fn wait_signed(
    config: &Config,
    zone: &Zone,
    want: u32,
    unsigned: &Path,
    deadline: Instant,
) -> Result<Looked> {
    let name = &zone.name;
    let server = server(zone);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = left.clamp(POLL_INTERVAL, QUERY_TIMEOUT);
        let seen = match certdrop_dns::query_soa_serial(server, name, timeout) {
            Ok(Some(s)) if s == want || serial::greater(s, want) => {
                return check_served(config, zone, unsigned, deadline)
                    .map_err(|e| e.context(format_args!("zone {name}")))
            }
            Ok(Some(s)) => format!("still serves serial {s}"),
            Ok(None) => "serves no SOA record".to_owned(),
            Err(e) => format!("does not answer: {e}"),
        };
        if Instant::now() >= deadline {
            return Err(Error::unavailable(format!(
                "zone {name}: {server} {seen} within {}, not {want}: does Knot read {}?",
                duration::render(config.serve_wait),
                build::installed_path(config, name).display()
            )));
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// AXFR from the zone's server (drill), ldns-verify-zone on it, and its
/// records (less what Knot adds) compared with the build's.
fn check_served(
    config: &Config,
    zone: &Zone,
    unsigned: &Path,
    deadline: Instant,
) -> Result<Looked> {
    let name = &zone.name;
    let server = server(zone);
    let axfr = config.build.join("tmp").join(format!("{name}.served"));
    let got = transfer(server, name, &axfr, deadline).and_then(|()| {
        let mut verify = Command::new("ldns-verify-zone");
        verify.arg(&axfr);
        let out = crate::deadline::output(&mut verify, "ldns-verify-zone", deadline)?;
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            let first = text.lines().map(str::trim).find(|l| !l.is_empty());
            return Err(Error::data(format!(
                "the zone {server} serves: ldns-verify-zone: {} ({})",
                first.unwrap_or("failed"),
                out.status
            )));
        }
        let served = records(&axfr, deadline)?;
        let built = records(unsigned, deadline)?;
        let serial = served_serial(&axfr)?;
        Ok((serial, served, built))
    });
    let _ = std::fs::remove_file(&axfr);
    let (serial, served, built) = got?;
    let difference = if served == built {
        None
    } else {
        let missing = built.difference(&served).next();
        let extra = served.difference(&built).next();
        Some(
            missing
                .map(|r| format!("lacks {r}"))
                .or_else(|| extra.map(|r| format!("has {r}")))
                .unwrap_or_default(),
        )
    };
    Ok(Looked {
        server,
        serial,
        difference,
    })
}

/// `drill -t -p PORT @ADDR AXFR ZONE > to`; a refused transfer says
/// where to allow it.
fn transfer(server: SocketAddr, zone: &str, to: &Path, deadline: Instant) -> Result<()> {
    let mut cmd = Command::new("drill");
    cmd.args(["-t", "-p", &server.port().to_string()])
        .arg(format!("@{}", server.ip()))
        .args(["AXFR", zone]);
    let out = crate::deadline::output(&mut cmd, &format!("AXFR from {server}"), deadline)?;
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
fn records(file: &Path, deadline: Instant) -> Result<std::collections::BTreeSet<String>> {
    let mut cmd = Command::new("ldns-read-zone");
    cmd.args(["-c", "-s"]).arg(file);
    let out = crate::deadline::output(&mut cmd, "ldns-read-zone", deadline)?;
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
