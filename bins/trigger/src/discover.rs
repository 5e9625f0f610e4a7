//! Finding a service's certificate and key files in its own configuration,
//! so the trigger checks exactly what the service will load: `nginx -T`,
//! `postconf -n`, `doveconf -n`, `apachectl -t -D DUMP_INCLUDES` (or the
//! config itself), haproxy's `crt` and `crt-list`, slapd.conf or cn=config
//! `olcTLS*`, nghttpx's config or command line. The parsers take text and
//! return pairs (pure, tested on samples); [`discover`] gets the text (a
//! command's output or a file) and resolves what only the file system can
//! tell (include lists, `crt` directories, key-only files).

mod lines;
mod scoped;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command;
use crate::definition::{Pair, Source};

/// Extensions haproxy loads beside a `crt` file, never certificates themselves.
const HAPROXY_EXTRA: [&str; 5] = ["key", "ocsp", "issuer", "sctl", "ckch"];

/// A configuration dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    /// `nginx -T`: `ssl_certificate` / `ssl_certificate_key` per block.
    Nginx,
    /// `postconf -n`: `*_tls_{cert,key,eccert,eckey,dcert,dkey}_file`, `*_tls_chain_files`.
    Postfix,
    /// httpd.conf: `SSLCertificateFile` / `SSLCertificateKeyFile` per block.
    Apache,
    /// haproxy.cfg: `crt` on `bind` lines (file, directory or `crt-list`).
    Haproxy,
    /// `doveconf -n`: `ssl_cert = <file`, `ssl_key = <file` (and alt, 2.4 names).
    Dovecot,
    /// slapd.conf `TLSCertificate[Key]File` or cn=config `olcTLSCertificate[Key]File`.
    Slapd,
    /// nghttpx.conf `private-key-file=`/`certificate-file=`/`subcert=`, or its command line.
    Nghttpx,
}

impl Parser {
    /// All of them, for messages and tests.
    pub const ALL: [Parser; 7] = [
        Parser::Nginx,
        Parser::Postfix,
        Parser::Apache,
        Parser::Haproxy,
        Parser::Dovecot,
        Parser::Slapd,
        Parser::Nghttpx,
    ];

    /// The name used in definitions.
    pub fn name(self) -> &'static str {
        match self {
            Parser::Nginx => "nginx",
            Parser::Postfix => "postfix",
            Parser::Apache => "apache",
            Parser::Haproxy => "haproxy",
            Parser::Dovecot => "dovecot",
            Parser::Slapd => "slapd",
            Parser::Nghttpx => "nghttpx",
        }
    }

    /// From a definition's `discover.parser`.
    pub fn from_name(name: &str) -> Result<Parser, String> {
        Parser::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| {
                let all: Vec<&str> = Parser::ALL.iter().map(|p| p.name()).collect();
                format!("'{name}': expected one of {}", all.join(", "))
            })
    }

    /// The pairs named in `text`, in order of appearance, without repeats.
    pub fn parse(self, text: &str) -> Vec<Pair> {
        let pairs = match self {
            Parser::Nginx => scoped::nginx(text),
            Parser::Apache => scoped::apache(text),
            Parser::Dovecot => scoped::dovecot(text),
            Parser::Postfix => lines::postfix(text),
            Parser::Haproxy => lines::haproxy(text),
            Parser::Slapd => lines::slapd(text),
            Parser::Nghttpx => lines::nghttpx(text),
        };
        let mut out: Vec<Pair> = Vec::new();
        for p in pairs {
            if !out.contains(&p) {
                out.push(p);
            }
        }
        out
    }
}

/// The service's pairs: read the text (`source`), parse it, and resolve
/// what needs the file system. `scratch` holds command output.
pub fn discover(
    parser: Parser,
    source: &Source,
    scratch: &Path,
    timeout: Duration,
) -> Result<Vec<Pair>, String> {
    let text = match source {
        Source::Command(cmd) => {
            let ran = command::run(cmd, scratch, timeout).map_err(|e| format!("`{cmd}`: {e}"))?;
            String::from_utf8_lossy(&ran.stdout).into_owned()
        }
        Source::File(f) => read(f)?,
    };
    let text = match parser {
        Parser::Apache => apache_includes(&text)?,
        _ => text,
    };
    let mut pairs = parser.parse(&text);
    match parser {
        Parser::Haproxy => pairs = haproxy_files(pairs)?,
        Parser::Postfix => pairs = postfix_key_files(pairs),
        _ => {}
    }
    if pairs.is_empty() {
        let from = match source {
            Source::Command(cmd) => format!("the output of `{cmd}`"),
            Source::File(f) => f.display().to_string(),
        };
        return Err(format!(
            "no certificate file found in {from} ({} parser)",
            parser.name()
        ));
    }
    Ok(pairs)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
}

/// `apachectl -t -D DUMP_INCLUDES` prints the files of the configuration
/// (`  (*) /path`, `  (12) /path`): their contents, in that order, are what
/// to parse. Any other text is the configuration itself.
fn apache_includes(text: &str) -> Result<String, String> {
    if !text.contains("Included configuration files:") {
        return Ok(text.to_string());
    }
    let mut all = String::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix('(') else {
            continue;
        };
        let Some((_, path)) = rest.split_once(')') else {
            continue;
        };
        all.push_str(&read(Path::new(path.trim()))?);
        all.push('\n');
    }
    Ok(all)
}

/// haproxy: a `crt` directory means every certificate file in it; a
/// `crt-list` file lists them; a key is in the same file or in `<crt>.key`.
fn haproxy_files(pairs: Vec<Pair>) -> Result<Vec<Pair>, String> {
    let mut out = Vec::new();
    for p in pairs {
        let mut certs = Vec::new();
        if let Some(list) = p
            .cert
            .to_str()
            .and_then(|s| s.strip_prefix(lines::CRT_LIST))
        {
            certs.extend(lines::crt_list(&read(Path::new(list))?));
        } else if p.cert.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&p.cert)
                .map_err(|e| format!("{}: cannot list: {e}", p.cert.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    let ext = f.extension().map(|e| e.to_string_lossy().into_owned());
                    !name.is_some_and(|n| n.starts_with('.'))
                        && !ext.is_some_and(|e| HAPROXY_EXTRA.contains(&e.as_str()))
                        && f.is_file()
                })
                .collect();
            names.sort();
            certs.extend(names);
        } else {
            certs.push(p.cert);
        }
        for cert in certs {
            let key = PathBuf::from(format!("{}.key", cert.display()));
            let key = key.is_file().then_some(key);
            out.push(Pair { cert, key });
        }
    }
    Ok(out)
}

/// postfix `smtpd_tls_chain_files`: a file holding only a key gives the
/// key of the chain in the file after it.
fn postfix_key_files(pairs: Vec<Pair>) -> Vec<Pair> {
    let key_only = |p: &Pair| {
        p.key.is_none()
            && std::fs::read_to_string(&p.cert)
                .is_ok_and(|t| t.contains("PRIVATE KEY-----") && !t.contains("CERTIFICATE-----"))
    };
    let mut out: Vec<Pair> = Vec::new();
    let mut pending: Option<PathBuf> = None;
    for p in pairs {
        if key_only(&p) {
            pending = Some(p.cert);
            continue;
        }
        match pending.take() {
            Some(key) if p.key.is_none() => out.push(Pair {
                cert: p.cert,
                key: Some(key),
            }),
            _ => out.push(p),
        }
    }
    out
}

#[cfg(test)]
mod tests;
