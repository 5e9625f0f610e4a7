//! `watch`: decide *when* to build, never *how*. Kernel file events (notify:
//! kqueue on FreeBSD, inotify on Linux) on dnsextra/, certs/, phonehome/ and
//! the zones' source files are debounced into one call of the same build
//! `build` runs from cron; a periodic build renews signatures when nothing
//! moves. A failed build is reported by the build itself and watching goes
//! on; only a watch that cannot start is fatal.
//!
//! An issuer's completion marker (`dnsextra/.complete.<line>`, renamed in
//! after all of an order's fragments) ends the burst at once: the set is
//! complete, no quiet spell need be waited for. Fragments without one
//! (older issuers, hooks, hand-written files) wait for the quiet spell as
//! before. The debounce keeps a flood of markers to the rate of a flood of
//! plain changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::Output;
use certdrop_core::watch::{Event, Loop};
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::config::Config;

/// Default of `--interval`: the longest time between two builds, so
/// signatures are renewed (`resign_before`) even when no file changes.
pub const DEFAULT_INTERVAL: &str = "10m";

/// Watch, build at start, then on every burst of changes and at least every
/// `interval` (the loop is certdrop-core's [`Loop`]; this module is its
/// event source). `build(first)` is the whole build; it prints its own
/// actions and errors. Exit 0 on SIGTERM/SIGINT, 66 when a directory cannot
/// be watched, 75 when the watcher cannot start.
pub fn run<B>(config: &Config, interval: Duration, out: &Output, build: B) -> Result<Outcome>
where
    B: FnMut(bool) -> Result<Outcome, Failure>,
{
    // First, before any thread exists, so that every thread inherits the
    // blocked mask and the signals reach only the thread that waits for them.
    let lp = Loop::new()?;
    let filter = Filter::of(config);
    let events = lp.sender();
    let relevant = filter.clone();
    let mut watcher = RecommendedWatcher::new(
        move |ev: notify::Result<notify::Event>| {
            let sent = match ev {
                // Ignored events are not narrated, not even with -vv: a
                // log beside the sources would narrate its own writes.
                Ok(ev) if relevant.relevant(&ev) => match relevant.completes(&ev) {
                    true => events.send(Event::Ready(format!("{} (set complete)", describe(&ev)))),
                    false => events.send(Event::Change(describe(&ev))),
                },
                Ok(_) => Ok(()),
                // Lost events (a full queue, a vanished directory): rebuild
                // rather than guess what was missed.
                Err(e) => events.send(Event::Lost(why(&e))),
            };
            // The loop has ended: nothing listens any more.
            drop(sent);
        },
        // certs/<line> are symlinks into certs/.v/, which is watched anyway.
        notify::Config::default().with_follow_symlinks(false),
    )
    .map_err(|e| Error::temp(format!("watch: cannot start: {e}")))?;
    let roots = &filter.roots;
    for (dir, mode) in roots.dirs() {
        if !dir.is_dir() {
            return Err(Error::noinput(format!(
                "{}: cannot watch: not a directory",
                dir.display()
            )));
        }
        watcher
            .watch(dir, mode)
            .map_err(|e| Error::noinput(format!("{}: cannot watch: {}", dir.display(), why(&e))))?;
        let below = if mode == RecursiveMode::Recursive {
            " and below"
        } else {
            ""
        };
        out.verbose(&format!("watching {}{below}", dir.display()));
    }
    let mut armed = HashMap::new();
    arm_files(&mut watcher, &roots.files, &mut armed, out);
    // Watches first, then the first build: nothing changed during it is
    // lost. After each build, re-arm the source files it or an editor
    // replaced.
    lp.run(interval, "build", out, build, || {
        arm_files(&mut watcher, &roots.files, &mut armed, out)
    })
}

