//! The configuration file (TOML): raw structures as serde reads them, kept
//! apart from the validated [`Config`] the rest of the program uses. Unknown
//! keys are rejected; every error names the file, the line and the key.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::name;

use self::raw::{RawConfig, RawLine};
use crate::keys::KeyType;
use certdrop_core::error::{Error, Result};

mod cas;
mod chain;
mod checks;
mod eab;
mod identifiers;
mod profile;
mod raw;

pub use self::cas::Ca;
pub use self::eab::Eab;

/// Let's Encrypt production directory (alias `letsencrypt`).
pub const LETSENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt staging directory (alias `letsencrypt-staging`).
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";
/// Default share of the lifetime left at which a certificate is renewed.
pub const DEFAULT_RENEW_REMAINING: u8 = 33;
/// Default upper bound of the renewal jitter.
pub const DEFAULT_JITTER: Duration = Duration::from_secs(3600);
/// Default number of lines ordered at the same time.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default first back-off after a failed attempt (doubles, capped).
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(3600);
/// Longest back-off.
pub const MAX_BACKOFF: Duration = Duration::from_secs(86_400);
/// Default backups kept per line.
pub const DEFAULT_KEEP: usize = 5;
/// Default time to wait for TXT records to appear on every server.
pub const DEFAULT_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(300);
/// Default longest pause between two propagation polls.
pub const DEFAULT_PROPAGATION_INTERVAL: Duration = Duration::from_secs(5);
/// Default time the next key's TLSA record must be served before use.
pub const DEFAULT_ROLLOVER_WAIT: Duration = Duration::from_secs(2 * 3600);
/// Default time the old key's TLSA record stays after a rollover: a day
/// of cron passes for the publisher and every service to switch.
pub const DEFAULT_RETIRE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// Default time to wait for the state lock held by another run.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
/// Default time the CA gets to validate all challenges of an order.
pub const DEFAULT_VALIDATION_TIMEOUT: Duration = Duration::from_secs(180);
/// Default budget of a whole run: room for a line's DNS propagation wait
/// and validation (5 + 3 minutes by default) several times over, short
/// enough that a stuck CA never holds the lock past the next hourly run.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How a line proves control of its names (RFC 8555 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Challenge {
    /// TXT record through `dnsextra/` (RFC 8555 §8.4).
    Dns01,
    /// Token file through `webroot/` (RFC 8555 §8.3).
    Http01,
}

/// Where a line's private key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPolicy {
    /// Keep the key across renewals (TLSA `3 1 1` stays valid).
    Reuse,
    /// A new key for every certificate.
    Fresh,
    /// The user's own CSR; certdrop never sees the private key.
    Csr(PathBuf),
}

/// One certificate line, validated.
#[derive(Debug, Clone)]
pub struct Line {
    /// Directory name under `certs/` and `keys/`.
    pub name: String,
    /// Names in the certificate, normalised, in configured order.
    pub domains: Vec<String>,
    /// Challenge type.
    pub challenge: Challenge,
    /// Key algorithm and size.
    pub key_type: KeyType,
    /// Key policy.
    pub key_policy: KeyPolicy,
    /// Key age that starts a staged rollover.
    pub max_key_age: Option<Duration>,
    /// Minimum time the next key is published before it is used.
    pub rollover_wait: Duration,
    /// How long the old key's record stays after a rollover, for the
    /// publisher and the services to catch up.
    pub retire_after: Duration,
    /// Challenge alias zone: every `_acme-challenge.<domain>` of the line is
    /// a CNAME to `_acme-challenge.<alias>` (see [`Line::challenge_target`]).
    pub alias: Option<String>,
    /// Percent of lifetime left at which to renew.
    pub renew_remaining: u8,
    /// TLSA owners the zone publishes for this line (`_443._tcp.www...`):
    /// a staged next key is used only after every authoritative server
    /// has served its record there for 2 × TTL (RFC 7671 §8.1).
    pub tlsa: Vec<String>,
    /// The group (gid) the key is granted to: the service jail that
    /// serves this line reads `keys/<line>/` (0750) and `key.pem` (0640).
    pub key_group: Option<u32>,
    /// The certificate profile asked for in newOrder (the ACME profiles
    /// extension: Let's Encrypt's `classic`, `tlsserver`, `shortlived`),
    /// checked against the directory's `meta.profiles` before ordering.
    pub profile: Option<String>,
    /// The issuer (common name) of the top certificate of the chain to
    /// keep among those the CA offers (RFC 8555 §7.4.2): the line's
    /// `preferred_chain`, else the top-level one.
    pub preferred_chain: Option<String>,
    /// The named CAs to try, in order (empty: the top-level CA).
    pub cas: Vec<String>,
    /// Prefer dns-persist-01 where the CA offers it and the standing
    /// record is served (`persist.rs`); `persist = false` turns it off.
    pub persist: bool,
}

