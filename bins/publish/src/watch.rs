//! `watch`: the event source of certdrop-core's one watch loop
//! (certdrop_core::watch::Loop, which decides *when* to run and debounces),
//! through certdrop_core::watch::tree on certs/: a renewal that
//! certdrop-issue switches into the store is published within a second
//! instead of at the next cron run, by the same run `run` does; a periodic
//! run catches what no event announces (a run that failed for want of
//! pub/'s lock, a line that became publishable with time). A failed run is
//! reported and watching goes on; only a watch that cannot start is fatal.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use certdrop_core::atomic::TEMP_PREFIX;
use certdrop_core::error::Result;
use certdrop_core::exit::Outcome;
use certdrop_core::lock::LOCK_FILE;
use certdrop_core::output::Output;
use certdrop_core::watch::tree;

/// Default of `--interval`: the longest time between two runs.
pub const DEFAULT_INTERVAL: &str = "10m";

/// Watch `certs` (the store), run at start, then on every burst of changes
/// and at least every `interval`. `run(first)` is the whole run; its error
/// is printed and watching goes on. Exit 0 on SIGTERM/SIGINT, 66 when
/// certs/ cannot be watched, 75 when the watcher cannot start.
pub fn run<R>(certs: &Path, interval: Duration, out: &Output, run: R) -> Result<Outcome>
where
    R: FnMut(bool) -> Result<Outcome>,
{
    let filter = Filter {
        root: tree::absolute(certs),
    };
    let root = filter.root.clone();
    tree::run(&root, move |p| filter.relevant(p), interval, out, run)
}

/// Which paths in the store may change a publication.
#[derive(Debug)]
struct Filter {
    root: PathBuf,
}

impl Filter {
    /// Under certs/, and neither the store's lock (taken and released by
    /// every certdrop-issue run, renewal or not) nor a temporary file or
    /// directory (`.tmp.*`, renamed into place when done: the rename is the
    /// event that counts).
    fn relevant(&self, p: &Path) -> bool {
        let Ok(rel) = p.strip_prefix(&self.root) else {
            return false;
        };
        let temp = rel.components().any(|c| match c {
            Component::Normal(n) => n.to_string_lossy().starts_with(TEMP_PREFIX),
            _ => false,
        });
        !temp && rel != Path::new(LOCK_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_and_temporary_files_do_not_count() {
        let f = Filter {
            root: PathBuf::from("/certs"),
        };
        let r = |p: &str| f.relevant(Path::new(p));
        assert!(r("/certs/www"));
        assert!(r("/certs/.v/www.20260101T000000Z/cert.pem"));
        assert!(r("/certs/www/cert.pem"));
        assert!(r("/certs"));
        assert!(!r("/certs/.lock"));
        assert!(!r("/certs/.tmp.www.12.0"));
        assert!(!r("/certs/.v/.tmp.x/cert.pem"));
        assert!(!r("/certs2/www"));
    }
}
