//! The file-event source shared by the `watch` modes that watch one tree
//! (certdrop-trigger watch on pub/, certdrop-publish watch on certs/):
//! notify (kqueue on FreeBSD, inotify on Linux) on a directory and below,
//! reads dropped, lost events always counted, the binary's own predicate
//! deciding which paths may change its result, and [`Loop`] deciding when
//! to run. Behind the `notify` feature, so that a binary that watches
//! nothing links no file-watching library.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event as FsEvent, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::{Event, Loop};
use crate::error::Error;
use crate::exit::Outcome;
use crate::output::Output;

/// Watch `root` and below, run at start, then on every burst of events on
/// a path that `relevant` accepts and at least every `interval` (the
/// [`Loop`]). `run(first)` is the whole run; its error is printed and
/// watching goes on. Symlinks are not followed (a versioned tree's links
/// point into its `.v/`, which is watched anyway). Exit 0 on SIGTERM or
/// SIGINT, 66 when `root` cannot be watched, 75 when the watcher cannot
/// start.
pub fn run<P, R>(
    root: &Path,
    relevant: P,
    interval: Duration,
    out: &Output,
    mut run: R,
) -> Result<Outcome, Error>
where
    P: Fn(&Path) -> bool + Send + 'static,
    R: FnMut(bool) -> Result<Outcome, Error>,
{
    // Before the watcher's thread exists, so it inherits the blocked mask.
    let watch = Loop::new()?;
    let events = watch.sender();
    let root = absolute(root);
    let mut watcher = RecommendedWatcher::new(
        move |ev: notify::Result<FsEvent>| {
            let _ = match ev {
                Ok(ev) => match classify(&ev, &relevant) {
                    Some(e) => events.send(e),
                    None => Ok(()),
                },
                Err(e) => events.send(Event::Lost(e.to_string())),
            };
        },
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

/// An absolute path (notify reports absolute paths), or `p` as it is.
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// What one file event tells the loop: nothing for a read (a run reads
/// the files it watches) or for paths `relevant` rejects; a change
/// otherwise. An event without paths or asking for a rescan always counts.
fn classify<P: Fn(&Path) -> bool>(ev: &FsEvent, relevant: &P) -> Option<Event> {
    if ev.need_rescan() || ev.paths.is_empty() {
        return Some(Event::Change(format!("changed: {:?}", ev.kind)));
    }
    if let EventKind::Access(a) = ev.kind {
        if a != AccessKind::Close(AccessMode::Write) {
            return None;
        }
    }
    if !ev.paths.iter().any(|p| relevant(p)) {
        return None;
    }
    let paths: Vec<String> = ev.paths.iter().map(|p| p.display().to_string()).collect();
    Some(Event::Change(format!("changed: {}", paths.join(" "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, ModifyKind};

    #[test]
    fn reads_and_rejected_paths_do_not_count() {
        let keep = |p: &Path| !p.starts_with("/t/skip");
        let ev = |kind, p: &str| FsEvent::new(kind).add_path(PathBuf::from(p));
        let counts = |e: &FsEvent| matches!(classify(e, &keep), Some(Event::Change(_)));
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        assert!(counts(&ev(write, "/t/a")));
        assert!(counts(&ev(EventKind::Create(CreateKind::Any), "/t/b")));
        assert!(counts(&ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/t/a"
        )));
        assert!(!counts(&ev(EventKind::Access(AccessKind::Read), "/t/a")));
        assert!(!counts(&ev(write, "/t/skip/x")));
        assert!(counts(&FsEvent::new(EventKind::Any)));
    }
}
