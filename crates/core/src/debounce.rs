//! What every `watch` mode shares: a burst of file events turned into one
//! run (after a quiet spell, never later than a maximum delay), and
//! SIGTERM/SIGINT turned into a message instead of a signal handler. The
//! file watching itself (notify) stays in each binary; this module has no
//! dependency on it.

use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

/// A burst of events ends after this long without another one.
pub const QUIET: Duration = Duration::from_millis(200);
/// A burst never delays its run by more than this.
pub const MAX_DELAY: Duration = Duration::from_millis(800);

/// A burst of events: when it began and when its last event came.
#[derive(Debug, Default)]
pub struct Burst {
    first: Option<Instant>,
    last: Option<Instant>,
    count: usize,
}

impl Burst {
    /// Count an event seen at `now`.
    pub fn add(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.count += 1;
    }

    /// No event since the last run.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// When to run: [`QUIET`] after the last event, at the latest
    /// [`MAX_DELAY`] after the first.
    pub fn due(&self) -> Option<Instant> {
        Some((self.last? + QUIET).min(self.first? + MAX_DELAY))
    }

    /// End the burst; how many events it had.
    pub fn take(&mut self) -> usize {
        std::mem::take(self).count
    }
}

/// Block SIGTERM and SIGINT in this thread (and so in every thread started
/// after: call it before any other thread exists), and hand the first one
/// to `on_stop` from a thread that waits for them with sigwait(2): no
/// signal handler, no async-signal safety to get wrong. Children started by
/// `std::process::Command` get an empty mask, so they still die of SIGINT.
pub fn stop_on_signals(on_stop: impl FnOnce(Signal) + Send + 'static) -> std::io::Result<()> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    set.thread_block()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(sig) = set.wait() {
                on_stop(sig);
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_ends_after_a_quiet_spell_or_the_maximum_delay() {
        let t0 = Instant::now();
        let mut b = Burst::default();
        assert!(b.due().is_none() && b.is_empty());
        b.add(t0);
        assert_eq!(b.due(), Some(t0 + QUIET));
        b.add(t0 + Duration::from_millis(150));
        assert_eq!(b.due(), Some(t0 + Duration::from_millis(150) + QUIET));
        // Events every 150 ms forever: run at MAX_DELAY anyway.
        for i in 2..20 {
            b.add(t0 + Duration::from_millis(150 * i));
        }
        assert_eq!(b.due(), Some(t0 + MAX_DELAY));
        assert_eq!(b.take(), 20);
        assert!(b.due().is_none() && b.is_empty());
    }
}
