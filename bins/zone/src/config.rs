//! zone.toml: raw structures as serde reads them, kept apart from the
//! validated [`Config`]. Unknown keys are rejected; errors name file, line
//! and key. Relative paths are relative to the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::Error;
use certdrop_core::{clock, duration, name};
use serde::Deserialize;
use toml::Spanned;

use crate::serial::Scheme;

/// Default TTL of generated records.
pub const DEFAULT_TTL: u32 = 300;
/// Default validity of signatures made by ldns-signzone.
pub const DEFAULT_SIGNATURE_VALIDITY: Duration = Duration::from_secs(21 * 86_400);
/// Re-sign when signatures have less than this left.
pub const DEFAULT_RESIGN_BEFORE: Duration = Duration::from_secs(7 * 86_400);
/// Inception backdated by this much (clock skew of validators).
pub const DEFAULT_INCEPTION_BACKDATE: Duration = Duration::from_secs(3600);
/// How long a build waits for another build's lock on the build tree
/// before it gives up (exit 75), as `lock_wait` in the other stages.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
/// Default reload command; `{zone}` is replaced by the zone name.
pub const DEFAULT_RELOAD: [&str; 3] = ["nsd-control", "reload", "{zone}"];
/// How long a build waits, after a reload, for `server` to serve the new
/// serial (nsd-control returns before nsd has loaded the zone).
pub const DEFAULT_SERVE_WAIT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    build: PathBuf,
    install: Spanned<PathBuf>,
    dnsextra: Option<PathBuf>,
    certs: Option<PathBuf>,
    phonehome: Option<PathBuf>,
    #[serde(default)]
    reload: Option<Vec<String>>,
    server: Option<Spanned<String>>,
    #[serde(default, with = "duration::serde_text_opt")]
    serve_wait: Option<Duration>,
    fragment_owner: Option<Spanned<String>>,
    #[serde(default)]
    max_values_per_name: Option<usize>,
    #[serde(default, with = "duration::serde_text_opt")]
    lock_wait: Option<Duration>,
    #[serde(default, rename = "zone")]
    zones: Vec<RawZone>,
    xfr: Option<crate::xfr::RawXfr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawZone {
    name: Spanned<String>,
    soa: PathBuf,
    primary: Option<PathBuf>,
    tlsa_map: Option<PathBuf>,
    #[serde(default)]
    sshfp: bool,
    sshfp_allow: Option<Vec<String>>,
    #[serde(default)]
    sshfp_sha1: Option<bool>,
    ttl: Option<u32>,
    serial: Option<Spanned<String>>,
    signer: Option<Spanned<String>>,
    #[serde(default)]
    keys: Vec<PathBuf>,
    #[serde(default = "yes")]
    nsec3: bool,
    #[serde(default, with = "duration::serde_text_opt")]
    signature_validity: Option<Duration>,
    #[serde(default, with = "duration::serde_text_opt")]
    resign_before: Option<Duration>,
    caa: Option<Caa>,
    #[serde(default)]
    persist: Vec<Spanned<crate::persist::Raw>>,
    server: Option<Spanned<String>>,
    knot: Option<crate::sign::knot::RawKnot>,
    opendnssec: Option<Spanned<crate::sign::opendnssec::Raw>>,
}

fn yes() -> bool {
    true
}

/// CAA records of a zone (RFC 8659, RFC 8657), as written in the
/// configuration: nothing in it needs more than the parser checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caa {
    /// The CA's issuer domain, e.g. `letsencrypt.org`.
    pub issuer: String,
    /// Also publish `issuewild`.
    #[serde(default = "yes")]
    pub wildcard: bool,
    /// RFC 8657 `accounturi`.
    pub accounturi: Option<String>,
    /// RFC 8657 `validationmethods`.
    #[serde(default)]
    pub methods: Vec<String>,
    /// `iodef` URL.
    pub iodef: Option<String>,
}

/// Who signs the zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// `ldns-signzone` with these key basenames (`K<zone>+<alg>+<id>`).
    Ldns(Vec<PathBuf>),
    /// Leave `unsigned/<zone>` for an external signer.
    None,
    /// Knot DNS signs (automatic signing, its own keys and rollovers):
    /// the unsigned zone is installed for it and it is told to reload.
    Knot(crate::sign::knot::Settings),
    /// OpenDNSSEC signs (`[zone.opendnssec]`); certdrop hands the zone
    /// over and installs what the signer wrote.
    OpenDnssec(crate::sign::opendnssec::Settings),
}

