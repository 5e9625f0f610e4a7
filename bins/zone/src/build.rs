//! `build`: per zone, soa + primary (static, from the configuration
//! repository) + the generated records (filtered fragments, TLSA, SSHFP,
//! CAA, `_validation-persist` TXT) → `unsigned/<zone>`; checked, signed, verified, installed
//! atomically where nsd reads it, and nsd reloaded — each step only when
//! the content changed (or signatures need renewing). A zone that fails a
//! step never replaces the one being served.

use std::path::{Path, PathBuf};

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_core::{atomic, clock};
use serde::{Deserialize, Serialize};

use crate::assembled::Assembled;
use crate::config::{Config, Signer, Zone};
use crate::masterfile::{self, Rr};
use crate::record::Record;
use crate::warnings::Warnings;
use crate::{caa, fragments, serial, sign};

/// What the build remembers of a zone (`state/<zone>.json`).
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneState {
    /// Serial of the last assembled zone (`unsigned/<zone>`).
    pub serial: Option<u32>,
    /// SHA-256 of that zone's records with the serial zeroed.
    pub content: Option<String>,
    /// When the signatures of `signed/<zone>` expire.
    pub expires: Option<i64>,
    /// Serial of the zone installed for nsd and reloaded.
    #[serde(default)]
    pub installed: Option<u32>,
    /// Fingerprint of the inputs of the last complete build.
    #[serde(default)]
    pub inputs: Option<String>,
}

fn state_path(config: &Config, zone: &str) -> PathBuf {
    config.build.join("state").join(format!("{zone}.json"))
}

/// What the build remembers of `zone`; nothing yet when it never ran.
pub fn load_state(config: &Config, zone: &str) -> Result<ZoneState> {
    certdrop_core::statefile::load(&state_path(config, zone))
}

/// Write what the build remembers of `zone`, atomically.
pub fn save_state(config: &Config, zone: &str, st: &ZoneState) -> Result<()> {
    certdrop_core::statefile::save(&state_path(config, zone), st, atomic::MODE_PUBLIC)
}

/// Where nsd reads the zone: `<install>/<zone>.zone`.
pub fn installed_path(config: &Config, zone: &str) -> PathBuf {
    config.install.join(format!("{zone}.zone"))
}

/// The generated records of every zone, computed once per build.
pub struct Generated {
    /// Accepted fragments.
    pub fragments: Vec<certdrop_core::fragment::Fragment>,
    /// Rejected fragments, one line each, by directory.
    pub problems: Warnings,
}

/// Filter the drop directory for all zones at once.
pub fn generate(config: &Config) -> Generated {
    let mut problems = Warnings::default();
    let mut frags = Vec::new();
    if let Some(dir) = &config.dnsextra {
        let mut policy =
            fragments::Policy::new(config.zones.iter().map(|z| z.name.clone()).collect());
        policy.owner_uid = config.fragment_owner;
        policy.max_values_per_name = config.max_values_per_name;
        match fragments::filter_dir(dir, &policy) {
            Ok(f) => {
                fragments::report_cap(&f, dir, &mut problems);
                for r in f.rejected {
                    problems.fragment(dir, &r.file, &r.reason);
                }
                frags = f.records;
            }
            Err(e) => problems.push(&dir.display().to_string(), e.to_string()),
        }
    }
    Generated {
        fragments: frags,
        problems,
    }
}

/// The zone's static records: soa, then primary (with the SOA's TTL as
/// the default), then any `parts` (generated files, for make).
pub fn sources(zone: &Zone, parts: &[PathBuf]) -> Result<Vec<Rr>> {
    let parse = |p: &Path, ttl: Option<u32>| {
        masterfile::parse(&read_source(p)?, &zone.name, ttl, &p.display().to_string())
            .map_err(Error::data)
    };
    let mut rrs = parse(&zone.soa, None)?;
    let default_ttl = rrs.first().map(|r| r.ttl);
    for p in zone.primary.iter().chain(parts) {
        rrs.extend(parse(p, default_ttl)?);
    }
    Ok(rrs)
}

