//! Defects the fault matrix (matrix.rs) found in the client, each kept
//! fixed by the test that showed it: a forced issuance cut off after
//! finalize is continued by the next run, a fault fetching the order is
//! not called a failed validation, and an account file that is a line's
//! state file is refused.

use std::time::Duration;

use crate::proxied::Proxied;
use certdrop_testkit::pebble::{Endpoint, Fault};
use certdrop_testkit::{Ran, Run};

/// Longest one run here may take.
const LIMIT: Duration = Duration::from_secs(120);

fn cli(t: &Proxied, args: &[&str]) -> Ran {
    t.command(args).ended_within(LIMIT)
}

/// A forced issuance cut off after finalize leaves a certificate the CA
/// issued and an order kept in `state/www.json` (stage finalized), and
/// `status` promises "resuming the finalized order". But the kept order is
/// continued only when the line is due again: `run` (after the back-off)
/// and `issue www` plan "nothing due" (exit 2), so the CA's certificate is
/// abandoned until the renewal window, when the order has long expired and
/// a second certificate is ordered. Fix (lifecycle::plan or
/// run::step_without_ca): a line with an order in progress is due (to
/// resume it) once its back-off has passed, whatever else the plan says.
#[test]
fn a_forced_issue_cut_off_after_finalize_is_resumed_by_the_next_run() {
    let t = Proxied::new();
    cli(&t, &["run"]).expect(0);
    t.proxy
        .inject(Endpoint::Certificate, 0, u32::MAX, Fault::status(503));
    cli(&t, &["issue", "--force", "www"]).expect(75);
    t.proxy.clear();
    assert_eq!(t.counts(), (2, 2, 1), "issued at the CA, not downloaded");
    let status = cli(&t, &["status"]).expect(0);
    status.stdout_has("resuming the finalized order");
    // The back-off over, cron's run comes.
    t.site.backdate("www", &["retry_not_before"], 100_000);
    // Before the fix: exit 2, "www: nothing due (renewal at ...)", counts (2, 2, 1).
    cli(&t, &["-v", "run"])
        .expect(0)
        .stderr_has("www: resuming order ");
    assert_eq!(t.counts(), (2, 2, 2), "the CA's certificate is downloaded");
    assert_eq!(t.kept_order(), None);
}

/// A fault polling the order while the CA validates (every attempt at
/// `/my-order/` fails) is reported as a failed validation: "www: validation
/// failed: serverInternal: ..." although the CA never said the validation
/// failed (it is still pending or already valid): an operator looks at the
/// webroot or DNS for nothing. The retry! label of `order::validated`'s
/// poll is "validation failed" (order.rs); a fault fetching the order
/// should say so, e.g. "www: waiting for validation: fetch order ...".
#[test]
fn a_fault_polling_the_order_is_not_called_a_failed_validation() {
    let t = Proxied::new();
    t.proxy
        .inject(Endpoint::Order, 0, u32::MAX, Fault::status(503));
    let ran = cli(&t, &["run"]).expect(75);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    // Before the fix: "certdrop-issue: www: validation failed: serverInternal: injected by the fault proxy".
    assert!(!ran.stderr.contains("validation failed"), "{}", ran.stderr);
    ran.stderr_has("serverInternal: injected by the fault proxy");
}

/// A line whose state file is the account's credentials file (a line named
/// `account` with `account = "state/account.json"` and `state = "state"`)
/// passes `-n`, and every run then exits 65 "state/account.json:
/// unreadable state: unknown field `id`" for good (the credentials are
/// not overwritten: the state is read first). The configuration should be
/// refused (78) naming the clash, by `-n` as by every verb.
#[test]
fn a_line_whose_state_file_is_the_account_file_is_refused() {
    let t = Proxied::new();
    let text = std::fs::read_to_string(&t.config)
        .expect("config")
        .replace("name = \"www\"", "name = \"account\"");
    std::fs::write(&t.config, text).expect("write config");
    // Before the fix: exit 0, "configuration ok".
    let ran = cli(&t, &["-n"]).expect(78);
    ran.stderr_has("account");
}
