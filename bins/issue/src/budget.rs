//! The run's total budget (`renew.run_timeout`): every run that holds the
//! state lock ends within it, whatever the CA does. Three layers, each a
//! little later than the one before:
//!
//! 1. each line's work (waiting for its turn included) ends at
//!    [`Budget::lines`], with a line of its own that says where the order
//!    was left (it is kept for the next run, `order/resume.rs`);
//! 2. the whole run (account, renewal information, the lines) ends at
//!    [`Budget::run`];
//! 3. a watchdog thread ends the process at the budget itself, should
//!    anything block outside the asynchronous runtime's reach. The kernel
//!    drops the lock with the process (flock, `certdrop_core::lock`) and
//!    every file is written atomically, so that exit loses nothing a
//!    `kill -9` would not.
//!
//! So no lock is held longer than `run_timeout`.

use std::time::{Duration, Instant};

use certdrop_core::output::Output;

/// The time from the start of a run (the lock taken) to each layer's end.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// When the run started.
    start: Instant,
    /// The configured total.
    total: Duration,
}

impl Budget {
    /// A budget of `total` from now.
    pub fn start(total: Duration) -> Budget {
        Budget {
            start: Instant::now(),
            total,
        }
    }

    /// The time between the layers: a tenth of the budget, at most 10 s.
    fn margin(&self) -> Duration {
        (self.total / 10).min(Duration::from_secs(10))
    }

    /// When the lines' work ends.
    pub fn lines(&self) -> tokio::time::Instant {
        (self.start + self.total - self.margin() * 2).into()
    }

    /// When the run ends.
    pub fn run(&self) -> tokio::time::Instant {
        (self.start + self.total - self.margin()).into()
    }

    /// The configured total, for messages (`30m`).
    pub fn words(&self) -> String {
        certdrop_core::duration::render(self.total)
    }

    /// Start the watchdog: at the end of the budget it says so through
    /// `out` (stderr or syslog) and ends the process with 75.
    pub fn watchdog(&self, out: &Output) {
        let end = self.start + self.total;
        let words = self.words();
        let out = out.clone();
        std::thread::spawn(move || {
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                std::thread::sleep(end - now);
            }
            out.error(&format!(
                "run_timeout ({words}) reached: stopping; the next run continues where this one stopped"
            ));
            std::process::exit(i32::from(certdrop_core::exit::Failure::Temporary.code()));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layers_end_in_order_before_the_budget() {
        for total in [5, 60, 1800] {
            let b = Budget::start(Duration::from_secs(total));
            let end: tokio::time::Instant = (b.start + b.total).into();
            assert!(b.lines() < b.run(), "{total}");
            assert!(b.run() < end, "{total}");
            assert!(end - b.run() <= Duration::from_secs(10), "{total}");
        }
    }

    /// The test binary runs this test again as a child that starts the
    /// watchdog and then blocks where no timer reaches it.
    #[test]
    fn the_watchdog_ends_a_blocked_process_with_75() {
        const CHILD: &str = "CERTDROP_ISSUE_TEST_WATCHDOG_CHILD";
        if std::env::var_os(CHILD).is_some() {
            Budget::start(Duration::from_secs(1)).watchdog(&Output::stderr("certdrop-issue"));
            loop {
                std::thread::park();
            }
        }
        let exe = std::env::current_exe().expect("test binary");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "budget::tests::the_watchdog_ends_a_blocked_process_with_75",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(75), "{stderr}");
        assert!(
            stderr.contains(
                "certdrop-issue: run_timeout (1s) reached: stopping; the next run continues where this one stopped"
            ),
            "{stderr}"
        );
    }
}
