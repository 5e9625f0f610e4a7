//! zone.toml's `[xfr]` table: the nsd secondaries that get the zones from
//! the primary by NOTIFY and AXFR/IXFR (RFC 1996, 5936, 1995) under a
//! TSIG key (RFC 8945). nsd does the transfers itself; certdrop-zone only
//! knows the secondaries to ask them what they serve (`secondaries`) and
//! checks the key file both nsd.conf files include.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use certdrop_core::tomlcfg::Source;
use serde::Deserialize;
use toml::Spanned;

use crate::tsig;

/// DNS port, for an address given without one.
const DNS_PORT: u16 = 53;
/// Longest secondary name (one DNS label: the names often become host names).
const MAX_NAME: usize = 63;

/// `[xfr]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawXfr {
    tsig_key: Option<Spanned<PathBuf>>,
    #[serde(default)]
    secondary: Vec<RawSecondary>,
}

/// `[[xfr.secondary]]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecondary {
    name: Spanned<String>,
    address: Spanned<String>,
}

/// The validated `[xfr]`.
#[derive(Debug, Clone)]
pub struct Xfr {
    /// The key file both ends' nsd.conf include.
    pub tsig_key: Option<PathBuf>,
    /// Its name and algorithm (the secret is nsd's business).
    pub key: Option<tsig::Key>,
    /// The secondaries, in the file's order.
    pub secondaries: Vec<Secondary>,
}

/// One nsd secondary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Secondary {
    /// Its name in messages (a site name).
    pub name: String,
    /// Where it answers queries.
    pub addr: SocketAddr,
}

/// An address with or without a port: `192.0.2.11`, `192.0.2.11:5353`,
/// `2001:db8::11`, `[2001:db8::11]:53`.
pub fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    match text.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, DNS_PORT)),
        Err(_) => Err(format!(
            "'{text}': expected an IP address, optionally with a port (192.0.2.11:53, [2001:db8::11]:53)"
        )),
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "'{name}': a secondary's name is [a-z0-9-], 1 to {MAX_NAME} characters"
        )),
    }
}

impl Xfr {
    /// Validate `[xfr]` of the file `src`; `primary` is the configured
    /// `server`, which no secondary may repeat. The key file is read here
    /// (its mode, its clause): a broken key is the configuration's fault,
    /// found by `-n` before nsd finds it. Errors are `file:line: key: why`.
    pub fn validate(
        src: &Source,
        raw: RawXfr,
        primary: Option<SocketAddr>,
    ) -> Result<(Xfr, Vec<String>), String> {
        let mut unused = Vec::new();
        let (tsig_key, key) = match &raw.tsig_key {
            None => (None, None),
            Some(p) => {
                let path = src.abs(p.get_ref());
                let key =
                    tsig::load(&path).map_err(|why| src.err(p.span(), "xfr.tsig_key", &why))?;
                if raw.secondary.is_empty() {
                    unused.push(src.err(
                        p.span(),
                        "xfr.tsig_key",
                        "has no effect: no [[xfr.secondary]]",
                    ));
                }
                (Some(path), Some(key))
            }
        };
        let mut secondaries: Vec<Secondary> = Vec::new();
        for s in raw.secondary {
            let name = s.name.get_ref().clone();
            check_name(&name).map_err(|why| src.err(s.name.span(), "xfr.secondary.name", &why))?;
            let key = format!("xfr.secondary '{name}': address");
            let addr = parse_address(s.address.get_ref())
                .map_err(|why| src.err(s.address.span(), &key, &why))?;
            if secondaries.iter().any(|o| o.name == name) {
                return Err(src.err(
                    s.name.span(),
                    "xfr.secondary.name",
                    &format!("'{name}' defined twice"),
                ));
            }
            if let Some(o) = secondaries.iter().find(|o| o.addr == addr) {
                return Err(src.err(
                    s.address.span(),
                    &key,
                    &format!("{addr} is also secondary '{}'", o.name),
                ));
            }
            if primary == Some(addr) {
                return Err(src.err(
                    s.address.span(),
                    &key,
                    &format!("{addr} is the primary (server), not a secondary"),
                ));
            }
            if tsig_key.is_none() {
                // Transfers without TSIG would hand the zone to anyone who
                // can forge the secondary's address.
                return Err(src.err(
                    s.name.span(),
                    "xfr.tsig_key",
                    &format!(
                        "secondary '{name}' needs a TSIG key (make one with certdrop-zone tsig-key)"
                    ),
                ));
            }
            secondaries.push(Secondary { name, addr });
        }
        let xfr = Xfr {
            tsig_key,
            key,
            secondaries,
        };
        Ok((xfr, unused))
    }
}

impl Xfr {
    /// For `-n`'s summary line: `, 2 secondaries, TSIG key "xfr"
    /// (hmac-sha256) from FILE`.
    pub fn summary(&self) -> String {
        let mut s = format!(", {} secondary(ies)", self.secondaries.len());
        if let (Some(k), Some(p)) = (&self.key, &self.tsig_key) {
            s.push_str(&format!(
                ", TSIG key \"{}\" ({}) from {}",
                k.name,
                k.algorithm,
                p.display()
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_and_without_ports() {
        let cases = [
            ("192.0.2.11", "192.0.2.11:53"),
            ("192.0.2.11:5353", "192.0.2.11:5353"),
            ("2001:db8::11", "[2001:db8::11]:53"),
            ("[2001:db8::11]:54", "[2001:db8::11]:54"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_address(text).map(|a| a.to_string()), Ok(want.into()));
        }
        for bad in ["site1", "192.0.2.11:", "192.0.2.300", "[2001:db8::11]"] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_labels() {
        assert!(check_name("site-1").is_ok());
        for bad in ["", "Site1", "site_1", "a.b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
