//! trigger.toml: raw structures as serde reads them, kept apart from the
//! validated [`Config`]. Unknown keys are rejected; errors name file, line
//! and key. Relative paths are relative to the file that holds them.
//!
//! ```toml
//! pub = "/pub"                              # certdrop-publish's tree (read-only)
//! state = "/var/db/certdrop-trigger"
//! definitions = ["/usr/local/etc/certdrop/deploy-triggers",
//!                "/usr/local/share/certdrop/deploy-triggers"]
//! allowed_signers = "/usr/local/etc/certdrop/allowed_signers"
//! lock_wait = "60s"                         # then give up: exit 75
//!
//! [[service]]
//! name = "www"                              # state file, messages
//! definition = "nginx"                      # deploy-triggers/nginx.toml
//! line = "www"                              # pub/www/: manifest checked
//! names = ["www.example.org"]               # must be in the certificate
//! postflight = [{ connect = "127.0.0.1:443", sni = "www.example.org" }]
//! install = [{ from = "fullchain.pem", to = "/usr/local/etc/nginx/www.pem" }]
//! # any definition key may be overridden: reload, restart, rule, ...
//! ```
//!
//! `[outbox]` and `[[csr]]` (the keys this site makes, the CSRs it
//! publishes): src/config/outbox.rs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::duration;
use certdrop_core::error::{Error, Result};
use serde::Deserialize;
use sha2::Digest;
use toml::Spanned;

use crate::definition::{self, Def, RawDef};

mod apart;
pub mod outbox;

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/usr/local/etc/certdrop/trigger.toml";
/// How long the post-flight check retries while the service restarts.
pub const DEFAULT_POSTFLIGHT_WAIT: Duration = Duration::from_secs(15);
/// Longest a pre-flight, discovery or action command may run.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a run waits for another run's lock before giving up (75), as
/// certdrop-issue and certdrop-publish.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(60);
/// Keys of a `[[service]]` that are not definition keys.
const OWN_KEYS: [&str; 5] = ["name", "definition", "line", "names", "install"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(rename = "pub")]
    pub_dir: PathBuf,
    state: PathBuf,
    #[serde(default)]
    definitions: Vec<PathBuf>,
    allowed_signers: Option<PathBuf>,
    signer: Option<Spanned<String>>,
    postflight_wait: Option<Spanned<String>>,
    command_timeout: Option<Spanned<String>>,
    lock_wait: Option<Spanned<String>>,
    #[serde(default, rename = "service")]
    services: Vec<Spanned<toml::Table>>,
    outbox: Option<outbox::RawOutbox>,
    #[serde(default)]
    csr: Vec<outbox::RawCsr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOwn {
    name: String,
    definition: Option<String>,
    line: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    install: Vec<RawInstall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstall {
    from: String,
    to: PathBuf,
}

/// Copy `pub/<line>/<from>` to `to` (the service's path) before acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// A file name in the line's publication directory.
    pub from: String,
    /// The service's path.
    pub to: PathBuf,
}

/// One service to keep deployed.
#[derive(Debug, Clone)]
pub struct Service {
    /// Unique name (state file, messages).
    pub name: String,
    /// The definition it came from (or `inline`).
    pub definition: String,
    /// The publication line, `pub/<line>/`.
    pub line: Option<String>,
    /// Names the leaf must cover.
    pub names: Vec<String>,
    /// Files copied from `pub/<line>/` into place before acting.
    pub install: Vec<Install>,
    /// Rule, files, commands, post-flight.
    pub def: Def,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// certdrop-publish's tree, read-only.
    pub pub_dir: PathBuf,
    /// Our state directory.
    pub state: PathBuf,
    /// allowed_signers file: when set, every line's manifest is verified.
    pub allowed_signers: Option<PathBuf>,
    /// Principal the signer must match (`ssh-keygen -Y verify -I`).
    pub signer: Option<String>,
    /// Post-flight retry window.
    pub postflight_wait: Duration,
    /// Command time limit.
    pub command_timeout: Duration,
    /// How long to wait for another run's lock.
    pub lock_wait: Duration,
    /// The services.
    pub services: Vec<Service>,
    /// `[outbox]` and its `[[csr]]` lines: keys made here, CSRs published.
    pub outbox: Option<outbox::Outbox>,
    /// Every definition file this load looked for, in order, with a hash
    /// of the text it read (None: not there, the search went on). What the
    /// services are rests on these and on the configuration's text alone
    /// (src/plan.rs).
    pub definition_files: Vec<(PathBuf, Option<[u8; 32]>)>,
    /// SHA-256 of the text it was read from.
    pub digest: [u8; 32],
}

