//! Deploy-trigger definitions (DESIGN.md, "Deploy triggers"): what a
//! service reads (listed files, or found in its own configuration), its pid
//! file, its pre-flight check, its action, the rule that decides when to
//! act, and where to check it afterwards. One TOML file per service in
//! `deploy-triggers/`; a `[[service]]` of trigger.toml names one and may
//! override any of its keys, or give them all itself (a generic service,
//! no code needed).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use certdrop_core::error::{Error, Result};
use serde::Deserialize;

use certdrop_probe::Protocol;

/// The placeholder for the pid file in commands (src/ctx.rs fills it in).
pub const PIDFILE: &str = "{pidfile}";
/// The keys a definition (and a `[[service]]` overriding it) may set.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDef {
    /// `newer-than-pidfile` or `content-changed`.
    pub rule: Option<String>,
    /// The service's pid file.
    pub pidfile: Option<PathBuf>,
    /// Shell command that must succeed before acting.
    pub preflight: Option<String>,
    /// Shell command that makes the service re-read its files gracefully
    /// (tried first when `restart` is given too).
    pub reload: Option<String>,
    /// Shell command that restarts the service (a new pid file): the
    /// action, or with `reload` the fallback when a reload is not taken.
    pub restart: Option<String>,
    /// Certificate (and key) files, listed.
    pub files: Option<Vec<RawPair>>,
    /// Or: find them in the service's configuration.
    pub discover: Option<RawDiscover>,
    /// Where to check what the service serves afterwards.
    pub postflight: Option<Vec<RawEndpoint>>,
}

/// One certificate file and its key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPair {
    cert: PathBuf,
    key: Option<PathBuf>,
}

/// Discovery: a parser and the text it reads (a command's output or a file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDiscover {
    parser: String,
    command: Option<String>,
    file: Option<PathBuf>,
}

/// A post-flight endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    connect: String,
    sni: String,
    protocol: Option<String>,
}

impl RawDef {
    /// The same keys with relative paths made absolute against `base` (a
    /// definition's paths are relative to its file, a site's to trigger.toml).
    pub fn with_base(mut self, base: &Path) -> RawDef {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        self.pidfile = self.pidfile.map(abs);
        if let Some(files) = &mut self.files {
            for f in files.iter_mut() {
                f.cert = abs(std::mem::take(&mut f.cert));
                f.key = f.key.take().map(abs);
            }
        }
        if let Some(d) = &mut self.discover {
            d.file = d.file.take().map(abs);
        }
        self
    }

    /// Keys set in `over` replace those of `self`. `reload` and `restart`
    /// are one choice: a site that sets either sets the pair (the one it
    /// leaves out is dropped, so a shipped restart never follows a site's
    /// own reload unasked); `files` and `discover` likewise.
    pub fn overridden_by(mut self, over: RawDef) -> RawDef {
        if over.reload.is_some() || over.restart.is_some() {
            self.reload = over.reload;
            self.restart = over.restart;
        }
        if over.files.is_some() || over.discover.is_some() {
            self.files = over.files;
            self.discover = over.discover;
        }
        RawDef {
            rule: over.rule.or(self.rule),
            pidfile: over.pidfile.or(self.pidfile),
            preflight: over.preflight.or(self.preflight),
            reload: self.reload,
            restart: self.restart,
            files: self.files,
            discover: self.discover,
            postflight: over.postflight.or(self.postflight),
        }
    }
}

/// A configuration dialect to find the files in (its parsers are
/// src/discover.rs's).
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
    /// Asterisk's pjsip.conf `cert_file`/`priv_key_file` (TLS transports)
    /// or sip.conf/http.conf `tlscertfile`/`tlsprivatekey`.
    Asterisk,
}

