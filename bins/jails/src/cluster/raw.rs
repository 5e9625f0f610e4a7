//! cluster.toml as serde reads it (unknown keys rejected), and the checks
//! of single values: names, transports, public keys, services.

use std::collections::BTreeMap;
use std::path::PathBuf;

use certdrop_core::error::Error;
use certdrop_core::tomlcfg::Source;
use serde::Deserialize;
use toml::Spanned;

use super::{Service, DEFAULT_KEY};
use crate::site::RawJail;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    pub cluster: Spanned<String>,
    pub signing: Spanned<String>,
    pub zones: Option<Spanned<Vec<String>>>,
    pub data: Spanned<PathBuf>,
    pub config: Spanned<PathBuf>,
    pub jail_root: Option<Spanned<PathBuf>>,
    pub bindir: Option<Spanned<PathBuf>>,
    pub mailto: Option<Spanned<String>>,
    pub repo: Option<String>,
    pub pull_when: Option<Spanned<String>>,
    pub csr_when: Option<Spanned<String>>,
    pub dns_port: Option<u16>,
    pub tsig: Option<RawTsig>,
    pub transport: Option<RawTransport>,
    pub publish: RawPublish,
    #[serde(default, rename = "site")]
    pub sites: Vec<RawClusterSite>,
    #[serde(default, rename = "host")]
    pub hosts: Vec<RawHost>,
    #[serde(default, rename = "service")]
    pub services: Vec<RawService>,
    /// Jail sets by name (`[[jails.service]]`), each a site.toml's
    /// `[[jail]]` list; a host names one.
    #[serde(default)]
    pub jails: BTreeMap<String, Vec<RawJail>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTsig {
    pub name: Spanned<String>,
    pub file: Spanned<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransport {
    #[serde(rename = "pub")]
    pub pub_: Option<Spanned<Vec<String>>>,
    pub outbox: Option<Spanned<Vec<String>>>,
    pub timeout: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPublish {
    pub key: Spanned<PathBuf>,
    pub principal: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClusterSite {
    pub name: Spanned<String>,
    pub hosts: Spanned<Vec<String>>,
    pub secondary: Option<Spanned<bool>>,
    pub outbox_key: Option<Spanned<PathBuf>>,
    pub pull: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    pub name: Spanned<String>,
    pub address: Spanned<Vec<String>>,
    pub jails: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub line: Spanned<String>,
    pub host: Spanned<String>,
    pub names: Spanned<Vec<String>>,
    pub key: Option<Spanned<String>>,
    pub max_key_age: Option<Spanned<String>>,
    pub csr: Option<Spanned<bool>>,
    #[serde(default)]
    pub tlsa: Vec<Spanned<String>>,
}

/// Letters, digits, '-' and '_' (a cluster's name).
pub fn word(v: &Spanned<String>, key: &str, src: &Source) -> Result<(), String> {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(src.err(v.span(), key, "letters, digits, '-' and '_' only"))
}

/// Lower-case letters, digits and '-' (a site or host: it names a
/// secondary in zone.toml, an inbox directory and a principal).
pub fn dns_name(v: &Spanned<String>, key: &str, src: &Source) -> Result<(), String> {
    let s = v.get_ref();
    let ok = !s.is_empty()
        && s.len() <= 32
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        return Ok(());
    }
    Err(src.err(
        v.span(),
        key,
        &format!("'{s}': lower-case letters, digits and '-' only"),
    ))
}

/// A path or name rendered into nsd.conf and TOML: no quotes, no blanks.
pub fn plain(v: &Spanned<String>, key: &str, src: &Source) -> Result<(), String> {
    let s = v.get_ref();
    if s.is_empty() || s.contains(['\'', '"', '\\', '\n', ' ', '\t', '#']) {
        return Err(src.err(
            v.span(),
            key,
            &format!("'{s}': give a value without quotes, blanks or '#'"),
        ));
    }
    Ok(())
}

/// A transport command: a program and its arguments, one of them holding
/// `{staging}` (where it must put what it fetched).
pub fn transport(src: &Source, t: &Spanned<Vec<String>>, key: &str) -> Result<(), String> {
    if t.get_ref().is_empty() {
        return Err(src.err(t.span(), key, "a command and its arguments"));
    }
    if !t.get_ref().iter().any(|a| a.contains("{staging}")) {
        return Err(src.err(
            t.span(),
            key,
            "no argument holds {staging}: the transport would fetch into nowhere",
        ));
    }
    Ok(())
}

/// The `ssh-ed25519 BASE64` of an OpenSSH public key file, relative to the
/// cluster file: 66 when it cannot be read, 78 when it is not one.
pub fn public_key(src: &Source, p: &Spanned<PathBuf>, key: &str) -> Result<String, Error> {
    let path = src.abs(p.get_ref());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::noinput(src.err(
            p.span(),
            key,
            &format!("{}: cannot read: {e}", path.display()),
        ))
    })?;
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some("ssh-ed25519"), Some(b64))
            if b64.len() == 68
                && b64
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=')) =>
        {
            Ok(format!("ssh-ed25519 {b64}"))
        }
        _ => Err(Error::config(src.err(
            p.span(),
            key,
            &format!(
                "{}: not an OpenSSH ed25519 public key (ssh-ed25519 AAAA...)",
                path.display()
            ),
        ))),
    }
}

