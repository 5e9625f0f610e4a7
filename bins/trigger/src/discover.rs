//! Finding a service's certificate and key files in its own configuration,
//! so the trigger checks exactly what the service will load: `nginx -T`,
//! `postconf -n`, `doveconf -n`, `apachectl -t -D DUMP_INCLUDES` (or the
//! config itself), haproxy's `crt` and `crt-list`, slapd.conf or cn=config
//! `olcTLS*`, nghttpx's config or command line, Asterisk's pjsip.conf or
//! sip.conf. The parsers take text and
//! return pairs (pure, tested on samples); [`discover`] gets the text (a
//! command's output or a file) and resolves what only the file system can
//! tell (include lists, `crt` directories, key-only files).
//!
//! The dialect's name ([`Parser`]) belongs to the definition
//! (src/definition.rs), which this module reads and never the other way
//! round; its parsers are here. Every failure is the service's
//! configuration failing us (78): its command refuses, a file it names
//! cannot be read (or is no regular file), or it names no certificate.

mod asterisk;
mod lines;
mod scoped;

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

use crate::command;
use crate::definition::{Pair, Parser, Source};
use crate::input;

/// Extensions haproxy loads beside a `crt` file, never certificates themselves.
const HAPROXY_EXTRA: [&str; 5] = ["key", "ocsp", "issuer", "sctl", "ckch"];

/// The parsers of each dialect (the enum is the definition's).
impl Parser {
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
            Parser::Asterisk => asterisk::asterisk(text),
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
) -> Result<Vec<Pair>> {
    let text = match source {
        Source::Command(cmd) => {
            let ran = command::run(cmd, scratch, timeout, Failure::Config)
                .map_err(|e| e.context(format!("`{cmd}`")))?;
            String::from_utf8_lossy(&ran.stdout).into_owned()
        }
        Source::File(f) => read(f)?,
    };
    let text = match parser {
        Parser::Apache => apache_includes(&text)?,
        Parser::Dovecot => dovecot_keys_shown(text)?,
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
        return Err(Error::config(format!(
            "no certificate file found in {from} ({} parser)",
            parser.name()
        )));
    }
    Ok(pairs)
}

/// A file the configuration names, read as the service would (src/input.rs).
fn read(path: &Path) -> Result<String> {
    input::local_text(path).map_err(|e| e.class(Failure::Config))
}

/// `apachectl -t -D DUMP_INCLUDES` prints the files of the configuration
/// (`  (*) /path`, `  (12) /path`): their contents, in that order, are what
/// to parse. Any other text is the configuration itself.
fn apache_includes(text: &str) -> Result<String> {
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

/// `doveconf -n` without -P prints `ssl_key = # hidden, use -P to show it`
/// (dovecot 2.3): the key's file is not known, so say how to get it
/// rather than look for the key in the certificate file.
fn dovecot_keys_shown(text: String) -> Result<String> {
    let hidden = meaningful(&text).find(|l| l.contains("key") && l.contains("= # hidden"));
    if let Some(line) = hidden {
        return Err(Error::config(format!(
            "doveconf hides the key (`{line}`): discover with `doveconf -n -P`"
        )));
    }
    Ok(text)
}

/// haproxy: a `crt` directory means every certificate file in it; a
/// `crt-list` file lists them; a key is in the same file or in `<crt>.key`.
fn haproxy_files(pairs: Vec<Pair>) -> Result<Vec<Pair>> {
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
                .map_err(|e| Error::unreadable(&p.cert, "cannot list", &e).class(Failure::Config))?
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
            && input::local_text(&p.cert)
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

/// The lines of a configuration that say something: trimmed, with blank
/// lines and `#` comments left out (every dialect read line by line).
fn meaningful(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

#[cfg(test)]
mod tests;
