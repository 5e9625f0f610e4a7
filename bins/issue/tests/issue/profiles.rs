//! Certificate profiles and renewal timing by the lifetime received.
//! Debian's Pebble 2.4 has no profiles: the fault proxy adds a
//! `meta.profiles` object to Pebble's real directory and records the
//! newOrder payloads (Pebble ignores the `profile` field). The orders,
//! their validation and the certificates (with Pebble's
//! `certificateValidityPeriod` for the lifetime) are the real CA's.

use std::time::Duration;

use certdrop_core::{certinfo, clock};
use certdrop_testkit::pebble::{Endpoint, PebbleOpts};
use certdrop_testkit::within;

use crate::proxied::behind_proxy;
use crate::site::{run_bin, Site};

/// The two profiles the proxy's directory offers (Let's Encrypt's words).
const OFFERED: &[(&str, &str)] = &[
    ("classic", "The same profile you've been getting all along"),
    ("shortlived", "A short-lived (about six days) certificate"),
];

/// The `status --json` row of `line`.
fn status_row(config: &std::path::Path, line: &str) -> serde_json::Value {
    let ran = run_bin(config, &["status", "--json"]).expect(0);
    let rows: serde_json::Value = serde_json::from_str(&ran.stdout).expect("status is JSON");
    rows.as_array()
        .expect("rows")
        .iter()
        .find(|r| r["line"] == line)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {line}: {rows}"))
}

/// A profile the (proxy's) directory offers is sent in newOrder, and the
/// six-day certificate (Pebble's validity period, as `shortlived` gives at
/// Let's Encrypt) is due a third of its life before its end, not at a
/// fixed number of days: not due now, and `status` says so with the time.
#[test]
fn an_offered_profile_is_ordered_and_a_six_day_certificate_is_due_at_a_third_of_its_life() {
    const SIX_DAYS: u64 = 6 * 86_400;
    let mut site = Site::new(PebbleOpts {
        validity_secs: Some(SIX_DAYS),
        ..PebbleOpts::default()
    });
    site.http_line("www", "profile = \"shortlived\"");
    let (proxy, config) = behind_proxy(&site);
    proxy.offer_profiles(OFFERED);
    run_bin(&config, &["-n"]).expect(0);
    run_bin(&config, &["run"]).expect(0);
    // The proxy saw the profile in the newOrder the client signed.
    let orders = proxy.payloads(Endpoint::NewOrder);
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0]["profile"], "shortlived", "{}", orders[0]);
    assert_eq!(proxy.certificates_issued(), 1, "{:?}", proxy.errors());

    // The certificate Pebble issued: six days (less Pebble's second).
    let cert = certinfo::parse_chain(&site.read("certs/www/cert.pem")).expect("certificate");
    let (nb, na) = (cert[0].not_before, cert[0].not_after);
    let lifetime = na - nb;
    assert!(
        (SIX_DAYS as i64 - 2..=SIX_DAYS as i64).contains(&lifetime),
        "{lifetime}"
    );
    // renew.remaining's default, 33 % of the lifetime received, plus a
    // jitter of at most renew.jitter (1 h by default).
    let window_start = na - lifetime * 33 / 100;
    let row = status_row(&config, "www");
    assert_eq!(row["profile"], "shortlived", "{row}");
    let at = row["next_at"].as_str().expect("a renewal time");
    let due = (0..=3600)
        .map(|j| window_start + j)
        .find(|t| clock::rfc3339(*t) == at)
        .unwrap_or_else(|| {
            panic!(
                "renewal at {at}, not within an hour after {}",
                clock::rfc3339(window_start)
            )
        });
    assert!(due > clock::now() && due < na - 86_400, "{at}");
    // Not due now: nothing to do, no second order.
    run_bin(&config, &["run"]).expect(2);
    assert_eq!(proxy.payloads(Endpoint::NewOrder).len(), 1);
    let table = run_bin(&config, &["status"]).expect(0).stdout;
    assert!(table.contains("PROFILE"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("www ") && l.contains("shortlived")),
        "{table}"
    );
}

/// A profile the CA does not offer is refused by `-n` and `run` alike as
/// a configuration error (78) that names the profiles the CA offers, and
/// nothing is ordered. A CA with no `meta.profiles` at all (Pebble's own
/// directory, without the proxy) gets a clear error of its own.
#[test]
fn a_profile_the_ca_does_not_offer_is_a_configuration_error_naming_what_it_offers() {
    let mut site = Site::start();
    site.http_line("www", "profile = \"tlsservre\"");
    let (proxy, config) = behind_proxy(&site);
    proxy.offer_profiles(OFFERED);
    let want = format!(
        "line 'www': profile 'tlsservre': the CA ({}) offers classic, shortlived",
        proxy.directory_url
    );
    run_bin(&config, &["-n"]).expect(78).stderr_has(&want);
    run_bin(&config, &["run"]).expect(78).stderr_has(&want);
    assert_eq!(proxy.seen(Endpoint::NewOrder), 0, "nothing ordered");
    let row = status_row(&config, "www");
    assert_eq!(row["profile"], "tlsservre");
    assert!(
        row["last_error"]
            .as_str()
            .is_some_and(|e| e.contains(&want)),
        "{row}"
    );

    // Pebble 2.4's real directory: no meta.profiles (the account made
    // through the proxy names the proxy's directory: a new one here).
    std::fs::remove_file(site.path("state/account.json")).expect("account");
    let none = "line 'www': profile 'tlsservre': the CA";
    let why = "offers no profiles (its directory has no meta.profiles)";
    let ran = site.run(&["-n"]).expect(78);
    ran.stderr_has(none).stderr_has(why);
    site.run(&["run"]).expect(78).stderr_has(why);
}

/// A short-lived certificate is renewed at the same share of the lifetime
/// received (renew.remaining's default, 33 %), before it ends: a 14-second
/// certificate is not due after issuance and is renewed once its last
/// third has begun, while it is still valid.
#[test]
fn a_short_lived_certificate_is_renewed_in_its_last_third() {
    let mut site = Site::new(PebbleOpts {
        validity_secs: Some(15),
        ..PebbleOpts::default()
    });
    site.http_line("short", "");
    let config = site.path("short.toml");
    let text = site
        .config_text()
        .replace("[renew]\n", "[renew]\njitter = \"0s\"\n");
    std::fs::write(&config, text).expect("write config");
    run_bin(&config, &["run"]).expect(0);
    let cert = certinfo::parse_chain(&site.read("certs/short/cert.pem")).expect("certificate");
    let (nb, na) = (cert[0].not_before, cert[0].not_after);
    let due = na - (na - nb) * 33 / 100;
    assert!(due > clock::now(), "the test was too slow to look before");
    run_bin(&config, &["run"]).expect(2);
    assert!(
        within(Duration::from_secs(30), || clock::now() >= due),
        "the clock reaches the renewal"
    );
    let ran = run_bin(&config, &["run"]).expect(0);
    ran.stdout_has("short: certificate issued (renewal due, same key)");
    assert!(clock::now() < na, "renewed after the old one ended");
    let next = certinfo::parse_chain(&site.read("certs/short/cert.pem")).expect("certificate");
    assert_ne!(next[0].serial, cert[0].serial);
}
