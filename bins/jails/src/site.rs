//! site.toml: one site description, as serde reads it (unknown keys
//! rejected, errors with file and line), and the validated [`Site`] the
//! privilege check and the templates work on.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use certdrop_core::tomlcfg::Source;

use crate::schedule;
use crate::service::{self, Service};
use serde::{Deserialize, Serialize};
use toml::Spanned;

pub use crate::privilege::{allowed, Access, Stage, SHARED};

/// site.toml as written (also a cluster host's site, src/cluster.rs, whose
/// spans are the cluster file's).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSite {
    pub site: Spanned<String>,
    pub data: Spanned<PathBuf>,
    pub config: Spanned<PathBuf>,
    pub jail_root: Option<Spanned<PathBuf>>,
    pub bindir: Option<Spanned<PathBuf>>,
    pub mailto: Option<Spanned<String>>,
    pub templates: Option<PathBuf>,
    pub repo: Option<String>,
    #[serde(default, rename = "jail")]
    pub jails: Vec<RawJail>,
}

/// `jail_root` when the site does not say.
const DEFAULT_JAIL_ROOT: &str = "/usr/jails";
/// `bindir` when the site does not say.
const DEFAULT_BINDIR: &str = "/usr/local/bin";

/// One `[[jail]]` as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJail {
    pub name: Spanned<String>,
    pub stages: Spanned<Vec<Stage>>,
    user: Spanned<String>,
    uid: Spanned<u32>,
    gid: Option<Spanned<u32>>,
    pub ip4: Option<Spanned<String>>,
    hostname: Option<String>,
    pub mounts: Option<Spanned<BTreeMap<String, Access>>>,
    #[serde(default)]
    pub cron: Vec<RawCron>,
    #[serde(default)]
    daemons: Vec<RawDaemon>,
    #[serde(default)]
    check: Vec<String>,
    pub keys: Option<Spanned<Vec<String>>>,
}

/// One crontab entry as written.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCron {
    pub when: Spanned<String>,
    pub run: Spanned<String>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    run: String,
    pidfile: Option<Spanned<String>>,
}

/// A validated site.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    #[serde(skip)]
    pub path: PathBuf,
    pub name: String,
    pub data: PathBuf,
    pub config: PathBuf,
    pub jail_root: PathBuf,
    pub bindir: PathBuf,
    pub mailto: Option<String>,
    #[serde(skip)]
    pub templates: Option<PathBuf>,
    /// The git repository the configuration comes from (update), if any.
    pub repo: Option<String>,
    /// The configuration the jails read: `<config>/current` (a symlink
    /// into `<config>/releases/`) with `repo`, else `<config>`.
    pub current: PathBuf,
    pub jails: Vec<Jail>,
}

/// One jail: a user, its stages, its mounts, what it runs.
#[derive(Debug, Clone, Serialize)]
pub struct Jail {
    pub name: String,
    pub stages: Vec<Stage>,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub ip4: Option<String>,
    pub hostname: String,
    /// Shared directory name -> access, in SHARED order.
    pub mounts: Vec<Mount>,
    pub cron: Vec<Cron>,
    pub daemons: Vec<Daemon>,
    /// The `watch` daemons among them that run through their rc.d script.
    pub services: Vec<Service>,
    /// The other daemons, each with its own command line (on FreeBSD,
    /// started by the jail's rendered rc.d script, `rc.d.<jail>`).
    pub others: Vec<Daemon>,
    /// Certificate lines whose key this jail reads (`keys/<line>/`,
    /// read-only): the key of the service it runs, granted by the
    /// issuer's `key_group` and nothing else of `keys/`.
    pub keys: Vec<String>,
    /// Supplementary groups (the issuer: the groups it grants keys to).
    pub groups: Vec<u32>,
    /// Commands that validate the jail's configuration in a new release
    /// (`$CERTDROP_RELEASE`) before it becomes current.
    pub check: Vec<String>,
    /// The jail's private directory, `<data>/state/<name>` (rw, 0700).
    pub state: PathBuf,
    /// Other jails' state directories this one reads (read-only): a
    /// monitor (stage check) reads the issuer's line states, for their
    /// failures and back-off (DESIGN.md: "the issuer's state (read-only)").
    pub reads_state: Vec<String>,
    /// The mode its state directory is installed with: 0700, or 2750 when
    /// a monitor reads it (setgid: on Linux the issuer's files take the
    /// directory's group, as they always do on BSD).
    pub state_mode: String,
    /// The group of its state directory: its own, or the monitor's.
    pub state_gid: u32,
    /// That group's name (the user of the jail it belongs to).
    pub state_group: String,
    /// Where each piece of the site description was, for messages.
    #[serde(skip)]
    pub at: Spans,
}

