//! check.toml: raw structures as serde reads them, kept apart from the
//! validated [`Config`]. Unknown keys are rejected; errors name file, line
//! and key. Relative paths are relative to the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::Error;
use certdrop_core::{duration, name};
use serde::Deserialize;
use toml::Spanned;

use certdrop_probe::Protocol;

/// Days left below which a line is WARNING (a renewal is overdue: the
/// issuer renews at a third of the lifetime, 30 days for 90-day certificates).
pub const DEFAULT_WARNING_DAYS: u32 = 21;
/// Days left below which a line is CRITICAL.
pub const DEFAULT_CRITICAL_DAYS: u32 = 7;
/// Time limit of one probe (connect, STARTTLS, handshake) and of each DNS query.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    certs: PathBuf,
    #[serde(rename = "pub")]
    pub_dir: Option<PathBuf>,
    issuer_state: Option<PathBuf>,
    warning: Option<Spanned<i64>>,
    critical: Option<Spanned<i64>>,
    textfile: Option<PathBuf>,
    dns_server: Option<Spanned<String>>,
    resolver: Option<Spanned<String>>,
    #[serde(default, with = "duration::serde_text_opt")]
    timeout: Option<Duration>,
    #[serde(default, rename = "line")]
    lines: Vec<RawLine>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLine {
    name: Spanned<String>,
    #[serde(default)]
    endpoint: Vec<RawEndpoint>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    connect: Spanned<String>,
    sni: Spanned<String>,
    protocol: Option<Spanned<String>>,
    tlsa: Option<Spanned<TlsaSetting>>,
}

/// `tlsa = false` or `tlsa = "_25._tcp.mx.example.org"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum TlsaSetting {
    On(bool),
    Owner(String),
}

/// Where TLSA records are asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dns {
    /// Nowhere: no TLSA check.
    None,
    /// An authoritative server, asked directly (RD=0).
    Authoritative(SocketAddr),
    /// A validating resolver (RD=1); its answers must carry the AD bit.
    Validating(SocketAddr),
}

/// One endpoint that serves a line's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where to connect.
    pub connect: SocketAddr,
    /// The server name sent (SNI), lowercase.
    pub sni: String,
    /// How TLS is started.
    pub protocol: Protocol,
    /// The TLSA owner to check (`_PORT._tcp.SNI` by default), none if off.
    pub tlsa: Option<String>,
}

impl Endpoint {
    /// `sni@connect`, the endpoint's label in messages and metrics.
    pub fn label(&self) -> String {
        format!("{}@{}", self.sni, self.connect)
    }
}

/// One certificate line to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The line's name: certs/<name>, pub/<name>, state/<name>.json.
    pub name: String,
    /// Endpoints that serve it.
    pub endpoints: Vec<Endpoint>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The certificate store's public tree.
    pub certs: PathBuf,
    /// The publication tree, if looked at.
    pub pub_dir: Option<PathBuf>,
    /// The issuer's state directory, if looked at.
    pub issuer_state: Option<PathBuf>,
    /// WARNING below this many days left.
    pub warning_days: u32,
    /// CRITICAL below this many days left.
    pub critical_days: u32,
    /// The Prometheus textfile to write, if any.
    pub textfile: Option<PathBuf>,
    /// Where TLSA records are asked.
    pub dns: Dns,
    /// Time limit of each probe and DNS query.
    pub timeout: Duration,
    /// Lines with their endpoints; empty: every line in certs/, no endpoint.
    pub lines: Vec<Line>,
}

