//! Waiting in tests: poll a condition until it holds or a limit passes.
//! Never a fixed sleep: a fast machine goes on at once, a slow one gets
//! the whole limit.

use std::time::{Duration, Instant};

/// How often the kit polls.
pub const TICK: Duration = Duration::from_millis(20);

/// Poll `cond` every [`TICK`] until it holds (true) or `limit` passes (false).
pub fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(TICK);
    }
}

/// Poll `probe` until it returns `Some`, or `limit` passes (None).
pub fn wait_for<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let mut found = None;
    within(limit, || {
        found = probe();
        found.is_some()
    });
    found
}