/// Line numbers of a jail's entries (its name's line for one not given).
#[derive(Debug, Clone, Default)]
pub struct Spans {
    pub user: usize,
    pub uid: usize,
    pub gid: usize,
    pub ip4: usize,
    pub mounts: usize,
    pub keys: usize,
    /// Of each daemon's pidfile, in the order of `daemons`.
    pub pidfiles: Vec<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub dir: String,
    pub access: Access,
    /// "ro" or "rw", for templates.
    pub mode: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cron {
    pub when: String,
    pub run: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Daemon {
    /// 1-based position in the jail's list (names its pid and log files).
    pub index: usize,
    pub run: String,
    pub pidfile: Option<String>,
    /// On FreeBSD, run through this rc.d script instead (a certdrop
    /// `watch` daemon without a pid file of its own; one per script).
    pub service: Option<Service>,
}

impl Site {
    /// Read and validate `path`; one line on error: a site file that
    /// cannot be read is missing input (66), one that does not validate
    /// is the configuration's fault (78).
    pub fn load(path: &Path) -> certdrop_core::error::Result<Site> {
        use certdrop_core::error::Error;
        let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::noinput(format!("{}: no such file", path.display()))
            }
            _ => Error::unreadable(path, "cannot read", &e),
        })?;
        Site::parse(path, &text)
    }

    /// Validate text (shape, names, paths, schedules); the privilege table
    /// is [`crate::check`]'s. Every error is the site's (78).
    pub fn parse(path: &Path, text: &str) -> certdrop_core::error::Result<Site> {
        Site::checked(path, text).map_err(certdrop_core::error::Error::config)
    }

    /// [`Site::parse`]'s checks, each one line naming file, line and key.
    fn checked(path: &Path, text: &str) -> Result<Site, String> {
        let src = Source { path, text };
        Site::from_raw(&src, src.parse()?)
    }

    /// A site from its raw form, whose spans lie in `src` (site.toml, or
    /// the cluster file a host's site was taken from).
    pub(crate) fn from_raw(src: &Source, raw: RawSite) -> Result<Site, String> {
        let path = src.path;
        let err = |span: Range<usize>, key: &str, why: &str| src.err(span, key, why);
        if !is_word(raw.site.get_ref()) {
            return Err(err(
                raw.site.span(),
                "site",
                "letters, digits, '-' and '_' only",
            ));
        }
        let jail_root = raw
            .jail_root
            .unwrap_or_else(|| Spanned::new(0..0, PathBuf::from(DEFAULT_JAIL_ROOT)));
        let bindir = raw
            .bindir
            .unwrap_or_else(|| Spanned::new(0..0, PathBuf::from(DEFAULT_BINDIR)));
        for (key, p) in [
            ("data", &raw.data),
            ("config", &raw.config),
            ("jail_root", &jail_root),
            ("bindir", &bindir),
        ] {
            let text = p.get_ref().to_string_lossy();
            if !p.get_ref().is_absolute() || text.contains(['\'', '"', '\\', '$', '`', '\n', ' ']) {
                return Err(err(
                    p.span(),
                    key,
                    &format!(
                        "'{}' must be an absolute path without quotes, blanks or '$'",
                        p.get_ref().display()
                    ),
                ));
            }
        }
        let (data, config) = (raw.data.get_ref().clone(), raw.config.get_ref().clone());
        // The Linux rendering lays a tmpfs over `data` and binds `config`
        // read-only: neither may hold the other, and `data` is the
        // certdrop tree, not a system directory.
        if data.starts_with(&config) || config.starts_with(&data) {
            return Err(err(
                raw.data.span(),
                "data",
                &format!(
                    "'{}' and config ('{}') must be apart, neither inside the other",
                    data.display(),
                    config.display()
                ),
            ));
        }
        if data.components().count() < 3 {
            return Err(err(
                raw.data.span(),
                "data",
                &format!(
                    "'{}' is too near the root; give the certdrop tree its own directory (e.g. /var/db/certdrop)",
                    data.display()
                ),
            ));
        }
        let (jail_root, bindir) = (jail_root.into_inner(), bindir.into_inner());
        if let Some(m) = &raw.mailto {
            one_line(m.get_ref()).map_err(|why| err(m.span(), "mailto", &why))?;
        }
        let current = match raw.repo {
            Some(_) => config.join("current"),
            None => config.clone(),
        };
        let subst = |s: &str| {
            s.replace("{data}", &data.to_string_lossy())
                .replace("{config}", &current.to_string_lossy())
                .replace("{bindir}", &bindir.to_string_lossy())
        };
        let mut jails: Vec<Jail> = Vec::new();
        for j in raw.jails {
            let name = j.name.get_ref().clone();
            if !is_word(&name) || name == "run" || name == "state" {
                return Err(err(
                    j.name.span(),
                    "jail.name",
                    &format!("'{name}': letters, digits, '-' and '_' only (not 'run' or 'state')"),
                ));
            }
            if jails.iter().any(|o| o.name == name) {
                return Err(err(
                    j.name.span(),
                    "jail.name",
                    &format!("'{name}' defined twice"),
                ));
            }
            let key = |k: &str| format!("jail '{name}': {k}");
            if j.stages.get_ref().is_empty() {
                return Err(err(j.stages.span(), &key("stages"), "at least one stage"));
            }
            if !is_word(j.user.get_ref()) {
                return Err(err(
                    j.user.span(),
                    &key("user"),
                    "letters, digits, '-' and '_' only",
                ));
            }
            let mounts_span = j.mounts.as_ref().map(|m| m.span()).unwrap_or(j.name.span());
            let empty = BTreeMap::new();
            let mut mounts = Vec::new();
            for (dir, access) in j.mounts.as_ref().map(|m| m.get_ref()).unwrap_or(&empty) {
                if !SHARED.iter().any(|(d, _, _)| d == dir) {
                    return Err(err(
                        mounts_span.clone(),
                        &key("mounts"),
                        &format!(
                            "unknown directory '{dir}' (one of {})",
                            SHARED.iter().map(|d| d.0).collect::<Vec<_>>().join(", ")
                        ),
                    ));
                }
                mounts.push(Mount {
                    dir: dir.clone(),
                    access: *access,
                    mode: access.word(),
                });
            }
            mounts.sort_by_key(|m| SHARED.iter().position(|d| d.0 == m.dir));
            let state = data.join("state").join(&name);
            let sub = |s: &str| subst(s).replace("{state}", &state.to_string_lossy());
            let mut cron = Vec::new();
            for c in j.cron {
                let when = c.when.get_ref().trim().to_string();
                schedule::check(&when)
                    .map_err(|why| err(c.when.span(), &key("cron.when"), &why))?;
                one_line(c.run.get_ref())
                    .map_err(|why| err(c.run.span(), &key("cron.run"), &why))?;
                cron.push(Cron {
                    when,
                    run: sub(c.run.get_ref()),
                });
            }
            let pidfiles = j
                .daemons
                .iter()
                .map(|d| {
                    src.line(
                        d.pidfile
                            .as_ref()
                            .map_or(j.name.span().start, |p| p.span().start),
                    )
                })
                .collect();
            let mut daemons: Vec<Daemon> = (j.daemons.into_iter().enumerate())
                .map(|(i, d)| Daemon {
                    index: i + 1,
                    run: sub(&d.run),
                    pidfile: d.pidfile.map(|p| sub(p.get_ref())),
                    service: None,
                })
                .collect();
            let (services, others) = service::assign(&mut daemons, &bindir.to_string_lossy());
            let line_of =
                |span: Option<Range<usize>>| src.line(span.unwrap_or(j.name.span()).start);
            let ip4 = match &j.ip4 {
                None => None,
                Some(a) => {
                    ip4_addresses(a.get_ref()).map_err(|why| err(a.span(), &key("ip4"), &why))?;
                    Some(a.get_ref().clone())
                }
            };
            let check = j
                .check
                .iter()
                .map(|c| sub(&c.replace("{config}", "\"$CERTDROP_RELEASE\"")))
                .collect();
            let keys_span = j.keys.as_ref().map_or(j.name.span(), |k| k.span());
            let keys = j.keys.map(|k| k.into_inner()).unwrap_or_default();
            for line in &keys {
                if !is_word(line) {
                    return Err(err(
                        keys_span.clone(),
                        &key("keys"),
                        &format!("'{line}': a certificate line name"),
                    ));
                }
            }
            let gid = j.gid.as_ref().map_or(*j.uid.get_ref(), |g| *g.get_ref());
            jails.push(Jail {
                keys,
                groups: Vec::new(),
                reads_state: Vec::new(),
                state_mode: "0700".into(),
                state_gid: gid,
                state_group: j.user.get_ref().clone(),
                check,
                hostname: j
                    .hostname
                    .unwrap_or_else(|| format!("{name}.{}", raw.site.get_ref())),
                stages: j.stages.get_ref().clone(),
                user: j.user.get_ref().clone(),
                uid: *j.uid.get_ref(),
                gid,
                ip4,
                mounts,
                cron,
                daemons,
                services,
                others,
                state,
                at: Spans {
                    user: src.line(j.user.span().start),
                    uid: src.line(j.uid.span().start),
                    gid: line_of(j.gid.as_ref().map(|g| g.span())),
                    ip4: line_of(j.ip4.as_ref().map(|a| a.span())),
                    mounts: src.line(mounts_span.start),
                    keys: src.line(keys_span.start),
                    pidfiles,
                },
                name,
            });
        }
        let granted: Vec<u32> = jails
            .iter()
            .filter(|j| !j.keys.is_empty())
            .map(|j| j.gid)
            .collect();
        for j in jails
            .iter_mut()
            .filter(|j| j.stages.contains(&Stage::Issue))
        {
            j.groups = granted.clone();
        }
        share_issuer_state(&mut jails);
        if jails.is_empty() {
            return Err(format!("{}: no [[jail]]", path.display()));
        }
        Ok(Site {
            templates: raw.templates.map(|t| src.abs(&t)),
            path: path.to_path_buf(),
            name: raw.site.into_inner(),
            data,
            config,
            jail_root,
            bindir,
            mailto: raw.mailto.map(|m| m.into_inner()),
            repo: raw.repo,
            current,
            jails,
        })
    }
}