impl Line {
    /// The sorted set of names, for comparing with a certificate.
    pub fn name_set(&self) -> Vec<String> {
        certdrop_core::certinfo::name_set(&self.domains)
    }

    /// The owner name the TXT value for `domain` is written to: the
    /// `_acme-challenge` name itself, or with an alias zone (acme.sh's
    /// challenge alias) `_acme-challenge.<alias>`, which the
    /// `_acme-challenge.<domain>` CNAME must point at.
    pub fn challenge_target(&self, domain: &str) -> String {
        match &self.alias {
            Some(alias) => format!("_acme-challenge.{alias}."),
            None => name::challenge_owner(domain),
        }
    }
}

/// Propagation checks before answering a dns-01 challenge.
#[derive(Debug, Clone)]
pub struct Dns {
    /// Authoritative servers to poll.
    pub servers: Vec<SocketAddr>,
    /// A server to ask for a zone's NS set when `servers` is empty.
    pub discover: Option<SocketAddr>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Longest pause between polls.
    pub interval: Duration,
    /// Poll at all (false: trust the drop directory's reader).
    pub check: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// ACME directory URL.
    pub directory: String,
    /// Contact URLs (`mailto:`).
    pub contact: Vec<String>,
    /// The CA's terms of service are agreed.
    pub agree_terms: bool,
    /// Account credentials file (0600).
    pub account: PathBuf,
    /// External Account Binding for the account's creation (RFC 8555 §7.3.4).
    pub eab: Option<Eab>,
    /// PEM bundle to trust for the ACME endpoint instead of the system's.
    pub ca_bundle: Option<PathBuf>,
    /// The certificate store.
    pub store: certdrop_core::store::Store,
    /// State directory: lock, per-line state.
    pub state: PathBuf,
    /// dns-01 drop directory.
    pub dnsextra: Option<PathBuf>,
    /// http-01 drop directory.
    pub webroot: Option<PathBuf>,
    /// TTL of written fragments.
    pub ttl: u32,
    /// Propagation checks.
    pub dns: Dns,
    /// Jitter bound inside the renewal window.
    pub jitter: Duration,
    /// Lines ordered at the same time.
    pub concurrency: usize,
    /// First back-off after a failure.
    pub backoff: Duration,
    /// How long to wait for another run's lock.
    pub lock_wait: Duration,
    /// How long the CA gets to validate an order.
    pub validation_timeout: Duration,
    /// The budget of a whole run (`budget.rs`).
    pub run_timeout: Duration,
    /// Ask the CA's renewal information (RFC 9773) where it offers it.
    pub ari: bool,
    /// The certificate lines.
    pub lines: Vec<Line>,
    /// The named CAs lines may list (`[[ca]]`, config/cas.rs).
    pub cas: Vec<Ca>,
    /// The named CA this configuration speaks to ([`Config::for_ca`]);
    /// None: the top-level one.
    pub ca_in_use: Option<String>,
}