/// A source file from the configuration repository (soa, primary, a TLSA
/// map, a make part): trusted, but it may be missing (66).
pub(crate) fn read_source(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| match e.kind() {
        std::io::ErrorKind::InvalidData => Error::data(format!("{}: not UTF-8 text", p.display())),
        _ => Error::unreadable(p, "cannot read", &e),
    })
}

/// All records of `zone`, assembled and checked; `problems` collects
/// what was left out and why. The static sources are read here to check
/// and hash them, and again only when the zone is written.
pub fn assemble(
    config: &Config,
    zone: &Zone,
    gen: &Generated,
    problems: &mut Warnings,
) -> Result<Assembled> {
    let files = std::iter::once(zone.soa.clone())
        .chain(zone.primary.iter().cloned())
        .collect();
    Assembled::from_sources(&zone.name, files, |cuts| {
        crate::persist::below_cut(&zone.persist, cuts)
            .map_err(|why| caa_error(config, zone, &why))?;
        generated(config, zone, gen, problems)
    })
}

/// The generated records of `zone` (fragments, TLSA, SSHFP, CAA,
/// dns-persist-01), sorted,
/// without duplicates.
fn generated(
    config: &Config,
    zone: &Zone,
    gen: &Generated,
    problems: &mut Warnings,
) -> Result<Vec<Record>> {
    let mut extra: Vec<Record> = Vec::new();
    for f in gen
        .fragments
        .iter()
        .filter(|f| owner_zone(config, &f.owner) == Some(zone.name.as_str()))
    {
        extra.push(Record::new(
            &f.owner,
            f.ttl,
            crate::record::RType::Txt,
            format!("\"{}\"", f.value),
        ));
    }
    if let (Some(map), Some(certs)) = (&zone.tlsa_map, &config.certs) {
        let text = read_source(map)?;
        let entries = crate::tlsa::parse_map(map, &text).map_err(Error::data)?;
        // Zones sharing this map take their own entries from it.
        let others: Vec<&str> = config
            .zones
            .iter()
            .filter(|z| z.name != zone.name && z.tlsa_map.as_ref() == Some(map))
            .map(|z| z.name.as_str())
            .collect();
        let (entries, outside) = crate::tlsa::inside(map, entries, &zone.name, &others);
        let group = map.display().to_string();
        let (records, tlsa_problems) = crate::tlsa::records(&entries, certs, zone.ttl);
        for p in outside.into_iter().chain(tlsa_problems) {
            problems.push(&group, p);
        }
        extra.extend(records);
    }
    if let (true, Some(dir)) = (zone.sshfp, &config.phonehome) {
        let policy = crate::sshfp::SshfpPolicy {
            origin: zone.name.clone(),
            allow: zone.sshfp_allow.clone(),
            sha1: zone.sshfp_sha1,
            sha256: true,
            ttl: zone.ttl,
        };
        let (records, rejected) = crate::sshfp::from_dir(dir, &policy);
        for (file, why) in rejected {
            problems.hostkey(dir, &file, &why);
        }
        extra.extend(records);
    }
    if let Some(c) = &zone.caa {
        caa::check(c).map_err(|why| caa_error(config, zone, &why))?;
        extra.extend(caa::records(&zone.name, c, zone.ttl));
    }
    extra.extend(crate::persist::all(
        &zone.persist,
        config.certs.as_deref(),
        &zone.name,
        zone.ttl,
        |path, line| problems.push(&path.display().to_string(), line),
    ));
    extra.sort();
    extra.dedup();
    Ok(extra)
}

/// A zone whose records do not hold together (exit 65).
pub fn zone_data(zone: &Zone, why: &str) -> Error {
    zone_data_name(&zone.name, why)
}

/// [`zone_data`] by the zone's name.
pub fn zone_data_name(zone: &str, why: &str) -> Error {
    Error::data(format!("zone {zone}: {why}"))
}

/// A `[zone.caa]` or `[[zone.persist]]` table that cannot give valid
/// records (a persist name below a delegation of the sources, too): it
/// comes from zone.toml, so it is a configuration error (78).
pub fn caa_error(config: &Config, zone: &Zone, why: &str) -> Error {
    Error::config(format!(
        "{}: zone {}: {why}",
        config.path.display(),
        zone.name
    ))
}

