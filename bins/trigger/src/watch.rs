//! `watch`: the event source of certdrop-core's one watch loop
//! (certdrop_core::watch::Loop, which decides *when* to run and debounces),
//! through certdrop_core::watch::tree on pub/: file events that may change
//! what is published start the same run `run` does from cron, and a
//! periodic run catches what no event announces (a certificate expiring, a
//! service restarted by hand, files outside pub/). A failed run is reported
//! and watching goes on; only a watch that cannot start is fatal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use certdrop_core::error::Result;
use certdrop_core::exit::Outcome;
use certdrop_core::output::Output;
use certdrop_core::watch::tree;

use crate::config::Config;

/// Default of `--interval`: the longest time between two runs.
pub const DEFAULT_INTERVAL: &str = "10m";

/// Watch pub/, run at start, then on every burst of changes and at least
/// every `interval` (certdrop-core's loop). `run(first)` is the whole run;
/// its error is printed and watching goes on. Exit 0 on SIGTERM/SIGINT,
/// 66 when pub/ cannot be watched, 75 when the watcher cannot start.
pub fn run<R>(config: &Config, interval: Duration, out: &Output, run: R) -> Result<Outcome>
where
    R: FnMut(bool) -> Result<Outcome>,
{
    let filter = Filter {
        root: tree::absolute(&config.pub_dir),
        state: tree::absolute(&config.state),
    };
    let root = filter.root.clone();
    tree::run(&root, move |p| filter.relevant(p), interval, out, run)
}

/// Which paths may change what is published.
#[derive(Debug)]
struct Filter {
    root: PathBuf,
    state: PathBuf,
}

impl Filter {
    /// Under pub/, not our own state (should it lie under pub/).
    fn relevant(&self, p: &Path) -> bool {
        p.starts_with(&self.root) && !p.starts_with(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_pub_count() {
        let f = Filter {
            root: PathBuf::from("/pub"),
            state: PathBuf::from("/pub/state"),
        };
        assert!(f.relevant(Path::new("/pub/.v/www.1/cert.pem")));
        assert!(f.relevant(Path::new("/pub/www")));
        assert!(!f.relevant(Path::new("/pub/state/www.json")));
        assert!(!f.relevant(Path::new("/pub2/x")));
    }
}