/// One zone, validated.
#[derive(Debug, Clone)]
pub struct Zone {
    /// Zone name, lowercase, no trailing dot.
    pub name: String,
    /// Where the installed zone is served, asked for its SOA serial after
    /// a reload: the zone's own `server`, else the top-level one; None:
    /// not checked (and said so).
    pub server: Option<std::net::SocketAddr>,
    /// SOA source.
    pub soa: PathBuf,
    /// Static records source.
    pub primary: Option<PathBuf>,
    /// TLSA map.
    pub tlsa_map: Option<PathBuf>,
    /// Generate SSHFP from phonehome/.
    pub sshfp: bool,
    /// Hosts allowed to get SSHFP records.
    pub sshfp_allow: Option<Vec<String>>,
    /// SSHFP with SHA-1 as well as SHA-256.
    pub sshfp_sha1: bool,
    /// TTL of generated records.
    pub ttl: u32,
    /// Serial scheme.
    pub serial: Scheme,
    /// Signer.
    pub signer: Signer,
    /// NSEC3 (RFC 9276 parameters) rather than NSEC.
    pub nsec3: bool,
    /// Signature validity.
    pub signature_validity: Duration,
    /// Re-sign this long before expiry.
    pub resign_before: Duration,
    /// CAA records.
    pub caa: Option<Caa>,
    /// `[[zone.persist]]`: dns-persist-01 records.
    pub persist: Vec<crate::persist::Persist>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Build tree: `unsigned/`, `signed/`, `state/`.
    pub build: PathBuf,
    /// Directory nsd reads zone files from.
    pub install: PathBuf,
    /// Its line in the file, for messages.
    pub install_line: usize,
    /// dns-01 drop directory (read-only).
    pub dnsextra: Option<PathBuf>,
    /// Certificate store (read-only).
    pub certs: Option<PathBuf>,
    /// Collected host keys (read-only).
    pub phonehome: Option<PathBuf>,
    /// Reload command, `{zone}` replaced.
    pub reload: Vec<String>,
    /// How long to wait for a zone's `server` to serve the new serial
    /// (for Knot: the whole hand-over, knotc included).
    pub serve_wait: Duration,
    /// uid allowed to own fragments.
    pub fragment_owner: Option<u32>,
    /// Cap on values per name.
    pub max_values_per_name: usize,
    /// How long to wait for another build's lock.
    pub lock_wait: Duration,
    /// Zones.
    pub zones: Vec<Zone>,
    /// `[xfr]`: the secondaries and their TSIG key.
    pub xfr: Option<crate::xfr::Xfr>,
    /// Settings that have no effect (what `-n` warns about), one line each.
    pub unused: Vec<String>,
}

impl Config {
    /// Read and validate; any failure, a missing file included, is a
    /// configuration error (78).
    pub fn load(path: &Path) -> certdrop_core::error::Result<Config> {
        let text = certdrop_core::tomlcfg::read(path)?;
        Config::parse(path, &text)
    }