/// A generated record as a zone record.
pub fn rr_of(r: Record) -> Rr {
    Rr {
        owner: r.owner,
        ttl: r.ttl,
        rtype: r.rtype.as_str().to_owned(),
        rdata: vec![r.rdata],
        source: masterfile::Source::label("generated"),
    }
}

/// The zone a fragment owner belongs to: the longest zone name it is in.
fn owner_zone<'a>(config: &'a Config, owner: &str) -> Option<&'a str> {
    config
        .zones
        .iter()
        .filter(|z| certdrop_core::name::in_zone(owner, &z.name))
        .max_by_key(|z| z.name.len())
        .map(|z| z.name.as_str())
}

/// The build tree's subdirectories.
pub const TREE: [&str; 4] = ["unsigned", "signed", "state", "tmp"];

/// `unsigned/<zone>`.
pub fn unsigned_path(config: &Config, zone: &str) -> PathBuf {
    config.build.join("unsigned").join(zone)
}

/// `signed/<zone>`.
pub fn signed_path(config: &Config, zone: &str) -> PathBuf {
    config.build.join("signed").join(zone)
}

/// Step 1: write `unsigned/<zone>` from `rrs` — only when the content
/// changed (or `force`), with the next serial, after our checks and
/// nsd-checkzone. Returns the serial written, or None when unchanged.
pub fn write_unsigned(
    config: &Config,
    zone: &Zone,
    rrs: Assembled,
    force: bool,
    check_only: bool,
) -> Result<Option<u32>> {
    write_unsigned_from(config, zone, rrs, force, check_only, None)
}

/// [`write_unsigned`] forced, with a serial above `floor` too (what a
/// signing engine serves, which moves on its own).
pub fn write_unsigned_above(
    config: &Config,
    zone: &Zone,
    rrs: Vec<Rr>,
    floor: Option<u32>,
) -> Result<Option<u32>> {
    let rrs = Assembled::from_records(&zone.name, rrs);
    write_unsigned_from(config, zone, rrs, true, false, floor)
}

fn write_unsigned_from(
    config: &Config,
    zone: &Zone,
    rrs: Assembled,
    force: bool,
    check_only: bool,
    floor: Option<u32>,
) -> Result<Option<u32>> {
    let mut st = load_state(config, &zone.name)?;
    let content = rrs.content.clone();
    let unsigned = unsigned_path(config, &zone.name);
    if !force && st.content.as_deref() == Some(content.as_str()) && unsigned.exists() {
        return Ok(None);
    }
    let last = st
        .serial
        .into_iter()
        .chain(rrs.soa_serial)
        .chain(floor)
        .max_by(|a, b| {
            if serial::greater(*a, *b) {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Less
            }
        });
    let new_serial = serial::next(zone.serial, last, clock::now());
    for d in TREE {
        let dir = config.build.join(d);
        atomic::ensure_dir(&dir, atomic::MODE_PUBLIC_DIR)
            .map_err(|e| Error::cantcreat(&dir, "cannot create", &e))?;
    }
    // Check before anything that is served moves.
    let candidate = config
        .build
        .join("tmp")
        .join(format!("{}.unsigned", zone.name));
    write_streamed(&candidate, "cannot write", |out| {
        rrs.write(out, new_serial, |e| {
            Error::cantcreat(&candidate, "cannot write", &e)
        })
    })?;
    drop(rrs);
    let checked = nsd_checkzone(&zone.name, &candidate);
    if check_only || checked.is_err() {
        let _ = std::fs::remove_file(&candidate);
        return checked.map(|()| Some(new_serial));
    }
    atomic::rename(&candidate, &unsigned)
        .map_err(|e| Error::cantcreat(&unsigned, "cannot rename into place", &e))?;
    st.serial = Some(new_serial);
    st.content = Some(content);
    save_state(config, &zone.name, &st)?;
    Ok(Some(new_serial))
}