impl Config {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = certdrop_core::tomlcfg::read(path)?;
        Config::parse(path, &text)
    }

    /// Validate configuration text; `path` is used in messages and to
    /// resolve relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        let loc = Locator(certdrop_core::tomlcfg::Source { path, text });
        let raw: RawConfig = loc.0.parse().map_err(Error::config)?;
        let abs = |p: &Path| loc.0.abs(p);

        let directory = directory_url(&loc, &raw.directory, "directory")?;
        let cas = cas::validate(&loc, raw.cas, &abs)?;
        let mut contact = Vec::new();
        for c in &raw.contact {
            if !c.get_ref().starts_with("mailto:") || c.get_ref().contains([' ', ',']) {
                return Err(loc.err(c.span(), "contact", "expected one mailto: URL per entry"));
            }
            contact.push(c.get_ref().clone());
        }

        let mut dns = Dns {
            servers: Vec::new(),
            discover: None,
            timeout: raw.dns.timeout.unwrap_or(DEFAULT_PROPAGATION_TIMEOUT),
            interval: raw.dns.interval.unwrap_or(DEFAULT_PROPAGATION_INTERVAL),
            check: raw.dns.check,
        };
        for s in &raw.dns.servers {
            dns.servers.push(
                parse_server(s.get_ref()).map_err(|why| loc.err(s.span(), "dns.servers", &why))?,
            );
        }
        if let Some(d) = &raw.dns.discover {
            dns.discover = Some(
                parse_server(d.get_ref()).map_err(|why| loc.err(d.span(), "dns.discover", &why))?,
            );
        }

        let remaining = raw
            .renew
            .remaining
            .as_ref()
            .map(|r| (*r.get_ref(), r.span()));
        let default_remaining = match remaining {
            Some((r, span)) if !(1..=90).contains(&r) => {
                return Err(loc.err(span, "renew.remaining", "a percentage between 1 and 90"))
            }
            Some((r, _)) => r,
            None => DEFAULT_RENEW_REMAINING,
        };
        let concurrency = match &raw.renew.concurrency {
            Some(c) if !(1..=64).contains(c.get_ref()) => {
                return Err(loc.err(c.span(), "renew.concurrency", "between 1 and 64"))
            }
            Some(c) => *c.get_ref(),
            None => DEFAULT_CONCURRENCY,
        };
        let ttl = match &raw.drop.ttl {
            Some(t) if *t.get_ref() > certdrop_core::fragment::MAX_TTL => {
                return Err(loc.err(
                    t.span(),
                    "drop.ttl",
                    &format!("at most {}", certdrop_core::fragment::MAX_TTL),
                ))
            }
            Some(t) => *t.get_ref(),
            None => certdrop_core::fragment::DEFAULT_TTL,
        };

        let default_chain =
            chain::preferred(&loc, raw.preferred_chain.as_ref(), "preferred_chain")?;
        let mut lines: Vec<Line> = Vec::new();
        let mut seen = BTreeSet::new();
        for raw_line in raw.lines {
            let mut line = validate_line(&loc, raw_line, default_remaining, &abs, &cas)?;
            line.preferred_chain = line.preferred_chain.or_else(|| default_chain.clone());
            if !seen.insert(line.name.clone()) {
                return Err(Error::config(format!(
                    "{}: line '{}' is defined twice",
                    path.display(),
                    line.name
                )));
            }
            lines.push(line);
        }
        let eab = raw.eab.map(|e| e.validate(&loc, &abs)).transpose()?;
        let config = Config {
            path: path.to_path_buf(),
            directory,
            contact,
            agree_terms: raw.agree_terms,
            account: abs(&raw.account),
            eab,
            ca_bundle: raw.ca_bundle.as_deref().map(abs),
            store: certdrop_core::store::Store {
                certs: abs(&raw.store.certs),
                keys: abs(&raw.store.keys),
                archive: abs(&raw.store.archive),
                keep: raw.store.keep.unwrap_or(DEFAULT_KEEP),
            },
            state: abs(&raw.store.state),
            dnsextra: raw.drop.dnsextra.as_deref().map(abs),
            webroot: raw.drop.webroot.as_deref().map(abs),
            ttl,
            dns,
            jitter: raw.renew.jitter.unwrap_or(DEFAULT_JITTER),
            concurrency,
            backoff: raw.renew.backoff.unwrap_or(DEFAULT_BACKOFF),
            lock_wait: raw.renew.lock_wait.unwrap_or(DEFAULT_LOCK_WAIT),
            validation_timeout: raw
                .renew
                .validation_timeout
                .unwrap_or(DEFAULT_VALIDATION_TIMEOUT),
            run_timeout: raw.renew.run_timeout.unwrap_or(DEFAULT_RUN_TIMEOUT),
            ari: raw.renew.ari,
            lines,
            cas,
            ca_in_use: None,
        };
        config.check_drops()?;
        config.check_budget()?;
        config.check_account_path()?;
        config.check_cas()?;
        Ok(config)
    }

    /// The line called `name`.
    pub fn line(&self, name: &str) -> Result<&Line> {
        self.lines.iter().find(|l| l.name == name).ok_or_else(|| {
            Error::new(
                certdrop_core::exit::Failure::Usage,
                format!("{}: no line named '{name}'", self.path.display()),
            )
        })
    }
}