/// What is watched, as absolute paths (event paths are absolute).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// Drop directories, watched recursively: phonehome/ has a directory per
    /// host, and certs/<line> is a symlink renamed onto a new certs/.v/
    /// directory, so any event under certs/ counts as a change.
    pub trees: Vec<PathBuf>,
    /// Directories of the zones' source files, watched alone (not their
    /// subdirectories): an editor that writes a new file and renames it
    /// over the old one shows up here.
    pub dirs: Vec<PathBuf>,
    /// The source files themselves: kqueue reports a write inside a file
    /// only on a watch of that file (inotify reports it on the directory).
    pub files: Vec<PathBuf>,
}

impl Roots {
    /// The roots of `config`; sources under a drop directory are covered
    /// by its recursive watch.
    pub fn of(config: &Config) -> Roots {
        let mut trees: Vec<PathBuf> = Vec::new();
        for t in [&config.dnsextra, &config.certs, &config.phonehome]
            .into_iter()
            .flatten()
        {
            push_new(&mut trees, absolute(t));
        }
        let covered = |p: &Path| trees.iter().any(|t| p.starts_with(t));
        let mut dirs = Vec::new();
        let mut files = Vec::new();
        for z in &config.zones {
            // OpenDNSSEC's enforcer rewrites the signer configuration at
            // each key event: hand the zone over again then.
            let signconf = match &z.signer {
                crate::config::Signer::OpenDnssec(s) => Some(&s.signconf),
                _ => None,
            };
            for f in [
                Some(&z.soa),
                z.primary.as_ref(),
                z.tlsa_map.as_ref(),
                signconf,
            ]
            .into_iter()
            .flatten()
            {
                let f = absolute(f);
                if covered(&f) {
                    continue;
                }
                if let Some(d) = f.parent() {
                    push_new(&mut dirs, d.to_path_buf());
                }
                push_new(&mut files, f);
            }
        }
        Roots { trees, dirs, files }
    }

    /// Directories with their watch mode.
    fn dirs(&self) -> impl Iterator<Item = (&Path, RecursiveMode)> {
        let t = self
            .trees
            .iter()
            .map(|p| (p.as_path(), RecursiveMode::Recursive));
        let d = self
            .dirs
            .iter()
            .map(|p| (p.as_path(), RecursiveMode::NonRecursive));
        t.chain(d)
    }
}

fn push_new(v: &mut Vec<PathBuf>, p: PathBuf) {
    if !v.contains(&p) {
        v.push(p);
    }
}

/// `p` made absolute against the working directory, without resolving
/// symlinks (the watcher reports paths under the path it was given).
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// (Re)watch each source file whose inode changed since it was last
/// watched: a watch follows the inode, and an editor's rename leaves it on
/// the old one. A missing file is not an error here; the build says so,
/// and its directory's watch sees it come back.
fn arm_files<W: Watcher>(
    watcher: &mut W,
    files: &[PathBuf],
    armed: &mut HashMap<PathBuf, (u64, u64)>,
    out: &Output,
) {
    use std::os::unix::fs::MetadataExt;
    for f in files {
        let Ok(meta) = std::fs::metadata(f) else {
            armed.remove(f);
            continue;
        };
        let id = (meta.dev(), meta.ino());
        if armed.get(f) == Some(&id) {
            continue;
        }
        match watcher.watch(f, RecursiveMode::NonRecursive) {
            Ok(()) => {
                armed.insert(f.clone(), id);
            }
            Err(e) => out.debug(&format!("{}: cannot watch: {}", f.display(), why(&e))),
        }
    }
}

/// Which events may change a zone.
#[derive(Debug, Clone)]
pub struct Filter {
    roots: Roots,
    dnsextra: Option<PathBuf>,
    build: PathBuf,
    install: PathBuf,
    zone_files: Vec<String>,
}

impl Filter {
    /// From the configuration.
    pub fn of(config: &Config) -> Filter {
        Filter {
            roots: Roots::of(config),
            dnsextra: config.dnsextra.as_deref().map(absolute),
            build: absolute(&config.build),
            install: absolute(&config.install),
            zone_files: config
                .zones
                .iter()
                .map(|z| format!("{}.zone", z.name))
                .collect(),
        }
    }

