//! What real CAs do that Pebble can show without a proxy in between: a
//! problem no retry can fix ends the run at once with its class and the
//! problem document on one line, and leaves no back-off behind.

use crate::site::Site;
use certdrop_testkit::pebble::PebbleOpts;

#[test]
fn a_problem_no_retry_can_fix_exits_65_at_once_with_the_problem_document() {
    let site = Site::issued("www", "");
    site.run(&["revoke", "www", "--reason", "superseded"])
        .expect(0);
    // The CA refuses a second revocation: alreadyRevoked, data (65), not
    // "try later" (75), and not retried (one POST to revokeCert).
    let before = site.pebble.logs().matches("/revoke-cert").count();
    assert!(before >= 1, "{}", site.pebble.logs());
    let ran = site.run(&["revoke", "www"]).expect(65);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_starts("certdrop-issue: www: revoke: alreadyRevoked: ");
    let after = site.pebble.logs().matches("/revoke-cert").count();
    assert!(after - before <= 1, "retried: {} more", after - before);
    let st = site.run(&["status", "--json"]).expect(0);
    assert!(!st.stdout.contains("retry_not_before"), "{}", st.stdout);
}

#[test]
fn rejected_nonces_are_retried_and_narrated_then_75_never_70() {
    // A Pebble that rejects every nonce: badNonce is transient, so each
    // attempt is retried under the policy, narrated with -v (endpoint and
    // reason, one line each), and the run ends with 75.
    let mut site = Site::new(PebbleOpts {
        nonce_reject: 100,
        ..PebbleOpts::default()
    });
    site.http_line("www", "");
    let ran = site.run(&["-v", "issue", "www"]).expect(75);
    let retries: Vec<&str> = ran
        .stderr
        .lines()
        .filter(|l| l.contains(": retry "))
        .collect();
    // A refused nonce goes again at once, up to 16 times (they do not use
    // up the attempts of other faults).
    assert_eq!(retries.len(), 16, "{}", ran.stderr);
    for (n, line) in retries.iter().enumerate() {
        assert!(
            line.contains("POST https://127.0.0.1:") && line.contains(": badNonce: "),
            "{line}"
        );
        assert!(
            line.ends_with(&format!("retry {} of 16 in 0 ms (a fresh nonce)", n + 1)),
            "{line}"
        );
    }
    let last = ran.stderr.lines().last().expect("an error line");
    assert!(last.contains(": badNonce: "), "{}", ran.stderr);
    assert!(!site.path("state/account.json").exists());
}

#[test]
fn an_account_the_ca_does_not_authorize_exits_78_with_the_problem() {
    let site = Site::issued("www", "");
    // Another account (the first set aside): it holds no authorization
    // for the certificate's names, so the CA refuses the revocation.
    std::fs::rename(
        site.path("state/account.json"),
        site.path("state/first-account.json"),
    )
    .expect("set aside");
    let ran = site.run(&["revoke", "www"]).expect(78);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_starts("certdrop-issue: www: revoke: unauthorized: ");
}
