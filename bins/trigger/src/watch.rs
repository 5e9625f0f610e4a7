//! `watch`: decide *when* to run, never *how* (the pattern of certdrop-zone
//! watch). Kernel file events under pub/ (notify: kqueue on FreeBSD,
//! inotify on Linux) are debounced into one call of the same run `run`
//! does from cron; a periodic run catches what no event announces (a
//! certificate expiring, a service restarted by hand, files outside pub/).
//! A failed run is reported by the run itself and watching goes on; only a
//! watch that cannot start is fatal.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use certdrop_core::exit::{Failure, Outcome};
use certdrop_core::output::{fail, Output};
use nix::sys::signal::Signal;
use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::config::Config;
use certdrop_core::debounce::Burst;

/// Default of `--interval`: the longest time between two runs.
pub const DEFAULT_INTERVAL: &str = "10m";

/// What the loop waits for.
enum Msg {
    /// A file event, or an error of the event source.
    Fs(notify::Result<Event>),
    /// SIGTERM or SIGINT: stop after the run in progress.
    Stop(Signal),
}

/// Watch pub/, run at start, then on every burst of changes and at least
/// every `interval`. `run(first)` is the whole run. Exit 0 on
/// SIGTERM/SIGINT, 66 when pub/ cannot be watched, 75 when the watcher
/// cannot start.
pub fn run<R>(
    config: &Config,
    interval: Duration,
    out: &Output,
    mut run: R,
) -> Result<Outcome, Failure>
where
    R: FnMut(bool) -> Result<Outcome, Failure>,
{
    let (tx, rx) = mpsc::channel();
    // Before any thread exists, so every thread inherits the blocked mask.
    let stop = tx.clone();
    certdrop_core::debounce::stop_on_signals(move |sig| {
        let _ = stop.send(Msg::Stop(sig));
    })
    .map_err(|e| fail(out, Failure::Temporary, &format!("watch: signals: {e}")))?;
    let events = tx;
    let mut watcher = RecommendedWatcher::new(
        move |ev| {
            let _ = events.send(Msg::Fs(ev));
        },
        // pub/<line> are symlinks into pub/.v/, which is watched anyway.
        notify::Config::default().with_follow_symlinks(false),
    )
    .map_err(|e| {
        fail(
            out,
            Failure::Temporary,
            &format!("watch: cannot start: {e}"),
        )
    })?;
    let root = absolute(&config.pub_dir);
    watcher
        .watch(&root, RecursiveMode::Recursive)
        .map_err(|e| {
            fail(
                out,
                Failure::NoInput,
                &format!("{}: cannot watch: {e}", root.display()),
            )
        })?;
    out.verbose(&format!("watching {} and below", root.display()));
    let filter = Filter {
        root,
        state: absolute(&config.state),
    };
    round(&mut run, true, "start", out);
    let mut next = Instant::now() + interval;
    let mut burst = Burst::default();
    loop {
        let wake = burst.due().map_or(next, |d| d.min(next));
        match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(Msg::Stop(sig)) => {
                out.verbose(&format!("{sig}: stopping"));
                return Ok(Outcome::Reported);
            }
            Ok(Msg::Fs(Ok(ev))) => {
                if filter.relevant(&ev) {
                    burst.add(Instant::now());
                }
            }
            Ok(Msg::Fs(Err(e))) => {
                out.warn(&format!("watch: {e}"));
                burst.add(Instant::now());
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(out, Failure::Software, "watch: event source stopped"));
            }
        }
        let now = Instant::now();
        let reason = if burst.due().is_some_and(|d| now >= d) {
            format!("{} change(s)", burst.take())
        } else if burst.is_empty() && now >= next {
            format!(
                "periodic (every {})",
                certdrop_core::duration::render(interval)
            )
        } else {
            continue;
        };
        round(&mut run, false, &reason, out);
        next = Instant::now() + interval;
    }
}

/// One run, narrated with `-v`; its errors were printed by the run.
fn round<R>(run: &mut R, first: bool, why: &str, out: &Output)
where
    R: FnMut(bool) -> Result<Outcome, Failure>,
{
    out.verbose(&format!("run: {why}"));
    if let Err(f) = run(first) {
        out.verbose(&format!("run failed (exit {}); still watching", f.code()));
    }
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