/// Step 2: sign `unsigned/<zone>` into `signed/<zone>` (verified); returns
/// the path nsd should get (the unsigned one with `signer = "none"`).
pub fn sign_zone(config: &Config, zone: &Zone) -> Result<PathBuf> {
    let unsigned = unsigned_path(config, &zone.name);
    let tmp = config
        .build
        .join("tmp")
        .join(format!("{}.signed", zone.name));
    let signed = signed_path(config, &zone.name);
    let keys = match &zone.signer {
        Signer::Ldns(keys) => keys,
        // Knot signs what it is given itself (install_zone).
        Signer::None | Signer::Knot(_) => return Ok(unsigned),
        Signer::OpenDnssec(s) => {
            let serial = load_state(config, &zone.name)?.serial.unwrap_or(0);
            sign::opendnssec::sign(&zone.name, s, serial, &unsigned, &tmp, &signed)
                .map_err(|e| e.context(format_args!("zone {}", zone.name)))?;
            atomic::rename(&tmp, &signed)
                .map_err(|e| Error::cantcreat(&signed, "cannot rename into place", &e))?;
            return Ok(signed);
        }
    };
    let expires = sign::sign(zone, keys, &unsigned, &tmp)
        .map_err(|e| e.context(format_args!("zone {}", zone.name)))?;
    atomic::rename(&tmp, &signed)
        .map_err(|e| Error::cantcreat(&signed, "cannot rename into place", &e))?;
    let mut st = load_state(config, &zone.name)?;
    st.expires = Some(expires);
    save_state(config, &zone.name, &st)?;
    Ok(signed)
}

/// Step 3: install the zone file where nsd reads it, reload nsd and look
/// that the new serial is served; returns the serial and what the look
/// found, for the action line.
pub fn install_zone(config: &Config, zone: &Zone, from: &Path) -> Result<(u32, String)> {
    if let Signer::Knot(knot) = &zone.signer {
        return sign::knot::install(config, zone, knot);
    }
    install(config, &zone.name, from)?;
    reload(config, &zone.name)?;
    let mut st = load_state(config, &zone.name)?;
    let serial = st.serial.unwrap_or(0);
    let served = crate::served::wait(config, &zone.name, zone.server, serial)?;
    st.installed = st.serial;
    save_state(config, &zone.name, &st)?;
    Ok((serial, served))
}

/// Whether a zone can be skipped without reading its inputs: they are as
/// fingerprinted at the last complete build, that build is installed, and
/// its signatures are not due for renewal.
pub fn unchanged(config: &Config, zone: &Zone, fingerprint: &str) -> Result<bool> {
    let st = load_state(config, &zone.name)?;
    let resign = resign_due(config, zone, &st);
    Ok(st.inputs.as_deref() == Some(fingerprint)
        && st.installed.is_some()
        && st.installed == st.serial
        && !resign
        && installed_path(config, &zone.name).exists())
}

/// Whether the signer must see the zone again although its content did
/// not change: ldns signatures near expiry; for OpenDNSSEC, a signer
/// configuration the enforcer rewrote (a key event) or a refresh due.
pub fn resign_due(config: &Config, zone: &Zone, st: &ZoneState) -> bool {
    match &zone.signer {
        Signer::Ldns(_) => sign::due(st.expires, zone.resign_before),
        Signer::OpenDnssec(s) => sign::opendnssec::due(s, &signed_path(config, &zone.name)),
        // Knot re-signs by its own policy.
        Signer::None | Signer::Knot(_) => false,
    }
}

/// Remember the inputs' fingerprint after a complete build.
pub fn record_inputs(config: &Config, zone: &Zone, fingerprint: String) -> Result<()> {
    let mut st = load_state(config, &zone.name)?;
    st.inputs = Some(fingerprint);
    save_state(config, &zone.name, &st)
}

