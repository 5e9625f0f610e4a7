//! The lifecycle's clocks one by one: the renewal window and its jitter,
//! the back-off and Retry-After, which failures hold a line back, the
//! previous key's retirement and the key's age, each at the second it
//! turns (the fixtures are the decision table's, in tests.rs).

use super::*;

#[test]
fn the_window_is_the_last_share_of_the_lifetime_plus_a_jitter_from_the_serial() {
    let f = fx("");
    let c = f.install(WWW, None);
    let start = c.not_after - 33 * DAY;
    assert_eq!(due_at(&f.config, f.line(), &c), start, "jitter 0");
    let mut config = f.config.clone();
    config.jitter = Duration::from_secs(3600);
    let at = due_at(&config, f.line(), &c);
    assert!(
        (start..start + 3600).contains(&at),
        "{at} not in the hour after {start}"
    );
    assert_eq!(at, due_at(&config, f.line(), &c), "the same for every run");
    // The jitter never takes more than half the window.
    config.jitter = Duration::from_secs(400 * DAY as u64);
    assert!(due_at(&config, f.line(), &c) < start + 33 * DAY / 2);
    // A line's renew_remaining: the last 10 percent of 100 days.
    let f = fx("renew_remaining = 10");
    let c = f.install(WWW, None);
    assert_eq!(due_at(&f.config, f.line(), &c), c.not_after - 10 * DAY);
}

#[test]
fn the_back_off_doubles_is_capped_and_honours_retry_after() {
    let f = fx("");
    let now = 1_900_000_000;
    let mut st = LineState::default();
    let e = Error::temp("www: rate limited");
    let mut waits = Vec::new();
    for _ in 0..7 {
        record_failure(&f.config, &mut st, &e, now);
        waits.push(st.retry_not_before.expect("set") - now);
    }
    assert_eq!(waits, [3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400]);
    assert_eq!(st.failures, 7);
    assert_eq!(st.last_failure, Some(now));
    assert_eq!(st.last_error.as_deref(), Some("www: rate limited"));
    // The CA's Retry-After wins when it is longer than our own delay.
    let mut st = LineState::default();
    let e = e.retry_after(Duration::from_secs(5 * 3600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 5 * 3600));
    // A Retry-After with a part second left is rounded up, never down.
    let mut st = LineState::default();
    let e = e.retry_after(Duration::from_millis(7_199_001) + Duration::from_secs(3 * 3600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 3 * 3600 + 7200));
    // A finalized order in progress is continued right after the CA's
    // Retry-After, not after our own (longer) back-off.
    let mut st = LineState {
        order: Some(crate::state::OrderProgress {
            url: "https://ca/order/1".into(),
            stage: crate::state::Stage::Finalized,
            next_key: false,
            ca: None,
        }),
        ..LineState::default()
    };
    let e = Error::temp("www: still processing").retry_after(Duration::from_secs(600));
    record_failure(&f.config, &mut st, &e, now);
    assert_eq!(st.retry_not_before, Some(now + 600));
    // A back-off recorded at `now` holds a due line until it ends.
    let c = f.install(WWW, None);
    let due = due_at(&f.config, f.line(), &c);
    let mut st = LineState::default();
    record_failure(&f.config, &mut st, &Error::temp("x"), due);
    assert_eq!(
        plan(&f.config, f.line(), &st, due + 3599, false, false).expect("plan"),
        Plan::BackOff(due + 3600)
    );
    assert_eq!(
        plan(&f.config, f.line(), &st, due + 3600, false, false).expect("plan"),
        Plan::Issue(Reason::Window)
    );
}

#[test]
fn only_failures_a_later_run_could_fix_hold_the_line_back() {
    let f = fx("");
    let now = 1_900_000_000;
    for (e, issued, held) in [
        (Error::temp("www: new order: serverInternal: d"), None, true),
        (Error::unavailable("www: cannot connect"), Some(now), true),
        (Error::unavailable("www: cannot connect"), None, false),
        (
            Error::config("www: externalAccountRequired: d"),
            Some(now),
            false,
        ),
        (Error::data("www: finalize: badCSR: d"), Some(now), false),
    ] {
        let mut st = LineState {
            issued,
            ..LineState::default()
        };
        record_failure(&f.config, &mut st, &e, now);
        assert_eq!(st.retry_not_before.is_some(), held, "{}", e.msg);
        assert_eq!(st.failures, u32::from(held), "{}", e.msg);
        assert_eq!(st.last_error.as_deref(), Some(e.msg.as_str()));
        assert_eq!(st.last_failure, Some(now));
    }
    assert!(!holds_back(Failure::Usage, true));
}

#[test]
fn the_previous_key_is_retired_after_retire_after() {
    let f = fx("retire_after = \"1h\"");
    let prev = b"-----BEGIN PUBLIC KEY-----\nprev\n-----END PUBLIC KEY-----\n";
    f.install(WWW, Some(prev));
    let prev_path = f.config.store.prev_pub_path("www");
    assert!(prev_path.exists());
    let t = 1_900_000_000;
    // A state that lost the time starts the clock at `now`.
    let mut st = LineState::default();
    assert!(!retire_prev(&f.config, f.line(), &mut st, t).expect("retire"));
    assert_eq!(st.prev_published, Some(t));
    assert!(!retire_prev(&f.config, f.line(), &mut st, t + 3600).expect("retire"));
    assert!(prev_path.exists(), "kept for the whole hour");
    assert!(retire_prev(&f.config, f.line(), &mut st, t + 3601).expect("retire"));
    assert!(!prev_path.exists(), "retired");
    assert_eq!(st.prev_published, None);
    assert!(f.config.store.read_current("www").expect("read").is_some());
    // Nothing to retire: nothing happens, the time is forgotten.
    st.prev_published = Some(t);
    assert!(!retire_prev(&f.config, f.line(), &mut st, t + 99_999).expect("retire"));
    assert_eq!(st.prev_published, None);
}

#[test]
fn a_retirement_keeps_a_staged_next_key_published() {
    let f = fx("retire_after = \"0s\"");
    f.install(WWW, None);
    f.stage();
    f.install(WWW, Some(b"prev\n"));
    let next = f.config.store.read_next_pub("www").expect("read");
    let mut st = LineState {
        prev_published: Some(100),
        ..LineState::default()
    };
    assert!(retire_prev(&f.config, f.line(), &mut st, 101).expect("retire"));
    assert_eq!(f.config.store.read_next_pub("www").expect("read"), next);
}

#[test]
fn key_age_and_until_count_from_now() {
    let f = fx("");
    let st = LineState {
        key_created: Some(1000),
        ..LineState::default()
    };
    assert_eq!(
        key_age(&f.config, f.line(), &st, 1000 + 5 * DAY),
        Some(5 * DAY)
    );
    assert_eq!(
        key_age(&f.config, f.line(), &LineState::default(), 0),
        None,
        "no key"
    );
    assert_eq!(until(1000 + 3 * DAY, 1000), "3d");
    assert_eq!(until(1000 + 3 * 3600, 1000), "3h");
    assert_eq!(until(1000 + 600, 1000), "10m");
    assert_eq!(until(0, 1000), "0m", "past");
}

#[test]
fn a_next_key_without_a_publication_time_counts_from_now() {
    let f = fx("rollover_wait = \"2h\"");
    assert_eq!(
        rollover_ready_at(f.line(), &LineState::default(), 5000),
        Some(5000 + 7201)
    );
}
