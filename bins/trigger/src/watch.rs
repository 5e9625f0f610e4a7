//! `watch`: the event source of certdrop-core's one watch loop
//! (certdrop_core::watch::Loop, which decides *when* to run and debounces).
//! Kernel file events under pub/ (notify: kqueue on FreeBSD, inotify on
//! Linux) that may change what is published are sent to it; the loop calls
//! the same run `run` does from cron, and a periodic run catches what no
//! event announces (a certificate expiring, a service restarted by hand,
//! files outside pub/). A failed run is reported and watching goes on; only
//! a watch that cannot start is fatal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_core::watch::{self as loop_, Loop};
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::config::Config;

/// Default of `--interval`: the longest time between two runs.
pub const DEFAULT_INTERVAL: &str = "10m";

/// Watch pub/, run at start, then on every burst of changes and at least
/// every `interval` (certdrop-core's loop). `run(first)` is the whole run;
/// its error is printed and watching goes on. Exit 0 on SIGTERM/SIGINT,
/// 66 when pub/ cannot be watched, 75 when the watcher cannot start.
pub fn run<R>(config: &Config, interval: Duration, out: &Output, mut run: R) -> Result<Outcome>
where
    R: FnMut(bool) -> Result<Outcome>,
{
    // Before the watcher's thread exists, so it inherits the blocked mask.
    let watch = Loop::new()?;
    let events = watch.sender();
    let root = absolute(&config.pub_dir);
    let filter = Filter {
        root: root.clone(),
        state: absolute(&config.state),
    };
    let mut watcher = RecommendedWatcher::new(
        move |ev: notify::Result<Event>| {
            let _ = match ev {
                Ok(ev) if filter.relevant(&ev) => events.send(loop_::Event::Change(format!(
                    "changed: {}",
                    ev.paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ))),
                Ok(_) => Ok(()),
                Err(e) => events.send(loop_::Event::Lost(e.to_string())),
            };
        },
        // pub/<line> are symlinks into pub/.v/, which is watched anyway.
        notify::Config::default().with_follow_symlinks(false),
    )
    .map_err(|e| Error::temp(format!("watch: cannot start: {e}")))?;
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| Error::noinput(format!("{}: cannot watch: {e}", root.display())))?;
    out.verbose(&format!("watching {} and below", root.display()));
    // `watcher` lives until the loop returns: it is the event source.
    watch.run(
        interval,
        "run",
        out,
        |first| run(first).map_err(|e| e.report(out)),
        || {},
    )
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Which events may change what is published.
#[derive(Debug)]
struct Filter {
    root: PathBuf,
    state: PathBuf,
}

impl Filter {
    /// Not a read (the run reads every published file), not our own state
    /// (should it lie under pub/), under pub/. Lost events always count.
    fn relevant(&self, ev: &Event) -> bool {
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
            .any(|p| p.starts_with(&self.root) && !p.starts_with(&self.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind};

    #[test]
    fn only_writes_under_pub_count() {
        let f = Filter {
            root: PathBuf::from("/pub"),
            state: PathBuf::from("/pub/state"),
        };
        let ev = |kind, p: &str| Event::new(kind).add_path(PathBuf::from(p));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(f.relevant(&ev(write, "/pub/.v/www.1/cert.pem")));
        assert!(f.relevant(&ev(EventKind::Create(CreateKind::Any), "/pub/www")));
        assert!(!f.relevant(&ev(
            EventKind::Access(AccessKind::Read),
            "/pub/www/cert.pem"
        )));
        assert!(!f.relevant(&ev(write, "/pub/state/www.json")));
        assert!(!f.relevant(&ev(write, "/pub2/x")));
        assert!(f.relevant(&Event::new(EventKind::Any)));
    }
}