impl Config {
    /// Validate text (read by `certdrop_core::tomlcfg::read`); `path` for
    /// messages and relative paths. Every failure is the configuration's
    /// (78): the daemon cannot know what to do without it.
    pub fn parse(path: &Path, text: &str) -> Result<Config> {
        Config::checked(path, text).map_err(Error::config)
    }

    /// [`Config::parse`]'s checks, each one line naming file, line and key.
    fn checked(path: &Path, text: &str) -> Result<Config, String> {
        SEEN.with(|s| s.borrow_mut().clear());
        PROBES.with(|p| p.borrow_mut().clear());
        let src = certdrop_core::tomlcfg::Source { path, text };
        let raw: RawConfig = src.parse()?;
        let base = src.dir();
        let abs = |p: &Path| src.abs(p);
        let definitions: Vec<PathBuf> = raw.definitions.iter().map(|d| abs(d)).collect();
        let mut services: Vec<Service> = Vec::with_capacity(raw.services.len());
        let mut names = std::collections::HashSet::with_capacity(raw.services.len());
        for entry in raw.services {
            // `file:line` only for an error: counting lines up to every
            // service made loading quadratic in the number of services.
            let start = entry.span().start;
            let at = || format!("{}:{}", path.display(), src.line(start));
            let service = service(entry.into_inner(), &definitions, base)
                .map_err(|why| format!("{}: service{why}", at()))?;
            if !names.insert(service.name.clone()) {
                return Err(format!(
                    "{}: service '{}': defined twice",
                    at(),
                    service.name
                ));
            }
            services.push(service);
        }
        let outbox = outbox::validate(&src, &src.abs(&raw.pub_dir), raw.outbox, raw.csr)?;
        // A site may only make keys and CSRs (its services deployed later).
        if services.is_empty() && !outbox.as_ref().is_some_and(|o| !o.lines.is_empty()) {
            return Err(format!(
                "{}: no [[service]] (and no [[csr]])",
                path.display()
            ));
        }
        // Cross-field rules the manual states, checked here so that `-n`
        // refuses what no run could do (issue 12).
        let wait =
            |v: &Option<Spanned<String>>, key: &str, default: Duration, zero: Option<&str>| {
                let Some(v) = v else {
                    return Ok(default);
                };
                let d = duration::parse(v.get_ref()).map_err(|why| src.err(v.span(), key, &why))?;
                match zero {
                    Some(why) if d.is_zero() => Err(src.err(v.span(), key, why)),
                    _ => Ok(d),
                }
            };
        let command_timeout = wait(
            &raw.command_timeout,
            "command_timeout",
            DEFAULT_COMMAND_TIMEOUT,
            Some("must be more than 0s: no command could finish"),
        )?;
        let postflight_wait = wait(
            &raw.postflight_wait,
            "postflight_wait",
            DEFAULT_POSTFLIGHT_WAIT,
            Some("must be more than 0s: a service needs a moment to serve a new certificate"),
        )?;
        let lock_wait = wait(&raw.lock_wait, "lock_wait", DEFAULT_LOCK_WAIT, None)?;
        if let (Some(signer), None) = (&raw.signer, &raw.allowed_signers) {
            return Err(src.err(
                signer.span(),
                "signer",
                "needs allowed_signers (without it no manifest is verified)",
            ));
        }
        if let Some(s) = services
            .iter()
            .find(|s| !s.install.is_empty() && s.line.is_none())
        {
            return Err(format!(
                "{}: service '{}': install: needs a line to install from",
                path.display(),
                s.name
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            pub_dir: abs(&raw.pub_dir),
            state: abs(&raw.state),
            allowed_signers: raw.allowed_signers.as_deref().map(abs),
            signer: raw.signer.map(Spanned::into_inner),
            postflight_wait,
            command_timeout,
            lock_wait,
            services,
            outbox,
            definition_files: PROBES.with(|p| std::mem::take(&mut *p.borrow_mut())),
            digest: sha2::Sha256::digest(text.as_bytes()).into(),
        })
    }
}

/// One `[[service]]`: its own keys, then its definition overridden by the
/// rest. Errors start with ` 'name': ` (or `: ` before the name is known).
fn service(table: toml::Table, dirs: &[PathBuf], base: &Path) -> Result<Service, String> {
    let (own, rest): (toml::Table, toml::Table) = table
        .into_iter()
        .partition(|(k, _)| OWN_KEYS.contains(&k.as_str()));
    let own: RawOwn = certdrop_core::tomlcfg::from_table(own).map_err(|e| format!(": {e}"))?;
    let name = own.name;
    let fail = |why: String| format!(" '{name}': {why}");
    certdrop_core::name::line_name(&name).map_err(|why| fail(format!("name: {why}")))?;
    if let Some(line) = &own.line {
        certdrop_core::name::line_name(line).map_err(|why| fail(format!("line: {why}")))?;
    }
    let over: RawDef = certdrop_core::tomlcfg::from_table(rest).map_err(fail)?;
    let (definition, merged) = match &own.definition {
        Some(d) => {
            let (file, raw) = load_definition(d, dirs).map_err(fail)?;
            let def_base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
            // Paths in the definition are relative to it, the site's to trigger.toml:
            // resolve each side before merging.
            (
                d.clone(),
                raw.with_base(&def_base).overridden_by(over.with_base(base)),
            )
        }
        None => ("inline".to_string(), over.with_base(base)),
    };
    let def = merged.validate(base).map_err(|e| fail(e.msg))?;
    let mut names = Vec::new();
    for n in &own.names {
        names.push(
            certdrop_core::name::identifier(n, true)
                .map_err(|why| fail(format!("names: {why}")))?,
        );
    }
    let mut install = Vec::new();
    for i in own.install {
        if i.from.contains('/') || i.from.starts_with('.') || i.from.is_empty() {
            return Err(fail(format!(
                "install.from: '{}': a file name in pub/<line>/",
                i.from
            )));
        }
        let to = if i.to.is_absolute() {
            i.to
        } else {
            base.join(i.to)
        };
        install.push(Install { from: i.from, to });
    }
    Ok(Service {
        name,
        definition,
        line: own.line,
        names,
        install,
        def,
    })
}

/// Definitions read while loading one configuration.
type Seen = std::collections::HashMap<(String, Vec<PathBuf>), (PathBuf, RawDef)>;

thread_local! {
    /// A site with a hundred services names the same few definitions: each
    /// is read and parsed once per configuration load (cleared at the start
    /// of every load, so `watch` sees edited definitions).
    static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::new());
    /// [`Config::definition_files`] of the load under way.
    static PROBES: std::cell::RefCell<Vec<(PathBuf, Option<[u8; 32]>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Find `<dir>/<name>.toml` in the definition directories, first match wins.
fn load_definition(name: &str, dirs: &[PathBuf]) -> Result<(PathBuf, RawDef), String> {
    let key = (name.to_owned(), dirs.to_vec());
    if let Some(hit) = SEEN.with(|s| s.borrow().get(&key).cloned()) {
        return Ok(hit);
    }
    let found = load_definition_uncached(name, dirs)?;
    SEEN.with(|s| s.borrow_mut().insert(key, found.clone()));
    Ok(found)
}

fn load_definition_uncached(name: &str, dirs: &[PathBuf]) -> Result<(PathBuf, RawDef), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !ok {
        return Err(format!("definition: '{name}': expected a name like nginx"));
    }
    for dir in dirs {
        let file = dir.join(format!("{name}.toml"));
        let read = std::fs::read_to_string(&file);
        if matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
            PROBES.with(|p| p.borrow_mut().push((file.clone(), None)));
        }
        match read {
            Ok(text) => {
                let hash = sha2::Sha256::digest(text.as_bytes()).into();
                PROBES.with(|p| p.borrow_mut().push((file.clone(), Some(hash))));
                return Ok((
                    file.clone(),
                    definition::parse(&file, &text).map_err(|e| e.msg)?,
                ));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: cannot read: {e}", file.display())),
        }
    }
    Err(format!(
        "definition: no {name}.toml in {}",
        if dirs.is_empty() {
            "(no definitions directory configured)".to_string()
        } else {
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    ))
}

#[cfg(test)]
mod tests;