impl Config {
    /// Read and validate; every failure is a configuration error (78).
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = certdrop_core::tomlcfg::read(path)?;
        Config::parse(path, &text).map_err(Error::config)
    }

    /// Validate text; `path` for messages and relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Config, String> {
        let src = certdrop_core::tomlcfg::Source { path, text };
        let raw: RawConfig = src.parse()?;
        let err = |span: std::ops::Range<usize>, key: &str, why: &str| src.err(span, key, why);
        let days = |v: &Option<Spanned<i64>>, key: &str, default: u32| match v {
            None => Ok(default),
            Some(d) => u32::try_from(*d.get_ref())
                .ok()
                .filter(|n| *n <= 3650)
                .ok_or_else(|| err(d.span(), key, "days: a whole number from 0 to 3650")),
        };
        let warning_days = days(&raw.warning, "warning", DEFAULT_WARNING_DAYS)?;
        let critical_days = days(&raw.critical, "critical", DEFAULT_CRITICAL_DAYS)?;
        if critical_days > warning_days {
            let span = raw.critical.as_ref().map_or(0..0, |c| c.span());
            return Err(err(
                span,
                "critical",
                &format!("{critical_days} days: more than warning ({warning_days})"),
            ));
        }
        let addr = |s: &Spanned<String>, key: &str| {
            crate::cli::server_addr(s.get_ref()).map_err(|why| err(s.span(), key, &why))
        };
        let dns = match (&raw.dns_server, &raw.resolver) {
            (Some(_), Some(r)) => {
                return Err(err(
                    r.span(),
                    "resolver",
                    "dns_server and resolver exclude each other",
                ))
            }
            (Some(s), None) => Dns::Authoritative(addr(s, "dns_server")?),
            (None, Some(r)) => Dns::Validating(addr(r, "resolver")?),
            (None, None) => Dns::None,
        };
        let mut lines: Vec<Line> = Vec::new();
        for l in raw.lines {
            let lname = l.name.get_ref().clone();
            name::line_name(&lname).map_err(|why| err(l.name.span(), "line.name", &why))?;
            if lines.iter().any(|o| o.name == lname) {
                return Err(err(
                    l.name.span(),
                    "line.name",
                    &format!("'{lname}' defined twice"),
                ));
            }
            let key = |k: &str| format!("line '{lname}': endpoint.{k}");
            let mut endpoints = Vec::new();
            for e in l.endpoint {
                let connect: SocketAddr = e.connect.get_ref().parse().map_err(|_| {
                    err(
                        e.connect.span(),
                        &key("connect"),
                        &format!("'{}': expected ADDRESS:PORT", e.connect.get_ref()),
                    )
                })?;
                let sni = name::domain(e.sni.get_ref(), false)
                    .map_err(|why| err(e.sni.span(), &key("sni"), &why))?;
                let protocol = match &e.protocol {
                    None => Protocol::for_port(connect.port()),
                    Some(p) => Protocol::from_name(p.get_ref())
                        .map_err(|why| err(p.span(), &key("protocol"), &why))?,
                };
                let tlsa = match e.tlsa.as_ref().map(|t| (t.span(), t.get_ref())) {
                    Some((_, TlsaSetting::On(false))) => None,
                    None | Some((_, TlsaSetting::On(true))) => {
                        Some(format!("_{}._tcp.{sni}", connect.port()))
                    }
                    // An owner name, underscores and all (not a host name).
                    Some((span, TlsaSetting::Owner(o))) => Some(
                        certdrop_dns::parse_name(o)
                            .map(|n| {
                                certdrop_dns::absolute_lower(&n)
                                    .trim_end_matches('.')
                                    .to_string()
                            })
                            .map_err(|e| err(span, &key("tlsa"), &e.to_string()))?,
                    ),
                };
                endpoints.push(Endpoint {
                    connect,
                    sni,
                    protocol,
                    tlsa,
                });
            }
            lines.push(Line {
                name: lname,
                endpoints,
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            certs: src.abs(&raw.certs),
            pub_dir: raw.pub_dir.as_deref().map(|p| src.abs(p)),
            issuer_state: raw.issuer_state.as_deref().map(|p| src.abs(p)),
            warning_days,
            critical_days,
            textfile: raw.textfile.as_deref().map(|p| src.abs(p)),
            dns,
            timeout: raw.timeout.unwrap_or(DEFAULT_TIMEOUT),
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
certs = "certs"
pub = "/srv/pub"
issuer_state = "/var/db/certdrop/state"
dns_server = "127.0.0.1:5353"

[[line]]
name = "www"
endpoint = [
  { connect = "127.0.0.1:443", sni = "WWW.example.org" },
  { connect = "[::1]:25", sni = "mx.example.org", tlsa = false },
  { connect = "127.0.0.1:2525", sni = "mx.example.org", protocol = "smtp", tlsa = "_25._tcp.mx.example.org" },
]
"#;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/etc/certdrop/check.toml"), text)
    }

    #[test]
    fn reads_defaults_endpoints_and_protocols() {
        let c = parse(GOOD).expect("parse");
        assert_eq!(c.certs, Path::new("/etc/certdrop/certs"));
        assert_eq!(c.pub_dir.as_deref(), Some(Path::new("/srv/pub")));
        assert_eq!((c.warning_days, c.critical_days), (21, 7));
        assert_eq!(
            c.dns,
            Dns::Authoritative("127.0.0.1:5353".parse().expect("addr"))
        );
        let e = &c.lines[0].endpoints;
        assert_eq!(e[0].sni, "www.example.org");
        assert_eq!(e[0].protocol, Protocol::Tls);
        assert_eq!(e[0].tlsa.as_deref(), Some("_443._tcp.www.example.org"));
        assert_eq!(e[1].protocol, Protocol::Smtp);
        assert_eq!(e[1].tlsa, None);
        assert_eq!(e[2].protocol, Protocol::Smtp);
        assert_eq!(e[2].tlsa.as_deref(), Some("_25._tcp.mx.example.org"));
        assert_eq!(e[0].label(), "www.example.org@127.0.0.1:443");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse(&format!("critical = 30\n{GOOD}")).expect_err("critical");
        assert_eq!(
            e,
            "/etc/certdrop/check.toml:1: critical: 30 days: more than warning (21)"
        );
        let e = parse(&GOOD.replace("\"smtp\"", "\"gopher\"")).expect_err("protocol");
        assert!(
            e.starts_with("/etc/certdrop/check.toml:12: line 'www': endpoint.protocol:"),
            "{e}"
        );
        let e = parse(&GOOD.replace("127.0.0.1:443", "localhost:443")).expect_err("connect");
        assert!(
            e.contains(":10: line 'www': endpoint.connect: 'localhost:443'"),
            "{e}"
        );
        let e = parse(&format!("resolver = \"::1\"\n{GOOD}")).expect_err("both");
        assert!(e.contains("exclude each other"), "{e}");
        let e = parse(&format!("{GOOD}colour = 1\n")).expect_err("unknown");
        assert!(e.contains("colour"), "{e}");
        let e = parse("certs = \"c\"\nwarning = -1\n").expect_err("negative");
        assert!(e.contains(":2: warning: days"), "{e}");
    }
}
