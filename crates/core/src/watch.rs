//! The one `watch` loop of every daemon mode (certdrop-zone watch,
//! certdrop-trigger watch, certdrop-publish watch): decide *when* to run,
//! never *how*. Changes reported by an event source are debounced into one
//! call of the same run the binary does from cron
//! ([`crate::debounce::Burst`]); a periodic run catches what no event
//! announces; SIGTERM or SIGINT ends the loop after the run in progress. A failed run is reported by the run itself and
//! watching goes on.
//!
//! The event source is the binary's (notify: kqueue on FreeBSD, inotify on
//! Linux): it filters its events and sends what counts through a
//! [`Sender`]. A binary that watches one tree uses [`tree`] (feature
//! `notify`), which does that for it; without the feature this crate links
//! no file-watching library.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::debounce::{stop_on_signals, Burst};
use crate::error::Error;
use crate::exit::{Failure, Outcome};
use crate::output::Output;

#[cfg(feature = "notify")]
pub mod tree;

/// What an event source tells the loop.
#[derive(Debug)]
pub enum Event {
    /// Something that may change the result; the text is narrated with `-v`.
    Change(String),
    /// A writer says the files it wrote before this are a complete set
    /// (a dns-01 order's fragments): run without waiting for a quiet
    /// spell ([`Burst::add_ready`]). The text is narrated with `-v`.
    Ready(String),
    /// Events were lost (a full queue, a vanished directory): run rather
    /// than guess what was missed; the text is printed as a warning.
    Lost(String),
    /// SIGTERM or SIGINT (sent by the loop's own signal thread).
    Stop(Signal),
}

/// The sending side of the loop, for the event source's callback.
pub type Sender = mpsc::Sender<Event>;

/// A watch loop whose signals are set up and whose event source is still
/// to be started.
#[derive(Debug)]
pub struct Loop {
    tx: Sender,
    rx: Receiver<Event>,
}

impl Loop {
    /// Block SIGTERM and SIGINT and wait for them in a thread of their own.
    /// Call this before any other thread exists (so before the event source
    /// starts), so that every thread inherits the blocked mask.
    pub fn new() -> Result<Loop, Error> {
        let (tx, rx) = mpsc::channel();
        let stop = tx.clone();
        stop_on_signals(move |sig| {
            let _ = stop.send(Event::Stop(sig));
        })
        .map_err(|e| Error::temp(format!("watch: signals: {e}")))?;
        Ok(Loop { tx, rx })
    }

    /// A sender for the event source.
    pub fn sender(&self) -> Sender {
        self.tx.clone()
    }

    /// Run at start, then after every burst of changes and at least every
    /// `interval`. `run(first)` is the whole run (its own output and
    /// errors); `after` is called after every run (to re-arm watches on
    /// files that a run or an editor replaced). `what` names a run in the
    /// narration ("build", "run"). Returns on SIGTERM/SIGINT (exit 0).
    pub fn run<R, A>(
        self,
        interval: Duration,
        what: &str,
        out: &Output,
        mut run: R,
        mut after: A,
    ) -> Result<Outcome, Error>
    where
        R: FnMut(bool) -> Result<Outcome, Failure>,
        A: FnMut(),
    {
        // Keep no sender here: when the event source goes, the loop hears
        // (the signal thread keeps its own as long as the process lives).
        drop(self.tx);
        let mut burst = Burst::default();
        round(&mut run, true, what, "start", out);
        burst.ran(Instant::now());
        after();
        let mut next = Instant::now() + interval;
        loop {
            let wake = burst.due().map_or(next, |d| d.min(next));
            match self
                .rx
                .recv_timeout(wake.saturating_duration_since(Instant::now()))
            {
                Ok(Event::Stop(sig)) => {
                    out.verbose(&format!("{sig}: stopping"));
                    // A requested stop is the normal end of a watch: exit 0.
                    return Ok(Outcome::Reported);
                }
                Ok(Event::Change(why)) => {
                    out.verbose(&why);
                    burst.add(Instant::now());
                }
                Ok(Event::Ready(why)) => {
                    out.verbose(&why);
                    burst.add_ready(Instant::now());
                }
                Ok(Event::Lost(why)) => {
                    out.warn(&format!("watch: {why}"));
                    burst.add(Instant::now());
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::software("watch: event source stopped"));
                }
            }
            let now = Instant::now();
            let reason = if burst.due().is_some_and(|d| now >= d) {
                let complete = match burst.is_ready() {
                    true => ", set complete",
                    false => "",
                };
                format!("{} change(s){complete}", burst.take())
            } else if burst.is_empty() && now >= next {
                format!("periodic (every {})", crate::duration::render(interval))
            } else {
                continue;
            };
            round(&mut run, false, what, &reason, out);
            burst.ran(Instant::now());
            after();
            next = Instant::now() + interval;
        }
    }
}

/// One run, narrated with `-v`; its errors were printed by the run.
fn round<R>(run: &mut R, first: bool, what: &str, why: &str, out: &Output)
where
    R: FnMut(bool) -> Result<Outcome, Failure>,
{
    out.verbose(&format!("{what}: {why}"));
    if let Err(f) = run(first) {
        out.verbose(&format!(
            "{what} failed (exit {}); still watching",
            f.code()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Verbosity;

    #[test]
    fn runs_at_start_on_a_burst_and_stops_on_request() {
        // Signals are blocked in this test thread only; the stop comes
        // through the sender, as the signal thread would send it.
        let l = Loop::new().expect("loop");
        let tx = l.sender();
        let out = Output::new("test", Verbosity::Quiet);
        let mut firsts = Vec::new();
        let result = l.run(
            Duration::from_secs(3600),
            "run",
            &out,
            |first| {
                firsts.push(first);
                match firsts.len() {
                    1 => {
                        tx.send(Event::Change("a".into())).expect("send");
                        tx.send(Event::Lost("b".into())).expect("send");
                    }
                    _ => tx.send(Event::Stop(Signal::SIGTERM)).expect("send"),
                }
                Err(Failure::Data)
            },
            || {},
        );
        assert_eq!(result, Ok(Outcome::Reported));
        // One run at start, one for the burst of two events, then stopped.
        assert_eq!(firsts, vec![true, false]);
    }
}