    /// Validate text; `path` for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> certdrop_core::error::Result<Config> {
        Config::validate(path, text).map_err(Error::config)
    }

    /// `install`, nsd's zone directory, must exist when a zone is written
    /// there: a mistyped one is never created, where nsd would not read
    /// it (78). Looked at by every command that installs, at each build
    /// (the directory may appear after the configuration is read).
    pub fn install_exists(&self) -> certdrop_core::error::Result<()> {
        if self.install.is_dir() {
            return Ok(());
        }
        Err(Error::config(format!(
            "{}:{}: install: {}: no such directory (nsd's zone directory must exist; it is not created)",
            self.path.display(),
            self.install_line,
            self.install.display()
        )))
    }

    fn validate(path: &Path, text: &str) -> Result<Config, String> {
        let src = certdrop_core::tomlcfg::Source { path, text };
        let raw: RawConfig = src.parse()?;
        let err = |span: std::ops::Range<usize>, key: &str, why: &str| src.err(span, key, why);
        let abs = |p: &Path| src.abs(p);
        let fragment_owner = match &raw.fragment_owner {
            None => None,
            Some(o) => {
                Some(uid_of(o.get_ref()).map_err(|why| err(o.span(), "fragment_owner", &why))?)
            }
        };
        let install = abs(raw.install.get_ref());
        let install_line = src.line(raw.install.span().start);
        let address = |s: &Option<Spanned<String>>, k: &str| match s {
            None => Ok(None),
            Some(s) => s
                .get_ref()
                .parse::<std::net::SocketAddr>()
                .map(Some)
                .map_err(|_| {
                    err(
                        s.span(),
                        k,
                        &format!(
                            "'{}': expected an address and port, e.g. 127.0.0.1:53",
                            s.get_ref()
                        ),
                    )
                }),
        };
        let server = address(&raw.server, "server")?;
        let mut zones = Vec::new();
        let mut unused = Vec::new();
        for mut z in raw.zones {
            let zname = name::domain(z.name.get_ref(), false)
                .map_err(|why| err(z.name.span(), "zone.name", &why))?;
            if zones.iter().any(|o: &Zone| o.name == zname) {
                return Err(err(
                    z.name.span(),
                    "zone.name",
                    &format!("'{zname}' defined twice"),
                ));
            }
            let key = |k: &str| format!("zone '{zname}': {k}");
            // A zone served by another server than the others' (a Knot
            // beside an nsd) is looked at there.
            let zone_server = address(&z.server, &key("server"))?.or(server);
            let serial = match &z.serial {
                None => Scheme::UnixTime,
                Some(s) => {
                    Scheme::parse(s.get_ref()).map_err(|why| err(s.span(), &key("serial"), &why))?
                }
            };
            let signer = match z.signer.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
                None | Some(("ldns", _)) => {
                    if z.keys.is_empty() {
                        return Err(err(
                            z.name.span(),
                            &key("keys"),
                            "ldns signing needs key basenames (or signer = \"none\")",
                        ));
                    }
                    Signer::Ldns(z.keys.iter().map(|k| abs(k)).collect())
                }
                Some(("none", _)) => Signer::None,
                Some(("knot", span)) => Signer::Knot(crate::sign::knot::Settings::validate(
                    &src,
                    z.knot.take(),
                    &zname,
                    span,
                    zone_server,
                )?),
                Some(("opendnssec", span)) => {
                    crate::sign::opendnssec::signer(&src, z.opendnssec.as_ref(), span, &key)?
                }
                Some((other, span)) => {
                    return Err(err(
                        span,
                        &key("signer"),
                        &format!("'{other}': expected ldns, knot, opendnssec or none"),
                    ))
                }
            };
            let signature_validity = z.signature_validity.unwrap_or(DEFAULT_SIGNATURE_VALIDITY);
            let resign_before = z.resign_before.unwrap_or(DEFAULT_RESIGN_BEFORE);
            // Signatures are due once less than resign_before is left: a
            // validity no longer than that is due as soon as it is made, and
            // every build re-signs and bumps the serial.
            if matches!(signer, Signer::Ldns(_)) && resign_before >= signature_validity {
                // At the zone's own resign_before (or signature_validity)
                // line when it has one, else at its name.
                let span = ["resign_before", "signature_validity"]
                    .iter()
                    .find_map(|k| key_span(text, k, z.name.span().start))
                    .unwrap_or(z.name.span());
                return Err(err(
                    span,
                    &key("resign_before"),
                    &format!(
                        "{} is not shorter than signature_validity ({}): every build would sign again with a new serial",
                        duration::render(resign_before),
                        duration::render(signature_validity)
                    ),
                ));
            }
            let mut no_effect = |k: &str, why: &str| {
                let line = key_span(text, k, z.name.span().start).unwrap_or(z.name.span());
                unused.push(src.err(line, &key(k), &format!("has no effect: {why}")));
            };
            if z.sshfp && raw.phonehome.is_none() {
                no_effect("sshfp", "no phonehome directory is configured");
            }
            if z.tlsa_map.is_some() && raw.certs.is_none() {
                no_effect("tlsa_map", "no certs directory is configured");
            }
            if z.sshfp_allow.is_some() && !z.sshfp {
                no_effect("sshfp_allow", "sshfp is not true");
            }
            if !z.keys.is_empty() && signer == Signer::None {
                no_effect("keys", "signer is \"none\"");
            }
            // The engines' own policies have the keys and the timings.
            let engine = match &signer {
                Signer::Knot(_) => Some("signer is \"knot\" (Knot's dnssec-policy decides)"),
                Signer::OpenDnssec(_) => Some("signer is \"opendnssec\" (its KASP policy decides)"),
                Signer::Ldns(_) | Signer::None => None,
            };
            if let Some(why) = engine {
                for k in ["keys", "nsec3", "signature_validity", "resign_before"] {
                    if key_span(text, k, z.name.span().start).is_some() {
                        no_effect(k, why);
                    }
                }
            }
            if z.knot.is_some() {
                unused.push(src.err(
                    z.name.span(),
                    &key("knot"),
                    "has no effect: signer is not \"knot\"",
                ));
            }
            if let (Some(t), false) = (&z.opendnssec, matches!(signer, Signer::OpenDnssec(_))) {
                unused.push(src.err(
                    t.span(),
                    &key("opendnssec"),
                    "has no effect: signer is not \"opendnssec\"",
                ));
            }
            let mut persist = Vec::new();
            for p in z.persist {
                let span = p.span();
                let entry =
                    crate::persist::Persist::validate(p.into_inner(), &zname, raw.certs.is_some())
                        .map_err(|(k, why)| {
                            let at = key_span(text, k, span.start).unwrap_or(span.clone());
                            err(at, &key(&format!("persist.{k}")), &why)
                        })?;
                // Rendered all the same (harmless), but a CA refuses it.
                if let Some(t) = entry.persist_until.filter(|t| *t <= clock::now()) {
                    let at = key_span(text, "persist_until", span.start).unwrap_or(span);
                    unused.push(src.err(
                        at,
                        &key("persist.persist_until"),
                        &format!(
                            "has no effect: {} has passed, CAs refuse the record",
                            clock::rfc3339(t)
                        ),
                    ));
                }
                persist.push(entry);
            }
            zones.push(Zone {
                name: zname,
                soa: abs(&z.soa),
                primary: z.primary.as_deref().map(abs),
                tlsa_map: z.tlsa_map.as_deref().map(abs),
                sshfp: z.sshfp,
                sshfp_allow: z.sshfp_allow,
                sshfp_sha1: z.sshfp_sha1.unwrap_or(true),
                ttl: z.ttl.unwrap_or(DEFAULT_TTL),
                serial,
                signer,
                nsec3: z.nsec3,
                signature_validity,
                resign_before,
                caa: z.caa,
                persist,
                server: zone_server,
            });
        }
        if zones.is_empty() {
            return Err(format!("{}: no [[zone]]", path.display()));
        }
        if raw.max_values_per_name == Some(0) {
            return Err(err(
                key_span(text, "max_values_per_name", 0).unwrap_or(0..0),
                "max_values_per_name",
                "0 would refuse every dns-01 fragment (at least 1)",
            ));
        }
        if raw.serve_wait == Some(Duration::ZERO) {
            return Err(err(
                key_span(text, "serve_wait", 0).unwrap_or(0..0),
                "serve_wait",
                "0s leaves the server no time to load a zone",
            ));
        }
        let xfr = match raw.xfr {
            None => None,
            Some(x) => {
                let (xfr, more) = crate::xfr::Xfr::validate(&src, x, server)?;
                unused.extend(more);
                Some(xfr)
            }
        };
        Ok(Config {
            path: path.to_path_buf(),
            build: abs(&raw.build),
            install,
            install_line,
            dnsextra: raw.dnsextra.as_deref().map(abs),
            certs: raw.certs.as_deref().map(abs),
            phonehome: raw.phonehome.as_deref().map(abs),
            reload: raw
                .reload
                .unwrap_or_else(|| DEFAULT_RELOAD.iter().map(|s| s.to_string()).collect()),
            serve_wait: raw.serve_wait.unwrap_or(DEFAULT_SERVE_WAIT),
            fragment_owner,
            max_values_per_name: raw
                .max_values_per_name
                .unwrap_or(crate::fragments::DEFAULT_MAX_VALUES_PER_NAME),
            lock_wait: raw.lock_wait.unwrap_or(DEFAULT_LOCK_WAIT),
            zones,
            xfr,
            unused,
        })
    }
}

/// Where `key = ...` is first set at or after byte `from` (before the next
/// table header when `from` is inside a table), for messages about a value
/// whose type carries no position (durations).
fn key_span(text: &str, key: &str, from: usize) -> Option<std::ops::Range<usize>> {
    let mut offset = text[..from.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    for line in text[offset..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if from > 0 && trimmed.starts_with('[') && offset > from {
            return None;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(offset..offset + line.len());
            }
        }
        offset += line.len();
    }
    None
}

/// A user name or numeric uid.
fn uid_of(text: &str) -> Result<u32, String> {
    if let Ok(uid) = text.parse::<u32>() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(text) {
        Ok(Some(u)) => Ok(u.uid.as_raw()),
        Ok(None) => Err(format!("no user '{text}'")),
        Err(e) => Err(format!("user '{text}': {e}")),
    }
}
