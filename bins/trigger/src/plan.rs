//! The no-op plan: what a `run` over every service rested on, when it
//! found nothing to do for any of them, so that the next `run` can say the
//! same after a few stat calls, without reading trigger.toml's services.
//!
//! The per-service records (src/quiet.rs) skip the signatures and the
//! files, but a pass still parses the whole configuration and hashes every
//! service's settings: at 1,000 services that was 10 ms of a 32 ms no-op,
//! more than the seed's whole shell loop. The plan is one file,
//! `<state>/plan`, written at the end of a pass in which every service
//! took or earned its no-op record:
//!
//! - a key over what the services are made of: the configuration's text
//!   (not its metadata: a file rewritten within one clock tick keeps its
//!   mtime), the text of every definition file the load looked for, in
//!   order, and the absence of those it did not find (one put into an
//!   earlier directory would win), the allowed_signers text, the working
//!   directory (relative paths) and this program's version;
//! - every path the services' fingerprints looked at, each once, and a sum
//!   over their metadata as those fingerprints saw it before the decisions
//!   were made (a path seen twice in one pass with different metadata
//!   spoils the plan). A published version directory counts with its own
//!   metadata, which moves when a file is added, removed or renamed in it,
//!   so the plan lists its files without reading it (the line's link is
//!   looked through). Any other symlink counts with its own metadata and
//!   its target's.
//! - the end of the earliest certificate validity the decisions rested on,
//!   or an allowed signer's valid-before if sooner (the records keep it
//!   too): past it, the full pass looks again and says what it finds, as
//!   it would have without either.
//!
//! The next `run` (all services, no `--force`, no `-v`) finds the state
//! directory from the one top-level `state = "..."` line (none inside a
//! multi-line string), reads the plan (a regular file of ours, mode 0600,
//! not through a symlink), checks the key, keeps the state directory
//! private and takes its lock as any run does, and stats the paths
//! (directories opened without waiting: a FIFO in their place is refused). Everything as it was: nothing to do (exit 2), and nothing is
//! written. Anything else, or any doubt (a line it cannot read, a `state`
//! written in another way), is the full pass, which writes a new plan or
//! removes the old one. It is written as the records are (renamed into
//! place, not fsynced): lost in a crash it costs one full pass; an old one
//! that comes back holds a sum that matches only if nothing changed.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::Result;
use certdrop_core::fingerprint::{meta, meta_at, mix_meta, Meta};
use certdrop_core::lock::StateLock;
use sha2::{Digest, Sha256};

use crate::config::Config;

/// `<state>/plan`.
pub const FILE: &str = "plan";
/// The first line; a plan of another format is not read.
const MAGIC: &str = "certdrop-trigger no-op plan 1";

/// What the fingerprints of one pass looked at, in order, each path once.
#[derive(Debug, Default)]
pub struct Collector {
    /// Whether this pass may write a plan (a `run` over all services,
    /// without `--force`).
    on: bool,
    /// (path, followed): a symlink counts with its own metadata and with
    /// its target's.
    order: RefCell<Vec<(PathBuf, bool)>>,
    seen: RefCell<HashMap<(PathBuf, bool), Meta>>,
    /// A path seen twice with different metadata: something changed
    /// during the pass.
    spoiled: Cell<bool>,
    /// Services that ended with their no-op record.
    quiet: Cell<usize>,
    /// The end of the earliest certificate validity those records rest on.
    until: Cell<Option<i64>>,
}

impl Collector {
    /// A collector; `on` says whether the pass may write a plan at all.
    pub fn new(on: bool) -> Collector {
        Collector {
            on,
            ..Collector::default()
        }
    }

    /// A fingerprint looked at `path` (at what it points to when
    /// `followed`) and saw `m`.
    pub fn note(&self, path: &Path, followed: bool, m: &Meta) {
        if !self.on {
            return;
        }
        let key = (path.to_path_buf(), followed);
        let mut seen = self.seen.borrow_mut();
        match seen.get(&key) {
            Some(old) if old != m => self.spoiled.set(true),
            Some(_) => {}
            None => {
                seen.insert(key.clone(), *m);
                self.order.borrow_mut().push(key);
            }
        }
    }

    /// A service ended with nothing to do and its no-op record, which
    /// stands until `until` (src/quiet.rs).
    pub fn quiet(&self, until: i64) {
        self.quiet.set(self.quiet.get() + 1);
        self.until
            .set(Some(self.until.get().map_or(until, |u| u.min(until))));
    }

