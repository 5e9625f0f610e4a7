//! What certdrop-check reads without any network: days left in certs/ and
//! pub/, the staged next key, the issuer's failures and back-off, with
//! --json, the problem lines of `run` and its exit codes.

use crate::site::Site;

/// Days left as the report says, for line `i`, copy `source` ("certs", "pub").
fn days(v: &serde_json::Value, i: usize, source: &str) -> f64 {
    v["lines"][i][source]["cert"]["days_left"]
        .as_f64()
        .unwrap_or_else(|| panic!("no days_left for {source}: {v:#}"))
}

#[test]
fn store_pub_and_issuer_state_as_json() {
    let site = Site::new();
    site.line("www", "www.example.test", 60);
    site.publish("www");
    // A renewal in the store that is not published yet: pub/ keeps the 60 days.
    site.line("mail", "mail.example.test", 40);
    site.publish("mail");
    site.line("mail", "mail.example.test", 90);
    site.stage_next("mail");
    site.write(
        "state/mail.json",
        "{\"key_created\": 1, \"failures\": 3, \"last_failure\": 1700000000, \
         \"last_error\": \"order: CA said rateLimited\", \"retry_not_before\": 4102444800}\n",
    );
    site.config("");
    let v = site.json(&[], 0);
    // No [[line]]: every line in certs/, in name order.
    assert_eq!(v["lines"][0]["line"], "mail");
    assert_eq!(v["lines"][1]["line"], "www");
    let near = |d: f64, want: f64| (d - want).abs() < 0.1;
    assert!(near(days(&v, 0, "certs"), 90.0), "{v:#}");
    assert!(near(days(&v, 0, "pub"), 40.0), "{v:#}");
    assert!(near(days(&v, 1, "certs"), 60.0), "{v:#}");
    assert_eq!(
        v["lines"][1]["certs"]["cert"]["sha256"],
        v["lines"][1]["pub"]["cert"]["sha256"]
    );
    assert_eq!(v["lines"][0]["next_key"], true);
    assert_eq!(v["lines"][1]["next_key"], false);
    let issuer = &v["lines"][0]["issuer"];
    assert_eq!(issuer["failures"], 3);
    assert_eq!(issuer["last_error"], "order: CA said rateLimited");
    assert_eq!(issuer["retry_not_before"], 4102444800i64);
    assert_eq!(v["lines"][1]["issuer"]["failures"], 0);
    // The issuer's failures are a warning; www is fine.
    assert_eq!(v["lines"][0]["status"], "warning");
    assert_eq!(v["lines"][1]["status"], "ok");
    assert_eq!(v["status"], "warning");
    let text = v["lines"][0]["problems"][0]["text"].as_str().expect("text");
    assert_eq!(
        text,
        "mail: issuer: 3 consecutive failure(s), last: order: CA said rateLimited; \
         next attempt after 2100-01-01T00:00:00Z"
    );

    // `run`: the problem lines only, exit 0 for a warning.
    let ran = site.check(&["run"]).expect(0);
    assert_eq!(ran.stdout, format!("WARNING: {text}\n"));
    assert_eq!(ran.stderr, "");
    // Only the named line: quiet, nothing to say.
    site.check(&["run", "www"]).expect(0).silent();
    site.check(&["run", "nope"])
        .expect(64)
        .stderr_has("no line named 'nope'");
}

#[test]
fn thresholds_missing_copies_and_exit_codes() {
    let site = Site::new();
    site.line("soon", "soon.example.test", 10);
    site.publish("soon");
    site.line("late", "late.example.test", 3);
    site.publish("late");
    site.line("gone", "gone.example.test", -1);
    site.line("fine", "fine.example.test", 50);
    site.publish("fine");
    site.line("unpub", "unpub.example.test", 50);
    site.write("state/fine.json", "{not json");
    site.config("warning = 14\ncritical = 5\n");
    let v = site.json(&[], 65);
    let status = |name: &str| {
        v["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["line"] == name)
            .map(|l| l["status"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(status("soon"), "warning");
    assert_eq!(status("late"), "critical");
    // Expired, and never published.
    assert_eq!(status("gone"), "critical");
    assert_eq!(status("unpub"), "critical");
    // A state file that does not parse: the check cannot say.
    assert_eq!(status("fine"), "unknown");
    assert_eq!(v["status"], "critical");
    let ran = site.check(&[]).expect(65);
    ran.stdout_has("CRITICAL: gone: certs/: expired on ");
    ran.stdout_has("CRITICAL: unpub: pub/: ");
    ran.stdout_has("pub/unpub/cert.pem: missing");
    ran.stdout_has("WARNING: soon: certs/: expires in ");
    ran.stdout_has("CRITICAL: late: pub/: expires in ");
    ran.stdout_has("UNKNOWN: fine: issuer state: ");
    // -n: the configuration only.
    site.check(&["-n"])
        .expect(0)
        .stdout_has("configuration ok (0 line(s) configured)");
    // A broken configuration: 78, one line.
    site.config("warning = 3\ncritical = 5\n");
    site.check(&[])
        .expect(78)
        .one_error("critical: 5 days: more than warning (3)");
}