/// Build one zone through the three steps; each runs only when needed:
/// new content, signatures due for renewal, or an earlier run that
/// stopped between steps.
pub fn build_zone(
    config: &Config,
    zone: &Zone,
    gen: &Generated,
    force: bool,
    check_only: bool,
    problems: &mut Warnings,
    out: &Output,
) -> Result<Outcome> {
    let rrs = assemble(config, zone, gen, problems)?;
    let written = write_unsigned(config, zone, rrs, force, check_only)?;
    if check_only {
        out.verbose(&format!("zone {}: assembled and checked", zone.name));
        return Ok(Outcome::Reported);
    }
    let st = load_state(config, &zone.name)?;
    let resign = resign_due(config, zone, &st);
    let behind = st.installed != st.serial || !installed_path(config, &zone.name).exists();
    if written.is_none() && !resign && !behind {
        out.verbose(&format!(
            "zone {}: unchanged (serial {})",
            zone.name,
            st.serial.unwrap_or(0)
        ));
        return Ok(Outcome::Unchanged);
    }
    // Renewing signatures alone still needs a new serial for secondaries.
    if written.is_none() && resign && !behind {
        let rrs = assemble(config, zone, gen, &mut Warnings::default())?;
        write_unsigned(config, zone, rrs, true, false)?;
    }
    let from = sign_zone(config, zone)?;
    let (serial, served) = install_zone(config, zone, &from)?;
    let why = match (written.is_some(), resign) {
        (true, _) if force => "forced",
        (true, _) => "content changed",
        (false, true) if matches!(zone.signer, Signer::OpenDnssec(_)) => {
            "handed to OpenDNSSEC again: key event or refresh"
        }
        (false, true) => "signatures renewed",
        (false, false) => "finishing an interrupted build",
    };
    out.action(&format!(
        "zone {}: serial {serial} installed and reloaded ({why}); {served}",
        zone.name
    ));
    Ok(Outcome::Changed)
}

/// `nsd-checkzone ZONE FILE` when nsd is installed.
fn nsd_checkzone(zone: &str, file: &Path) -> Result<()> {
    if !tool_exists("nsd-checkzone") {
        return Ok(());
    }
    let mut cmd = std::process::Command::new("nsd-checkzone");
    cmd.arg(zone).arg(file);
    // nsd-checkzone refusing the zone is the zone's fault (65).
    sign::run(&mut cmd, "nsd-checkzone", Failure::Data)
        .map_err(|e| e.context(format_args!("zone {zone}")))
}

fn tool_exists(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

/// Copy the zone file into nsd's directory atomically.
fn install(config: &Config, zone: &str, from: &Path) -> Result<()> {
    let mut data =
        std::fs::File::open(from).map_err(|e| Error::unreadable(from, "cannot read", &e))?;
    let to = installed_path(config, zone);
    // The directory is never created: a mistyped one is not where nsd
    // reads (the configuration was refused if it was missing at start).
    // A full or read-only zone directory: 73, and the served zone stays
    // (the write goes to a temporary file renamed over it only when whole).
    write_streamed(&to, "cannot install", |out| {
        use std::io::{Read, Write};
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::unreadable(from, "cannot read", &e)),
            };
            out.write_all(&buf[..n])
                .map_err(|e| Error::cantcreat(&to, "cannot install", &e))?;
        }
    })
}

/// Write `path` atomically from what `fill` writes, through a buffer:
/// a temporary file beside it, fsynced, renamed over it, the directory
/// fsynced — as `atomic::write`, without the whole file in memory.
fn write_streamed(
    path: &Path,
    what: &str,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<()>,
) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = atomic::temp_path(path);
    let cant = |e: std::io::Error| Error::cantcreat(path, what, &e);
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(atomic::MODE_PUBLIC)
            .open(&tmp)
            .map_err(cant)?;
        // The umask may have narrowed the mode; say exactly what we mean.
        file.set_permissions(std::fs::Permissions::from_mode(atomic::MODE_PUBLIC))
            .map_err(cant)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        fill(&mut out)?;
        out.flush().map_err(cant)?;
        let file = out.into_inner().map_err(|e| cant(e.into_error()))?;
        file.sync_all().map_err(cant)?;
        drop(file);
        std::fs::rename(&tmp, path).map_err(cant)?;
        atomic::sync_parent(path).map_err(cant)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Run the reload command for `zone`.
/// A failed reload is nsd's (nsd-control cannot reach it): 69, and the
/// next build tries again, since the zone is not recorded as installed.
fn reload(config: &Config, zone: &str) -> Result<()> {
    let Some((prog, args)) = config.reload.split_first() else {
        return Ok(());
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args.iter().map(|a| a.replace("{zone}", zone)));
    sign::run(&mut cmd, prog, Failure::Unavailable)
        .map_err(|e| e.context(format_args!("zone {zone}: reload")))
}