    /// At the end of a pass: write the plan when every service of the
    /// configuration ended quiet, else remove an old one (best effort
    /// both: without a plan the next run is a full pass).
    pub fn settle(&self, config: &Config, signers: Option<&str>) {
        if !self.on {
            return;
        }
        let path = config.state.join(FILE);
        let all = self.quiet.get() == config.services.len() && !config.services.is_empty();
        let text = if all && !self.spoiled.get() {
            self.render(config, signers)
        } else {
            None
        };
        match text {
            Some(text) => {
                // Compared as the next run reads it: a plan it would not
                // take (a symlink, another mode) is written again.
                if read_own(&path).as_deref() != Some(text.as_str()) {
                    let _ = certdrop_core::atomic::write_with(
                        &path,
                        text.as_bytes(),
                        certdrop_core::atomic::MODE_SECRET,
                        None,
                        certdrop_core::atomic::Durability::Whole,
                    );
                }
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    /// The plan's text; None when a path cannot be written on one line.
    fn render(&self, config: &Config, signers: Option<&str>) -> Option<String> {
        let signers_path = config.allowed_signers.as_deref();
        let key = key(
            &config.path,
            config.digest,
            &config.definition_files,
            signers_path.map(|p| (p, signers.map(str::as_bytes))),
        )?;
        let seen = self.seen.borrow();
        let mut sum = Sha256::new();
        let mut text = format!(
            "{MAGIC}\nconfig {}\nstate {}\nlock_wait {}\nuntil {}\nsigners {}\n",
            one_line(&config.path)?,
            one_line(&config.state)?,
            config.lock_wait.as_millis(),
            self.until.get()?,
            match signers_path {
                Some(p) => one_line(p)?,
                None => "-",
            }
        );
        for (file, _) in &config.definition_files {
            text += &format!("def {}\n", one_line(file)?);
        }
        let mut paths = String::new();
        // By directory, so that the next run opens each once and looks up
        // one name in it per path (`holds`).
        let mut order: Vec<(&Path, &std::ffi::OsStr, bool)> = Vec::new();
        let recorded = self.order.borrow();
        for (p, followed) in recorded.iter() {
            order.push((p.parent()?, p.file_name()?, *followed));
        }
        order.sort();
        let mut group: Option<&Path> = None;
        for (parent, name, followed) in order {
            if group != Some(parent) {
                group = Some(parent);
                let dir = if parent.as_os_str().is_empty() {
                    "."
                } else {
                    one_line(parent)?
                };
                mix_dir(&mut sum, dir);
                paths += &format!("dir {dir}\n");
            }
            let name = nonempty(name.to_str()?)?;
            let m = seen.get(&(parent.join(name), followed))?;
            mix(&mut sum, name, followed, m);
            let tag = if followed { "target" } else { "path" };
            paths += &format!("{tag} {name}\n");
        }
        text += &format!("key {key}\nsum {}\n", hex(&sum.finalize()));
        Some(text + &paths)
    }
}

/// Mix the start of a directory's paths into the plan's sum.
fn mix_dir(sum: &mut Sha256, dir: &str) {
    sum.update(b"dir\0");
    sum.update(dir.as_bytes());
    sum.update([0]);
}

/// Mix one name's metadata into the plan's sum.
fn mix(sum: &mut Sha256, name: &str, followed: bool, m: &Meta) {
    sum.update(if followed {
        &b"target\0"[..]
    } else {
        &b"path\0"[..]
    });
    mix_meta(sum, Path::new(name), m);
}

/// Text that fits on one line of the plan and is not empty, or None.
fn nonempty(s: &str) -> Option<&str> {
    (!s.is_empty() && !s.contains('\n')).then_some(s)
}

/// A path as one line of the plan, or None.
fn one_line(p: &Path) -> Option<&str> {
    p.to_str().filter(|s| !s.contains('\n') && !s.is_empty())
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    certdrop_core::certinfo::hex(bytes)
}

/// The key: what the services are made of (the module's header).
/// `defs` are the definition files looked for with the hash of each text
/// found; `signers` the allowed_signers file and its text (None: could not
/// be read). None when the working directory is unknown.
fn key(
    config: &Path,
    digest: [u8; 32],
    defs: &[(PathBuf, Option<[u8; 32]>)],
    signers: Option<(&Path, Option<&[u8]>)>,
) -> Option<String> {
    let cwd = std::env::current_dir().ok()?;
    let mut h = Sha256::new();
    for part in [
        MAGIC.as_bytes(),
        env!("CARGO_PKG_VERSION").as_bytes(),
        cwd.as_os_str().as_encoded_bytes(),
        config.as_os_str().as_encoded_bytes(),
        &digest,
    ] {
        h.update(part);
        h.update([0]);
    }
    for (file, text) in defs {
        h.update(file.as_os_str().as_encoded_bytes());
        match text {
            Some(t) => {
                h.update([1]);
                h.update(t);
            }
            None => h.update([0]),
        }
    }
    match signers {
        Some((p, text)) => {
            h.update(b"signers\0");
            h.update(p.as_os_str().as_encoded_bytes());
            h.update([0]);
            h.update(Sha256::digest(text?));
        }
        None => h.update(b"no signers\0"),
    }
    Some(hex(&h.finalize()))
}

/// Whether the plan says this `run` has nothing to do: the configuration
/// at `path` (its `text` read), the plan's key and every path's metadata
/// as the pass that wrote it saw them. Ok(false) for any doubt; an error
/// only from the state lock (busy: 75), as the full pass would give.
pub fn holds(path: &Path, text: &str, digest: [u8; 32]) -> Result<bool> {
    let src = certdrop_core::tomlcfg::Source { path, text };
    let Some(state) = state_line(text).map(|s| src.abs(Path::new(s))) else {
        return Ok(false);
    };
    let Some(plan) = read_own(&state.join(FILE)) else {
        return Ok(false);
    };
    let Some(plan) = Plan::parse(&plan) else {
        return Ok(false);
    };
    if Path::new(plan.config) != path || Path::new(plan.state) != state {
        return Ok(false);
    }
    let mut defs = Vec::with_capacity(plan.defs.len());
    for file in &plan.defs {
        let text = match std::fs::read(file) {
            Ok(t) => Some(Sha256::digest(&t).into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(_) => return Ok(false),
        };
        defs.push((PathBuf::from(file), text));
    }
    let signers_text;
    let signers = match plan.signers {
        "-" => None,
        p => {
            signers_text = std::fs::read(p).ok();
            Some((Path::new(p), signers_text.as_deref()))
        }
    };
    if key(path, digest, &defs, signers).as_deref() != Some(plan.key) {
        return Ok(false);
    }
    // As any run: the state directory kept private, and another run may
    // be deploying right now.
    if certdrop_core::atomic::ensure_dir(&state, certdrop_core::atomic::MODE_SECRET_DIR).is_err() {
        return Ok(false);
    }
    let _lock = StateLock::acquire(&state, plan.lock_wait)?;
    // After the wait for the lock, which may be long.
    if certdrop_core::clock::now() > plan.until {
        return Ok(false);
    }
    let mut sum = Sha256::new();
    // The paths come by directory: each directory is opened once and each
    // name looked up in it (a whole path walked for every file was most
    // of this pass's time). The numbers are the same (fstatat, as
    // certdrop_core::fingerprint::meta_at says); a directory that cannot
    // be opened (search permission only) is looked through the path.
    for (dir, names) in &plan.dirs {
        mix_dir(&mut sum, dir);
        let path = Path::new(dir);
        let open = open_dir(path);
        for (name, followed) in names {
            let m = match &open {
                Some(d) => meta_at(d, std::ffi::OsStr::new(name), *followed),
                None => by_path(&path.join(name), *followed),
            };
            mix(&mut sum, name, *followed, &m);
        }
    }
    Ok(hex(&sum.finalize()) == plan.sum)
}

/// A directory opened to look names up in it; never waits (a FIFO put
/// where a directory was is refused, not opened for reading under the
/// state lock). None: look through the whole path.
fn open_dir(path: &Path) -> Option<std::fs::File> {
    use nix::fcntl::OFlag;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NONBLOCK).bits())
        .open(path)
        .ok()
}

/// The plan's text when it is a regular file of ours that only we can
/// read and write (as it is written): not followed through a symlink, a
/// FIFO never waited on. None otherwise.
fn read_own(path: &Path) -> Option<String> {
    use nix::fcntl::OFlag;
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
        .open(path)
        .ok()?;
    let m = file.metadata().ok()?;
    if !m.is_file() || m.uid() != nix::unistd::geteuid().as_raw() || m.mode() & 0o077 != 0 {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

/// A path's [`Meta`] through the whole path.
fn by_path(p: &Path, followed: bool) -> Meta {
    if followed {
        meta(&std::fs::metadata(p))
    } else {
        meta(&std::fs::symlink_metadata(p))
    }
}

/// The value of the one top-level `state = "..."` (or `'...'`) line, or
/// None: no such line, two, a string with escapes or anything it does not
/// read for sure. A wrong answer costs nothing but a full pass: a plan
/// only holds under the key of this very text, and only a pass that
/// loaded this text wrote one, into the state directory it parsed.
fn state_line(text: &str) -> Option<&str> {
    let mut found = None;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with('[') {
            break;
        }
        // A multi-line string may hold a line that looks like `state`.
        if t.contains("\"\"\"") || t.contains("'''") {
            return None;
        }
        let Some(rest) = t.strip_prefix("state") else {
            continue;
        };
        let Some(value) = rest.trim_start().strip_prefix('=') else {
            continue;
        };
        let value = value.trim();
        let quote = value.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let body = &value[1..];
        let end = body.find(quote)?;
        let after = body[end + 1..].trim_start();
        if body[..end].contains('\\') || !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        if found.replace(&body[..end]).is_some() {
            return None;
        }
    }
    found.filter(|s| !s.is_empty())
}

/// A plan as read.
struct Plan<'a> {
    config: &'a str,
    state: &'a str,
    lock_wait: Duration,
    /// The earliest end of a certificate's validity the decisions
    /// rested on: after it, a full pass (which refuses the expired one).
    until: i64,
    signers: &'a str,
    defs: Vec<&'a str>,
    key: &'a str,
    sum: &'a str,
    /// Each directory with its names, followed or not.
    dirs: Vec<(&'a str, Vec<(&'a str, bool)>)>,
}

impl<'a> Plan<'a> {
    /// None for anything but a whole plan of this format.
    fn parse(text: &'a str) -> Option<Plan<'a>> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
        let config = field("config")?;
        let state = field("state")?;
        let lock_wait = Duration::from_millis(field("lock_wait")?.parse().ok()?);
        let until = field("until")?.parse().ok()?;
        let signers = field("signers")?;
        let mut plan = Plan {
            config,
            state,
            lock_wait,
            until,
            signers,
            defs: Vec::new(),
            key: "",
            sum: "",
            dirs: Vec::new(),
        };
        for line in lines {
            let (tag, value) = line.split_once(' ')?;
            match tag {
                "def" if plan.key.is_empty() => plan.defs.push(value),
                "key" if plan.key.is_empty() => plan.key = value,
                "sum" if !plan.key.is_empty() && plan.sum.is_empty() => plan.sum = value,
                "dir" if !plan.sum.is_empty() => plan.dirs.push((value, Vec::new())),
                "path" | "target" if !value.contains('/') => {
                    plan.dirs.last_mut()?.1.push((value, tag == "target"))
                }
                _ => return None,
            }
        }
        (!plan.sum.is_empty() && text.ends_with('\n')).then_some(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_line_is_read_only_when_it_is_unambiguous() {
        let cases: &[(&str, Option<&str>)] = &[
            ("pub = \"p\"\nstate = \"/var/db/t\"\n", Some("/var/db/t")),
            ("  state='s' # here\n", Some("s")),
            ("state = \"a\"\nstate = \"b\"\n", None),
            ("state = \"a\\tb\"\n", None),
            ("state = \"a\" x\n", None),
            ("state = s\n", None),
            ("[x]\nstate = \"a\"\n", None),
            ("statefoo = \"a\"\n", None),
            ("\"state\" = \"a\"\n", None),
            (
                "signer = \"\"\"\nstate = \"/tmp/x\"\n\"\"\"\nstate = \"s\"\n",
                None,
            ),
            ("a = \'\'\'x\'\'\'\nstate = \"s\"\n", None),
            ("state = \"\"\n", None),
        ];
        for (text, want) in cases {
            assert_eq!(state_line(text), *want, "{text:?}");
        }
    }

    #[test]
    fn a_plan_parses_only_whole_and_in_order() {
        let good = format!(
            "{MAGIC}\nconfig c\nstate s\nlock_wait 5\nuntil 9\nsigners -\ndef d\nkey k\nsum s\ndir x\npath a\ntarget b\n"
        );
        let p = Plan::parse(&good).expect("parses");
        assert_eq!(
            (p.defs, p.key, p.sum, p.dirs),
            (
                vec!["d"],
                "k",
                "s",
                vec![("x", vec![("a", false), ("b", true)])]
            )
        );
        assert!(Plan::parse(&good[..good.len() - 1]).is_none(), "torn");
        assert!(Plan::parse(&good.replace("def d\n", "")).is_some());
        assert!(Plan::parse(&good.replace("sum s\n", "")).is_none());
        assert!(Plan::parse(&good.replace("path a", "def a")).is_none());
        assert!(
            Plan::parse(&good.replace("dir x\n", "")).is_none(),
            "no dir"
        );
        assert!(Plan::parse(&good.replace("path a", "path a/b")).is_none());
        assert!(Plan::parse(&good.replace("lock_wait 5", "lock_wait x")).is_none());
        assert!(Plan::parse(&good.replace("plan 1", "plan 2")).is_none());
        assert!(Plan::parse("").is_none());
    }
}