    /// What the build writes itself, so that its own writes never trigger
    /// the next build (the build tree or nsd's directory may lie in a
    /// watched one): the build tree, an installed zone or its temporary.
    fn is_ours(&self, p: &Path) -> bool {
        if p.starts_with(&self.build) {
            return true;
        }
        let (Some(dir), Some(name)) = (p.parent(), p.file_name().and_then(|n| n.to_str())) else {
            return false;
        };
        dir == self.install
            && self.zone_files.iter().any(|z| {
                name == z
                    || name
                        .strip_prefix(certdrop_core::atomic::TEMP_PREFIX)
                        .is_some_and(|rest| rest.starts_with(&format!("{z}.")))
            })
    }

    /// Whether `p` may be an input, for an event of `kind`: anything under
    /// a drop directory; in a source directory the source files, the
    /// directory itself, and creations (kqueue names the file a directory
    /// write was about by guessing, so a rename over a source may come as
    /// the creation of another name). A log written beside the sources is
    /// not an input.
    fn is_input(&self, p: &Path, kind: &EventKind) -> bool {
        let r = &self.roots;
        r.trees.iter().any(|t| p.starts_with(t))
            || r.files.iter().any(|f| f == p)
            || r.dirs.iter().any(|d| d == p)
            || (matches!(kind, EventKind::Create(_))
                && p.parent()
                    .is_some_and(|parent| r.dirs.iter().any(|d| d == parent)))
    }

    /// Whether `ev` may change a zone: not a read (inotify reports opens,
    /// and the build itself reads every watched file), not our own write,
    /// about an input. Lost events and events without a path always count.
    pub fn relevant(&self, ev: &notify::Event) -> bool {
        if ev.need_rescan() || ev.paths.is_empty() {
            return true;
        }
        if let EventKind::Access(a) = ev.kind {
            if a != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        ev.paths
            .iter()
            .any(|p| !self.is_ours(p) && self.is_input(p, &ev.kind))
    }
}

impl Filter {
    /// Whether `ev` is a completion marker coming into `dnsextra/` (created
    /// there, or renamed onto its name): every fragment of an order is in
    /// place. Its content is never read; a marker removed, or anything
    /// else done to it, is a plain change.
    pub fn completes(&self, ev: &notify::Event) -> bool {
        let Some(dnsextra) = &self.dnsextra else {
            return false;
        };
        let target = match ev.kind {
            EventKind::Create(_) => ev.paths.first(),
            EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Any)) => {
                ev.paths.first()
            }
            // From, then to.
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => ev.paths.get(1),
            _ => None,
        };
        target.is_some_and(|p| {
            p.parent() == Some(dnsextra.as_path())
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(certdrop_core::fragment::is_marker)
        })
    }
}

/// One line for `-v`: the path(s) and what happened.
fn describe(ev: &notify::Event) -> String {
    let what = match ev.kind {
        _ if ev.need_rescan() => "events lost, rescanning",
        EventKind::Create(_) => "created",
        EventKind::Remove(_) => "removed",
        EventKind::Modify(ModifyKind::Name(_)) => "renamed",
        EventKind::Modify(ModifyKind::Metadata(_)) => "attributes changed",
        EventKind::Modify(_) => "modified",
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => "written",
        EventKind::Access(_) => "read",
        EventKind::Any | EventKind::Other => "changed",
    };
    let paths: Vec<String> = ev.paths.iter().map(|p| p.display().to_string()).collect();
    if paths.is_empty() {
        format!("event: {what}")
    } else {
        format!("{}: {what}", paths.join(" -> "))
    }
}