/// A monitor reads the issuer's state: each check jail mounts every issue
/// jail's state directory read-only, and the issue jail's directory is
/// installed 2750 with the (first) monitor's group, so that the state
/// files the issuer writes 0640 are readable by that group and nobody
/// else (the account and the lock beside them stay 0600).
fn share_issuer_state(jails: &mut [Jail]) {
    let issuers: Vec<String> = jails
        .iter()
        .filter(|j| j.stages.contains(&Stage::Issue))
        .map(|j| j.name.clone())
        .collect();
    let Some((gid, group)) = jails
        .iter()
        .find(|j| j.stages.contains(&Stage::Check))
        .map(|j| (j.gid, j.user.clone()))
    else {
        return;
    };
    for j in jails.iter_mut() {
        if j.stages.contains(&Stage::Check) {
            j.reads_state = issuers.iter().filter(|n| **n != j.name).cloned().collect();
        }
        if j.stages.contains(&Stage::Issue) && !j.stages.contains(&Stage::Check) {
            j.state_mode = "2750".into();
            j.state_gid = gid;
            j.state_group = group.clone();
        }
    }
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !s.starts_with('-')
}

/// A value rendered as one line of a crontab(5): a line break in it would
/// end the entry there and make the rest a line of its own.
fn one_line(text: &str) -> Result<(), String> {
    if text.contains(['\n', '\r']) {
        return Err("a line break would split the crontab(5) entry: give one line".into());
    }
    Ok(())
}

/// The IPv4 addresses of a jail.conf(5) `ip4.addr` value: a list of
/// `[interface|]address[/prefix]`, separated by commas.
pub fn ip4_addresses(text: &str) -> Result<Vec<std::net::Ipv4Addr>, String> {
    let mut out = Vec::new();
    for entry in text.split(',') {
        let entry = entry.trim();
        let addr = entry.rsplit_once('|').map_or(entry, |(_, a)| a);
        let (addr, prefix) = addr
            .split_once('/')
            .map_or((addr, None), |(a, p)| (a, Some(p)));
        let parsed = addr.parse::<std::net::Ipv4Addr>();
        let prefix_ok = prefix.map_or(true, |p| p.parse::<u8>().is_ok_and(|n| n <= 32));
        match parsed {
            Ok(a) if prefix_ok => out.push(a),
            _ => {
                return Err(format!(
                "'{entry}': not an IPv4 address as jail.conf(5) takes it (e.g. \"em0|192.0.2.53\")"
            ))
            }
        }
    }
    Ok(out)
}