impl Parser {
    /// All of them, for messages and tests.
    pub const ALL: [Parser; 8] = [
        Parser::Nginx,
        Parser::Postfix,
        Parser::Apache,
        Parser::Haproxy,
        Parser::Dovecot,
        Parser::Slapd,
        Parser::Nghttpx,
        Parser::Asterisk,
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
            Parser::Asterisk => "asterisk",
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
}

/// When to act (DESIGN.md, "Deploy triggers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A cert or key file is newer than the pid file (the field rule; sound
    /// only with a restart, which rewrites the pid file).
    NewerThanPidfile,
    /// The SHA-256 of the files differs from what was last deployed.
    ContentChanged,
}

impl Rule {
    /// The name used in definitions and messages.
    pub fn name(self) -> &'static str {
        match self {
            Rule::NewerThanPidfile => "newer-than-pidfile",
            Rule::ContentChanged => "content-changed",
        }
    }
}

/// Reload or restart: the first action of a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Graceful: the service re-reads its files, the pid file stays.
    Reload,
    /// A new process, a new pid file.
    Restart,
}

impl ActionKind {
    /// Past tense, for the one line of output.
    pub fn done(self) -> &'static str {
        match self {
            ActionKind::Reload => "reloaded",
            ActionKind::Restart => "restarted",
        }
    }

    /// Infinitive, for `check`.
    pub fn verb(self) -> &'static str {
        match self {
            ActionKind::Reload => "reload",
            ActionKind::Restart => "restart",
        }
    }
}

/// A certificate file and its key (`None`: the key is in the same file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// Certificate file (leaf first, then intermediates).
    pub cert: PathBuf,
    /// Private key file.
    pub key: Option<PathBuf>,
}

/// Where the text to discover files in comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A shell command's standard output (`nginx -T`, `postconf -n`).
    Command(String),
    /// A configuration file read directly.
    File(PathBuf),
}

/// How the service's files are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Files {
    /// Listed in the definition.
    Listed(Vec<Pair>),
    /// Found by a parser in the service's configuration.
    Discover(Parser, Source),
}

/// A host:port, the SNI name to ask it for, and how TLS is reached there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where to connect.
    pub connect: SocketAddr,
    /// The server name sent; an IP address (of an IP line, RFC 8738) is
    /// dialled without SNI (RFC 6066 §3) and matched to an iPAddress SAN.
    pub sni: String,
    /// Implicit TLS or a STARTTLS dialect (default: the port's usual one).
    pub protocol: Protocol,
}

/// A validated definition (after a site's overrides).
#[derive(Debug, Clone)]
pub struct Def {
    /// When to act.
    pub rule: Rule,
    /// The pid file (required by newer-than-pidfile).
    pub pidfile: Option<PathBuf>,
    /// Pre-flight shell command.
    pub preflight: Option<String>,
    /// Reload or restart: the first action.
    pub action: ActionKind,
    /// The action's shell command.
    pub command: String,
    /// The restart tried when the reload was not taken (a definition
    /// giving both `reload` and `restart`).
    pub fallback: Option<String>,
    /// The files.
    pub files: Files,
    /// Post-flight endpoints.
    pub postflight: Vec<Endpoint>,
}

impl RawDef {
    /// Validate; relative paths are taken relative to `base`. Errors are
    /// `key: why`, of a configuration (78).
    pub fn validate(self, base: &Path) -> Result<Def> {
        self.checked(base).map_err(Error::config)
    }

