//! Rendering: the built-in templates of `jail-templates/` (compiled in),
//! each overridable by a file of the same name in the site's `templates`
//! directory, filled from the validated site.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use certdrop_core::error::{Error, Result};
use serde::Serialize;
use tera::{Context, Tera, Value};

use crate::site::{Access, Jail, Site, SHARED};

/// The built-in templates: name, text, and whether the output is per jail
/// (`{jail}` in the output name) and executable.
const TEMPLATES: [(&str, &str, &str, bool); 13] = [
    (
        "jail.conf",
        include_str!("../../../jail-templates/jail.conf"),
        "jail.conf",
        false,
    ),
    (
        "fstab",
        include_str!("../../../jail-templates/fstab"),
        "fstab.{jail}",
        false,
    ),
    (
        "crontab",
        include_str!("../../../jail-templates/crontab"),
        "crontab.{jail}",
        false,
    ),
    (
        "rc.conf",
        include_str!("../../../jail-templates/rc.conf"),
        "rc.conf.{jail}",
        false,
    ),
    (
        "rc.d",
        include_str!("../../../jail-templates/rc.d"),
        "rc.d.{jail}",
        true,
    ),
    (
        "install.sh",
        include_str!("../../../jail-templates/install.sh"),
        "install.sh",
        true,
    ),
    (
        "update.sh",
        include_str!("../../../jail-templates/update.sh"),
        "update.sh",
        true,
    ),
    (
        "linux/install",
        include_str!("../../../jail-templates/linux/install"),
        "linux/install",
        true,
    ),
    (
        "linux/jail",
        include_str!("../../../jail-templates/linux/jail"),
        "linux/jail-{jail}",
        true,
    ),
    (
        "linux/cron",
        include_str!("../../../jail-templates/linux/cron"),
        "linux/cron",
        true,
    ),
    (
        "linux/start",
        include_str!("../../../jail-templates/linux/start"),
        "linux/start",
        true,
    ),
    (
        "linux/stop",
        include_str!("../../../jail-templates/linux/stop"),
        "linux/stop",
        true,
    ),
    (
        "linux/update",
        include_str!("../../../jail-templates/linux/update"),
        "linux/update",
        true,
    ),
];

/// One rendered file.
#[derive(Debug, PartialEq, Eq)]
pub struct File {
    /// Relative to the output directory.
    pub path: PathBuf,
    pub text: String,
    pub executable: bool,
}

/// A shared directory as the templates see it.
#[derive(Serialize)]
struct Dir {
    name: &'static str,
    path: String,
    mode: String,
    secret: bool,
    /// The jail that writes it (owner), if any.
    writer: Option<String>,
    user: String,
    uid: u32,
    gid: u32,
    /// Jails that mount it, with their access.
    mounted: Vec<String>,
}

/// Render every template for `site`. A template of the site's that cannot
/// be read is missing input (66); one that does not parse or render is
/// the site's configuration (78).
pub fn render(site: &Site) -> Result<Vec<File>> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_filter("sq", sq);
    tera.register_filter("dq", dq);
    for (name, builtin, _, _) in TEMPLATES {
        let over = site.templates.as_ref().map(|d| d.join(name));
        let text = match &over {
            Some(p) if p.exists() => {
                std::fs::read_to_string(p).map_err(|e| Error::unreadable(p, "cannot read", &e))?
            }
            _ => builtin.to_string(),
        };
        tera.add_raw_template(name, &text).map_err(|e| {
            let file = over
                .filter(|p| p.exists())
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| format!("jail-templates/{name} (built in)"));
            Error::config(format!("{file}: {}", chain(&e)))
        })?;
    }
    let mut ctx = Context::new();
    ctx.insert("site", site);
    ctx.insert("source", &site.path.display().to_string());
    ctx.insert("dirs", &dirs(site));
    ctx.insert("data_dirs", &SHARED.iter().map(|d| d.0).collect::<Vec<_>>());
    // The jail that holds keys/: owner of the granted key directories.
    let issuer = site.jails.iter().find(|j| {
        j.mounts
            .iter()
            .any(|m| m.dir == "keys" && m.access == Access::Write)
    });
    ctx.insert("issuer", &issuer);
    let mut out = Vec::new();
    for (name, _, target, executable) in TEMPLATES {
        if target.contains("{jail}") {
            for jail in site.jails.iter().filter(|j| wanted(name, j)) {
                let mut c = ctx.clone();
                c.insert("jail", jail);
                c.insert("hidden", &hidden(site, jail));
                out.push(File {
                    path: PathBuf::from(target.replace("{jail}", &jail.name)),
                    text: fill(&tera, name, &c)?,
                    executable,
                });
            }
        } else {
            out.push(File {
                path: PathBuf::from(target),
                text: fill(&tera, name, &ctx)?,
                executable,
            });
        }
    }
    Ok(out)
}

