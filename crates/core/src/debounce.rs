//! What every `watch` mode shares: a burst of file events turned into one
//! run (after a quiet spell, never later than a maximum delay, at once
//! when a writer says its set of files is complete), and
//! SIGTERM/SIGINT turned into a message instead of a signal handler. The
//! file watching itself (notify) stays in each binary; this module has no
//! dependency on it.

use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

/// A burst of events ends after this long without another one.
pub const QUIET: Duration = Duration::from_millis(200);
/// A burst never delays its run by more than this.
pub const MAX_DELAY: Duration = Duration::from_millis(800);

/// A burst of events: when it began, when its last event came, and
/// whether a writer said its files are complete.
#[derive(Debug, Default)]
pub struct Burst {
    first: Option<Instant>,
    last: Option<Instant>,
    count: usize,
    ready: Option<Instant>,
    /// [`QUIET`] after the end of the previous run: a writer's "complete"
    /// runs no sooner, so a flood of them (a hostile writer's) runs no more
    /// often than a flood of plain changes does.
    not_before: Option<Instant>,
}

impl Burst {
    /// Count an event seen at `now`.
    pub fn add(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.count += 1;
    }

    /// Count an event seen at `now` that says the files written before it
    /// are complete (a dns-01 order's fragments): no need to wait for a
    /// quiet spell.
    pub fn add_ready(&mut self, now: Instant) {
        self.add(now);
        self.ready.get_or_insert(now);
    }

    /// Whether a writer said its set is complete in this burst.
    pub fn is_ready(&self) -> bool {
        self.ready.is_some()
    }

    /// No event since the last run.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// When to run: [`QUIET`] after the last event, at the latest
    /// [`MAX_DELAY`] after the first; once a set is complete, at once, but
    /// no sooner than [`QUIET`] after the previous run ended.
    pub fn due(&self) -> Option<Instant> {
        let settled = (self.last? + QUIET).min(self.first? + MAX_DELAY);
        Some(match self.ready {
            Some(r) => settled.min(self.not_before.map_or(r, |n| n.max(r))),
            None => settled,
        })
    }

    /// End the burst; how many events it had.
    pub fn take(&mut self) -> usize {
        let not_before = self.not_before;
        let count = std::mem::take(self).count;
        self.not_before = not_before;
        count
    }

    /// A run ended at `now` (any run: for a burst, at start, periodic).
    pub fn ran(&mut self, now: Instant) {
        self.not_before = Some(now + QUIET);
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

    #[test]
    fn a_complete_set_runs_at_once_but_not_right_after_a_run() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut b = Burst::default();
        b.add(t0);
        b.add_ready(ms(5));
        assert_eq!(b.due(), Some(ms(5)));
        // More events after it do not delay it.
        b.add(ms(7));
        assert_eq!(b.due(), Some(ms(5)));
        assert_eq!(b.take(), 3);
        b.ran(ms(20));
        // A "complete" right after that run waits QUIET after its end, no
        // longer than a plain change would.
        b.add_ready(ms(30));
        assert_eq!(b.due(), Some(ms(20) + QUIET));
        b.take();
        b.ran(ms(300));
        // Long after the previous run: at once again.
        b.add_ready(ms(900));
        assert_eq!(b.due(), Some(ms(900)));
    }

    #[test]
    fn a_flood_of_complete_sets_runs_no_more_often_than_plain_changes() {
        // A writer that says "complete" every millisecond, runs of 1 ms:
        // one run per QUIET at most, as with plain changes every 1 ms
        // (which never fall quiet and run at MAX_DELAY).
        let t0 = Instant::now();
        let mut b = Burst::default();
        let mut runs = 0;
        let mut now = t0;
        while now < t0 + Duration::from_secs(2) {
            b.add_ready(now);
            if b.due().is_some_and(|d| now >= d) {
                b.take();
                runs += 1;
                now += Duration::from_millis(1);
                b.ran(now);
            }
            now += Duration::from_millis(1);
        }
        assert!(runs <= 2000 / QUIET.as_millis() + 1, "{runs} runs");
    }
}