    /// [`RawDef::validate`]'s checks, each saying `key: why`.
    fn checked(self, base: &Path) -> Result<Def, String> {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let rule = match self.rule.as_deref() {
            Some("newer-than-pidfile") => Rule::NewerThanPidfile,
            Some("content-changed") => Rule::ContentChanged,
            Some(other) => {
                return Err(format!(
                    "rule: '{other}': expected newer-than-pidfile or content-changed"
                ))
            }
            None => return Err("rule: missing".into()),
        };
        for (key, c) in [("reload", &self.reload), ("restart", &self.restart)] {
            if c.as_ref().is_some_and(|c| c.trim().is_empty()) {
                return Err(format!("{key}: empty command"));
            }
        }
        // Both: reload first, restart when the reload is not taken
        // (src/act.rs).
        let (action, command, fallback) = match (self.reload, self.restart) {
            (Some(c), restart) => (ActionKind::Reload, c, restart),
            (None, Some(c)) => (ActionKind::Restart, c, None),
            (None, None) => return Err("reload or restart: missing".into()),
        };
        // The pid-file rule is sound only when every action that succeeds
        // writes a new pid file: after a reload that was taken, the files
        // would stay newer than the pid file and the rule would fire on
        // every run. So it takes a restart alone; a reload, with or without
        // a restart behind it, goes with content-changed.
        if rule == Rule::NewerThanPidfile && action == ActionKind::Reload {
            let why = if fallback.is_some() {
                "rule: newer-than-pidfile needs restart alone (after a reload that is taken \
                 the pid file stays older than the files, so the rule would fire on every \
                 run): use content-changed with reload and restart, or drop reload"
            } else {
                "rule: newer-than-pidfile needs a restart (a reload keeps the pid file, \
                 so the rule would fire on every run): use content-changed"
            };
            return Err(why.into());
        }
        let pidfile = self.pidfile.map(abs);
        if rule == Rule::NewerThanPidfile && pidfile.is_none() {
            return Err("pidfile: missing (rule newer-than-pidfile)".into());
        }
        let files = match (self.files, self.discover) {
            (Some(list), _) => {
                if list.is_empty() {
                    return Err("files: empty".into());
                }
                Files::Listed(
                    list.into_iter()
                        .map(|p| Pair {
                            cert: abs(p.cert),
                            key: p.key.map(abs),
                        })
                        .collect(),
                )
            }
            (None, Some(d)) => {
                let parser =
                    Parser::from_name(&d.parser).map_err(|e| format!("discover.parser: {e}"))?;
                let source = match (d.command, d.file) {
                    (Some(c), None) => Source::Command(c),
                    (None, Some(f)) => Source::File(abs(f)),
                    _ => return Err("discover: give command or file, one of them".into()),
                };
                Files::Discover(parser, source)
            }
            (None, None) => return Err("files or discover: missing".into()),
        };
        // A command that names the pid file needs one (checked here, so
        // `-n` says it, not the first run that reaches the command).
        if pidfile.is_none() {
            let commands = [
                ("preflight", self.preflight.as_ref()),
                (action.verb(), Some(&command)),
                ("restart", fallback.as_ref()),
            ];
            if let Some((key, _)) = commands
                .iter()
                .find(|(_, c)| c.is_some_and(|c| c.contains(PIDFILE)))
            {
                return Err(format!("{key}: uses {PIDFILE} but no pidfile is set"));
            }
        }
        let mut postflight = Vec::new();
        for e in self.postflight.unwrap_or_default() {
            let connect: SocketAddr = e.connect.parse().map_err(|_| {
                format!("postflight.connect: '{}': expected ADDRESS:PORT", e.connect)
            })?;
            let sni = certdrop_core::name::identifier(&e.sni, false)
                .map_err(|why| format!("postflight.sni: {why}"))?;
            let protocol = match e.protocol.as_deref() {
                Some(name) => Protocol::from_name(name)
                    .map_err(|why| format!("postflight.protocol: {why}"))?,
                None => Protocol::for_port(connect.port()),
            };
            postflight.push(Endpoint {
                connect,
                sni,
                protocol,
            });
        }
        Ok(Def {
            rule,
            pidfile,
            preflight: self.preflight.filter(|c| !c.trim().is_empty()),
            action,
            command,
            fallback,
            files,
            postflight,
        })
    }
}

/// Parse a definition file's text (deny unknown keys; errors name the
/// line, of a configuration: 78).
pub fn parse(path: &Path, text: &str) -> Result<RawDef> {
    certdrop_core::tomlcfg::Source { path, text }
        .parse()
        .map_err(Error::config)
}

#[cfg(test)]
mod tests;