/// Whether the per-jail template `name` is rendered for `jail`: its rc.d
/// script only when it has daemons of its own (not certdrop's watch
/// daemons), its rc.conf knobs only when it has any daemon.
fn wanted(name: &str, jail: &Jail) -> bool {
    match name {
        "rc.d" => !jail.others.is_empty(),
        "rc.conf" => !jail.daemons.is_empty(),
        _ => true,
    }
}

fn fill(tera: &Tera, name: &str, ctx: &Context) -> Result<String> {
    tera.render(name, ctx)
        .map_err(|e| Error::config(format!("template {name}: {}", chain(&e))))
}

/// A tera error with its causes on one line.
fn chain(e: &tera::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        msg.push_str(": ");
        msg.push_str(&c.to_string());
        cause = c.source();
    }
    msg.replace('\n', " ")
}

/// The shared directories some jail mounts, with owner and mode.
fn dirs(site: &Site) -> Vec<Dir> {
    let mut out = Vec::new();
    for (name, mode, secret) in SHARED {
        let users: Vec<(&Jail, Access)> = site
            .jails
            .iter()
            .filter_map(|j| {
                j.mounts
                    .iter()
                    .find(|m| m.dir == name)
                    .map(|m| (j, m.access))
            })
            .collect();
        if users.is_empty() {
            continue;
        }
        let writer = users
            .iter()
            .find(|(_, a)| *a == Access::Write)
            .map(|(j, _)| *j);
        out.push(Dir {
            name,
            path: site.data.join(name).display().to_string(),
            mode: format!("{mode:04o}"),
            secret,
            writer: writer.map(|j| j.name.clone()),
            user: writer
                .map(|j| j.user.clone())
                .unwrap_or_else(|| "root".into()),
            uid: writer.map(|j| j.uid).unwrap_or(0),
            gid: writer.map(|j| j.gid).unwrap_or(0),
            mounted: users
                .iter()
                .map(|(j, a)| format!("{}:{}", j.name, a.word()))
                .collect(),
        });
    }
    out
}

/// What a jail must not see under `data`: every shared directory it does
/// not mount and every other jail's state but the ones it reads.
fn hidden(site: &Site, jail: &Jail) -> Vec<String> {
    let mut out: Vec<String> = SHARED
        .iter()
        .filter(|(d, _, _)| !jail.mounts.iter().any(|m| m.dir == *d))
        .filter(|(d, _, _)| *d != "keys" || jail.keys.is_empty())
        .map(|(d, _, _)| d.to_string())
        .collect();
    out.extend(
        site.jails
            .iter()
            .filter(|j| j.name != jail.name && !jail.reads_state.contains(&j.name))
            .map(|j| format!("state/{}", j.name)),
    );
    out.push("run".into());
    out
}

/// `sq`: quote for /bin/sh, in single quotes.
fn sq(v: &Value, _: &std::collections::HashMap<String, Value>) -> tera::Result<Value> {
    let s = text(v)?;
    Ok(Value::String(format!("'{}'", s.replace('\'', "'\\''"))))
}

/// `dq`: quote for jail.conf(5), in double quotes.
fn dq(v: &Value, _: &std::collections::HashMap<String, Value>) -> tera::Result<Value> {
    let s = text(v)?;
    Ok(Value::String(format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    )))
}

fn text(v: &Value) -> tera::Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Ok(other.to_string()),
    }
}

/// Write `files` under `dir`, each atomically, only where the content
/// changed; remove files an earlier rendering made that this one does not.
/// Returns the paths written or removed; any failure is output that could
/// not be written (73).
pub fn write(dir: &Path, files: &[File]) -> Result<Vec<PathBuf>> {
    use certdrop_core::atomic;
    let mut changed = Vec::new();
    let mut wanted: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for f in files {
        let path = dir.join(&f.path);
        wanted.insert(path.clone(), ());
        let parent = path.parent().unwrap_or(dir);
        atomic::ensure_dir(parent, 0o755)
            .map_err(|e| Error::cantcreat(parent, "cannot create", &e))?;
        let mode = if f.executable { 0o755 } else { 0o644 };
        let same = std::fs::read(&path)
            .map(|old| old == f.text.as_bytes())
            .unwrap_or(false)
            && std::fs::metadata(&path)
                .map(|m| {
                    use std::os::unix::fs::PermissionsExt;
                    m.permissions().mode() & 0o777 == mode
                })
                .unwrap_or(false);
        if same {
            continue;
        }
        atomic::write(&path, f.text.as_bytes(), mode)
            .map_err(|e| Error::cantcreat(&path, "cannot write", &e))?;
        changed.push(path);
    }
    // Stale per-jail files of a jail that left the site.
    for sub in [dir.to_path_buf(), dir.join("linux")] {
        let Ok(entries) = std::fs::read_dir(&sub) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let ours = ["fstab.", "crontab.", "jail-", "rc.conf.", "rc.d."]
                .iter()
                .any(|p| name.starts_with(p));
            let path = e.path();
            if ours && !wanted.contains_key(&path) {
                atomic::remove(&path).map_err(|e| Error::cantcreat(&path, "cannot remove", &e))?;
                changed.push(path);
            }
        }
    }
    Ok(changed)
}