fn validate_line(
    loc: &Locator<'_>,
    raw: RawLine,
    default_remaining: u8,
    abs: &dyn Fn(&Path) -> PathBuf,
    named_cas: &[Ca],
) -> Result<Line> {
    let line_name = raw.name.get_ref().clone();
    name::line_name(&line_name).map_err(|why| loc.err(raw.name.span(), "line.name", &why))?;
    let key_of = |k: &str| format!("line '{line_name}': {k}");

    if raw.domains.get_ref().is_empty() {
        return Err(loc.err(raw.domains.span(), &key_of("domains"), "at least one name"));
    }
    let domains = identifiers::domains(loc, raw.domains.get_ref(), &key_of("domains"))?;
    let challenge = match raw
        .challenge
        .as_ref()
        .map(|c| (c.get_ref().as_str(), c.span()))
    {
        // dns-persist-01 is preferred by default (`persist`), with
        // dns-01 when its record is not served: the same as dns-01.
        None | Some(("dns-01" | "dns-persist-01", _)) => Challenge::Dns01,
        Some(("http-01", _)) => Challenge::Http01,
        Some((other, span)) => {
            return Err(loc.err(
                span,
                &key_of("challenge"),
                &format!("'{other}': expected dns-01, http-01 or dns-persist-01"),
            ))
        }
    };
    identifiers::check_ip_challenge(
        loc,
        &domains,
        challenge,
        raw.domains.span(),
        &key_of("domains"),
    )?;
    if challenge == Challenge::Http01 {
        if let Some(w) = domains.iter().find(|d| d.starts_with("*.")) {
            return Err(loc.err(
                raw.domains.span(),
                &key_of("domains"),
                &format!("'{w}': a wildcard needs dns-01"),
            ));
        }
    }
    let key_type = match &raw.key {
        None => KeyType::EcdsaP256,
        Some(k) => {
            KeyType::parse(k.get_ref()).map_err(|why| loc.err(k.span(), &key_of("key"), &why))?
        }
    };
    let key_policy = match (
        &raw.csr,
        raw.key_policy
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span())),
    ) {
        (Some(csr), None) => KeyPolicy::Csr(abs(csr)),
        (Some(_), Some((_, span))) => {
            return Err(loc.err(
                span,
                &key_of("key_policy"),
                "a CSR line has no key policy (the key is yours)",
            ))
        }
        (None, None | Some(("reuse", _))) => KeyPolicy::Reuse,
        (None, Some(("fresh", _))) => KeyPolicy::Fresh,
        (None, Some((other, span))) => {
            return Err(loc.err(
                span,
                &key_of("key_policy"),
                &format!("'{other}': expected reuse or fresh"),
            ))
        }
    };
    let alias = match &raw.alias {
        None => None,
        Some(a) => {
            if challenge != Challenge::Dns01 {
                return Err(loc.err(a.span(), &key_of("alias"), "a challenge alias needs dns-01"));
            }
            Some(
                name::domain(a.get_ref(), false)
                    .map_err(|why| loc.err(a.span(), &key_of("alias"), &why))?,
            )
        }
    };
    let renew_remaining = match &raw.renew_remaining {
        Some(r) if !(1..=90).contains(r.get_ref()) => {
            return Err(loc.err(
                r.span(),
                &key_of("renew_remaining"),
                "a percentage between 1 and 90",
            ))
        }
        Some(r) => *r.get_ref(),
        None => default_remaining,
    };
    let mut tlsa = Vec::new();
    for t in &raw.tlsa {
        let text = t.get_ref();
        let ok = text.split_once("._").and_then(|(port, rest)| {
            let port: u16 = port.strip_prefix('_')?.parse().ok().filter(|p| *p > 0)?;
            let (proto, host) = rest.split_once('.')?;
            let host = name::domain(host, false).ok()?;
            ["tcp", "udp", "sctp"]
                .contains(&proto)
                .then(|| format!("_{port}._{proto}.{host}."))
        });
        match ok {
            Some(owner) => tlsa.push(owner),
            None => {
                return Err(loc.err(
                    t.span(),
                    &key_of("tlsa"),
                    &format!("'{text}': expected _PORT._tcp.NAME"),
                ))
            }
        }
    }
    let key_group = match &raw.key_group {
        None => None,
        Some(g) => {
            Some(gid_of(g.get_ref()).map_err(|why| loc.err(g.span(), &key_of("key_group"), &why))?)
        }
    };
    if key_group.is_some() && line_uses_csr(&raw) {
        return Err(loc.err(
            raw.name.span(),
            &key_of("key_group"),
            "a CSR line's key is not held by certdrop",
        ));
    }
    let profile = profile::line_profile(loc, &raw, &line_name)?;
    let cas = cas::line_cas(loc, raw.ca.as_ref(), named_cas, &key_of("ca"))?;
    let preferred_chain = chain::preferred(
        loc,
        raw.preferred_chain.as_ref(),
        &key_of("preferred_chain"),
    )?;
    let persist = raw.persist.as_ref().map_or(true, |p| *p.get_ref());
    if let Some(p) = raw.persist.as_ref().filter(|_| !persist).filter(|_| {
        raw.challenge
            .as_ref()
            .is_some_and(|c| c.get_ref() == "dns-persist-01")
    }) {
        return Err(loc.err(
            p.span(),
            &key_of("persist"),
            "persist = false contradicts challenge = \"dns-persist-01\"",
        ));
    }
    Ok(Line {
        persist,
        cas,
        preferred_chain,
        key_group,
        profile,
        name: line_name,
        domains,
        challenge,
        key_type,
        key_policy,
        max_key_age: raw.max_key_age,
        rollover_wait: raw.rollover_wait.unwrap_or(DEFAULT_ROLLOVER_WAIT),
        retire_after: raw.retire_after.unwrap_or(DEFAULT_RETIRE_AFTER),
        alias,
        renew_remaining,
        tlsa,
    })
}