/// The services, their hosts known; a line on another host than the
/// issuer's is a csr line unless it says `csr = false` (refused by the
/// rules: its key would travel).
pub fn services(
    src: &Source,
    raw: Vec<RawService>,
    hosts: &[String],
    site_of: &BTreeMap<String, String>,
    issuer: &str,
) -> Result<Vec<Service>, Error> {
    let err =
        |span: std::ops::Range<usize>, key: &str, why: &str| Error::config(src.err(span, key, why));
    let mut out: Vec<Service> = Vec::new();
    for v in raw {
        let line = v.line.get_ref().clone();
        let key = |k: &str| format!("service '{line}': {k}");
        word(&v.line, "service.line", src).map_err(Error::config)?;
        if out.iter().any(|o| o.line == line) {
            return Err(err(
                v.line.span(),
                "service.line",
                &format!("'{line}' defined twice"),
            ));
        }
        let host = v.host.get_ref().clone();
        let Some(site) = site_of.get(&host).filter(|_| hosts.contains(&host)) else {
            return Err(err(
                v.host.span(),
                &key("host"),
                &format!("no [[host]] '{host}'"),
            ));
        };
        if v.names.get_ref().is_empty() {
            return Err(err(v.names.span(), &key("names"), "at least one name"));
        }
        for n in v.names.get_ref() {
            plain(&Spanned::new(v.names.span(), n.clone()), &key("names"), src).map_err(|_| {
                err(
                    v.names.span(),
                    &key("names"),
                    &format!("'{n}': not a DNS name"),
                )
            })?;
        }
        let kind = v
            .key
            .as_ref()
            .map_or(DEFAULT_KEY.to_string(), |k| k.get_ref().clone());
        if !matches!(kind.as_str(), "ecdsa-p256" | "ecdsa-p384") {
            let span = v.key.as_ref().map_or(v.line.span(), |k| k.span());
            return Err(err(
                span,
                &key("key"),
                &format!("'{kind}': ecdsa-p256 or ecdsa-p384"),
            ));
        }
        if let Some(age) = &v.max_key_age {
            certdrop_core::duration::parse(age.get_ref())
                .map_err(|why| err(age.span(), &key("max_key_age"), &why))?;
        }
        let mut tlsa = Vec::new();
        for t in &v.tlsa {
            tlsa.push(tlsa_owner(t.get_ref()).map_err(|why| err(t.span(), &key("tlsa"), &why))?);
        }
        let at_line = src.line(v.line.span().start);
        out.push(Service {
            at_csr: v.csr.as_ref().map_or(at_line, |c| src.line(c.span().start)),
            csr: v.csr.map_or(host != issuer, |c| c.into_inner()),
            at_line,
            line,
            site: site.clone(),
            host,
            names: v.names.into_inner(),
            key: kind,
            max_key_age: v.max_key_age.map(|a| a.into_inner()),
            tlsa,
        });
    }
    Ok(out)
}

/// A TLSA owner (`_443._tcp.www.example.org`, RFC 6698 section 3): port
/// and protocol labels, then a host name; lowercase, no trailing dot.
fn tlsa_owner(owner: &str) -> Result<String, String> {
    let o = owner.trim_end_matches('.').to_ascii_lowercase();
    let mut labels = o.splitn(3, '.');
    let port = labels.next().unwrap_or_default();
    let proto = labels.next().unwrap_or_default();
    let host = labels.next().unwrap_or_default();
    let port_ok = port
        .strip_prefix('_')
        .is_some_and(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if !port_ok || !matches!(proto, "_tcp" | "_udp" | "_sctp") {
        return Err(format!(
            "'{owner}': expected _<port>._<tcp|udp|sctp>.<host>, e.g. _443._tcp.www.example.org"
        ));
    }
    certdrop_core::name::domain(host, false).map_err(|why| format!("'{owner}': {why}"))?;
    Ok(o)
}