/// The cause in a notify error, without its debug-formatted path list.
fn why(e: &notify::Error) -> String {
    match &e.kind {
        notify::ErrorKind::Io(io) => io.to_string(),
        notify::ErrorKind::PathNotFound => "no such file or directory".into(),
        notify::ErrorKind::MaxFilesWatch => "too many watches (raise the kernel's limit)".into(),
        notify::ErrorKind::Generic(s) => s.clone(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Flag};
    use notify::Event;
    use std::sync::mpsc;

    fn config(dir: &Path) -> Config {
        let text = "build = \"b\"\ninstall = \"zones\"\ndnsextra = \"drop\"\ncerts = \"certs\"\n\
                    [[zone]]\nname = \"example.test\"\nsoa = \"src/soa\"\nprimary = \"src/primary\"\n\
                    tlsa_map = \"drop/tlsa.map\"\nsigner = \"none\"\n\
                    [[zone]]\nname = \"other.test\"\nsoa = \"src/soa2\"\nsigner = \"none\"\n";
        Config::parse(&dir.join("zone.toml"), text).expect("config")
    }

    #[test]
    fn roots_are_drop_trees_and_source_directories() {
        let r = Roots::of(&config(Path::new("/etc/z")));
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(r.trees, [p("/etc/z/drop"), p("/etc/z/certs")]);
        assert_eq!(r.dirs, [p("/etc/z/src")]);
        // The map under drop/ is covered by the recursive watch.
        assert_eq!(
            r.files,
            [
                p("/etc/z/src/soa"),
                p("/etc/z/src/primary"),
                p("/etc/z/src/soa2")
            ]
        );
    }

    #[test]
    fn relative_config_paths_become_absolute() {
        let r = Roots::of(&config(Path::new("")));
        let cwd = std::env::current_dir().expect("cwd");
        assert_eq!(r.trees[0], cwd.join("drop"));
        assert!(r.dirs.iter().all(|d| d.is_absolute()));
    }

    fn ev(kind: EventKind, path: &str) -> Event {
        Event::new(kind).add_path(PathBuf::from(path))
    }

    #[test]
    fn reads_our_own_writes_and_other_files_are_not_changes() {
        let f = Filter::of(&config(Path::new("/etc/z")));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(f.relevant(&ev(write, "/etc/z/drop/a")));
        assert!(f.relevant(&ev(write, "/etc/z/certs/.v/www.2/cert.pem")));
        // The issuer's account file (dns-persist-01 records), renamed in.
        let renamed = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/etc/z/certs/.accounts/.tmp.default"))
            .add_path(PathBuf::from("/etc/z/certs/.accounts/default.json"));
        assert!(f.relevant(&renamed));
        assert!(f.relevant(&ev(EventKind::Create(CreateKind::File), "/etc/z/src/soa")));
        assert!(f.relevant(&ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/etc/z/drop/a"
        )));
        // The build opens and reads every input: no feedback loop.
        for a in [
            AccessKind::Open(AccessMode::Any),
            AccessKind::Close(AccessMode::Read),
            AccessKind::Read,
        ] {
            assert!(!f.relevant(&ev(EventKind::Access(a), "/etc/z/drop/a")));
        }
        // Path components, not string prefixes.
        assert!(!f.relevant(&ev(write, "/etc/z/drop2/a")));
        // Beside the sources: a log is not an input, a new name may be.
        assert!(!f.relevant(&ev(write, "/etc/z/src/watch.log")));
        assert!(f.relevant(&ev(EventKind::Create(CreateKind::Any), "/etc/z/src/x")));
        assert!(f.relevant(&ev(write, "/etc/z/src")));
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/etc/z/src/.soa.swp"))
            .add_path(PathBuf::from("/etc/z/src/soa"));
        assert!(f.relevant(&rename));
        // Lost events and pathless events count.
        assert!(f.relevant(&Event::new(EventKind::Other).set_flag(Flag::Rescan)));
        assert!(f.relevant(&Event::new(EventKind::Any)));
    }

    #[test]
    fn a_marker_coming_into_dnsextra_completes_a_set() {
        let f = Filter::of(&config(Path::new("/etc/z")));
        let rename = |from: &str, to: &str| {
            Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
                .add_path(PathBuf::from(from))
                .add_path(PathBuf::from(to))
        };
        let create = EventKind::Create(CreateKind::File);
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(f.completes(&rename(
            "/etc/z/drop/.tmp.x.1.2",
            "/etc/z/drop/.complete.www"
        )));
        assert!(f.completes(&ev(to, "/etc/z/drop/.complete.www")));
        // kqueue reports a name coming into a directory as a creation.
        assert!(f.completes(&ev(create, "/etc/z/drop/.complete.www")));
        // Not a marker: leaving, written to, removed, elsewhere, a fragment.
        assert!(!f.completes(&rename("/etc/z/drop/.complete.www", "/etc/z/drop/.tmp.y")));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(!f.completes(&ev(write, "/etc/z/drop/.complete.www")));
        let removed = EventKind::Remove(notify::event::RemoveKind::File);
        assert!(!f.completes(&ev(removed, "/etc/z/drop/.complete.www")));
        assert!(!f.completes(&ev(create, "/etc/z/drop/sub/.complete.www")));
        assert!(!f.completes(&ev(create, "/etc/z/certs/.complete.www")));
        assert!(!f.completes(&ev(create, "/etc/z/drop/.complete.")));
        assert!(!f.completes(&ev(
            create,
            "/etc/z/drop/_acme-challenge.www.example.test.x"
        )));
        // Still a relevant change, for a build without the marker logic.
        assert!(f.relevant(&ev(create, "/etc/z/drop/.complete.www")));
    }

    #[test]
    fn the_build_never_triggers_itself() {
        // nsd's directory holds the sources, the build tree lies under a
        // drop directory: the build's own writes still do not count.
        let text = "build = \"drop/build\"\ninstall = \"src\"\ndnsextra = \"drop\"\n\
                    [[zone]]\nname = \"example.test\"\nsoa = \"src/soa\"\nsigner = \"none\"\n";
        let f = Filter::of(&Config::parse(Path::new("/etc/z/zone.toml"), text).expect("config"));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let create = EventKind::Create(CreateKind::File);
        assert!(!f.relevant(&ev(write, "/etc/z/drop/build/state/example.test.json")));
        assert!(!f.relevant(&ev(create, "/etc/z/drop/build/.lock")));
        assert!(!f.relevant(&ev(write, "/etc/z/src/example.test.zone")));
        assert!(!f.relevant(&ev(create, "/etc/z/src/.tmp.example.test.zone.77.3")));
        let installed = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from("/etc/z/src/.tmp.example.test.zone.77.3"))
            .add_path(PathBuf::from("/etc/z/src/example.test.zone"));
        assert!(!f.relevant(&installed));
        // Beside them, the inputs still count.
        assert!(f.relevant(&ev(write, "/etc/z/src/soa")));
        assert!(f.relevant(&ev(create, "/etc/z/drop/a")));
        assert!(f.relevant(&ev(create, "/etc/z/src/example.test.zone.new")));
    }

    #[test]
    fn source_files_are_rewatched_when_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("soa");
        std::fs::write(&f, "a").expect("write");
        let (tx, _rx) = mpsc::channel();
        let mut w = RecommendedWatcher::new(tx, notify::Config::default()).expect("watcher");
        let out = Output::new("test", certdrop_core::output::Verbosity::Quiet);
        let mut armed = HashMap::new();
        let files = [f.clone(), dir.path().join("missing")];
        arm_files(&mut w, &files, &mut armed, &out);
        let first = armed[&f];
        assert_eq!(armed.len(), 1);
        // Rename over it: a new inode, armed again.
        let tmp = dir.path().join("soa.new");
        std::fs::write(&tmp, "b").expect("write");
        std::fs::rename(&tmp, &f).expect("rename");
        arm_files(&mut w, &files, &mut armed, &out);
        assert_ne!(armed[&f], first);
    }
}