/// A group name or number; 0 (wheel/root) is refused.
fn gid_of(text: &str) -> std::result::Result<u32, String> {
    let gid = match text.parse::<u32>() {
        Ok(g) => g,
        Err(_) => match nix::unistd::Group::from_name(text) {
            Ok(Some(g)) => g.gid.as_raw(),
            Ok(None) => return Err(format!("no group '{text}'")),
            Err(e) => return Err(format!("group '{text}': {e}")),
        },
    };
    if gid == 0 {
        return Err("group 0: a key is granted to one service's group, never to root's".into());
    }
    Ok(gid)
}

fn line_uses_csr(raw: &RawLine) -> bool {
    raw.csr.is_some()
}

fn parse_server(text: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("'{text}': expected an address or address:port (no host names: we do not trust a resolver)"))
}

/// `file:line: key: why` as a configuration error (core::tomlcfg's
/// messages in this crate's error type).
struct Locator<'a>(certdrop_core::tomlcfg::Source<'a>);

impl Locator<'_> {
    fn err(&self, span: std::ops::Range<usize>, key: &str, why: &str) -> Error {
        Error::config(self.0.err(span, key, why))
    }
}

/// An ACME directory URL: https://, or an alias for Let's Encrypt.
fn directory_url(loc: &Locator<'_>, raw: &toml::Spanned<String>, key: &str) -> Result<String> {
    match raw.get_ref().as_str() {
        "letsencrypt" => Ok(LETSENCRYPT.to_owned()),
        "letsencrypt-staging" => Ok(LETSENCRYPT_STAGING.to_owned()),
        url if url.starts_with("https://") => Ok(url.to_owned()),
        other => Err(loc.err(
            raw.span(),
            key,
            &format!(
                "'{other}' is not an https:// URL nor one of letsencrypt, letsencrypt-staging"
            ),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests;
