//! Bad input and faults: each gets one clear line and a sysexits code, and
//! the previous certificate, key and account stay untouched.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::site::{run_bin, Site};
use certdrop_testkit::pebble::{ca_down_url, PebbleOpts};

#[test]
fn a_ca_that_is_down_exits_69_and_keeps_everything() {
    let site = Site::issued("www", "");
    let (cert, key, account) = (
        site.read("certs/www/cert.pem"),
        site.read("keys/www/key.pem"),
        site.read("state/account.json"),
    );
    // Stop Pebble: the CA is now down.
    let config = site.write_config();
    let Site {
        dir,
        pebble,
        relay,
        web,
        ..
    } = site;
    drop((relay, web, pebble));
    let ran = run_bin(&config, &["issue", "--force", "www"]).expect(69);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr.starts_with("certdrop-issue: account"),
        "{}",
        ran.stderr
    );
    assert_eq!(dir.read("certs/www/cert.pem"), cert);
    assert_eq!(dir.read("keys/www/key.pem"), key);
    assert_eq!(dir.read("state/account.json"), account);
}

#[test]
fn no_ca_at_all_exits_69_with_one_line() {
    let mut site = Site::start();
    site.http_line("www", "");
    let text = site
        .config_text()
        .replace(&site.pebble.directory_url, &ca_down_url());
    let config = site.path("down.toml");
    std::fs::write(&config, text).expect("write");
    let ran = run_bin(&config, &["run"]).expect(69);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_has("create at https://127.0.0.1:");
    assert!(!site.path("state/account.json").exists());
    // The failure is remembered, but a line that never had a certificate
    // is not held back by an unreachable CA (most often a wrong URL): the
    // next run tries again and says why it failed.
    let status = run_bin(&config, &["status", "--json"]).expect(0);
    status.stdout_has("\"last_error\"");
    let ran = run_bin(&config, &["run"]).expect(69);
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_has("create at https://127.0.0.1:");
    // Once the configuration names the CA, the line gets its certificate.
    site.run(&["run"]).expect(0);
    assert!(site.path("certs/www/cert.pem").exists());
}

#[test]
fn a_group_readable_key_is_refused() {
    let site = Site::issued("www", "");
    let key = site.path("keys/www/key.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let cert = site.read("certs/www/cert.pem");
    let ran = site.run(&["issue", "--force", "www"]).expect(65);
    ran.stderr_has("keys/www/key.pem: refused: private key is readable or writable by group or others (mode 640)");
    assert_eq!(site.read("certs/www/cert.pem"), cert);
    let ran = site.run(&["-n"]).expect(65);
    ran.stderr_has("refused");
}

#[test]
fn configuration_errors_name_file_line_and_key() {
    let mut site = Site::start();
    site.line("name = \"www\"\ndomains = [\"www..example.test\"]");
    let ran = site.run(&["-n"]).expect(78);
    let want = format!("{}:", site.path("issue.toml").display());
    ran.stderr_has(&want);
    ran.stderr_has("line 'www': domains: 'www..example.test': empty label");
    let mut site2 = Site {
        lines: String::new(),
        ..site
    };
    site2.line("name = \"www\"\ndomains = [\"www.example.test\"]\nrenewal = \"soon\"");
    let ran = site2.run(&["run"]).expect(78);
    ran.stderr_has("renewal: unknown key");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        !site2.path("state").exists(),
        "a bad config touches nothing"
    );
    let ran = site2.run(&["bogus"]).expect(64);
    ran.stderr_has("unrecognized subcommand");
}

#[test]
fn check_validates_without_touching_anything() {
    let mut site = Site::start();
    site.http_line("www", "");
    let ran = site.run(&["-n"]).expect(0);
    ran.stdout_has("configuration ok (1 line(s))");
    assert!(!site.path("state").exists() && !site.path("certs").exists());
}

#[test]
fn a_second_run_waits_for_the_lock_then_gives_up() {
    let site = Site::issued("www", "");
    // Hold the state lock from another process with flock(1), which says
    // so once it holds it.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(site.path("state/.lock"))
        .args(["sh", "-c", "echo held; exec sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("flock");
    let mut said = String::new();
    BufReader::new(holder.stdout.take().expect("stdout"))
        .read_line(&mut said)
        .expect("read");
    assert_eq!(said, "held\n", "flock holds the lock");
    let start = Instant::now();
    let ran = site.run(&["issue", "--force", "www"]).expect(75);
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "waited lock_wait"
    );
    ran.stderr_has("another run holds the lock");
    let ran = site.run(&["run", "--no-wait"]).expect(75);
    ran.stderr_has("another run holds the lock");
    holder.kill().expect("kill");
    let _ = holder.wait();
    site.run(&["issue", "--force", "www"]).expect(0);
}

#[test]
fn concurrent_runs_never_interleave() {
    let mut site = Site::start();
    for n in ["a", "b", "c"] {
        site.http_line(n, "");
    }
    let config = site.write_config();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let c = config.clone();
            std::thread::spawn(move || run_bin(&c, &["run"]))
        })
        .collect();
    let codes: Vec<i32> = runs
        .into_iter()
        .map(|h| h.join().expect("join").code)
        .collect();
    // One run issues all three; the others wait for it and find nothing due.
    let mut sorted = codes.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 2, 2], "{codes:?}");
    assert_eq!(site.listing("archive").len(), 0, "no line issued twice");
}

#[test]
fn bad_nonces_are_retried() {
    let mut site = Site::new(PebbleOpts {
        nonce_reject: 50,
        ..PebbleOpts::default()
    });
    for n in ["a", "b", "c", "d"] {
        site.http_line(n, "");
    }
    site.line("name = \"w\"\ndomains = [\"w.example.test\", \"*.w.example.test\"]");
    let ran = site.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout.matches("certificate issued").count(),
        5,
        "{}",
        ran.stdout
    );
}

#[test]
fn values_not_visible_in_dns_stop_before_the_ca_is_told() {
    let mut site = Site::start();
    site.relay = None; // nobody publishes dnsextra/
    site.head = String::new();
    site.line("name = \"www\"\ndomains = [\"www.example.test\"]");
    let text = site
        .config_text()
        .replace("timeout = \"20s\"", "timeout = \"2s\"");
    let config = site.path("short.toml");
    std::fs::write(&config, text).expect("write");
    let ran = run_bin(&config, &["run"]).expect(75);
    ran.stderr_has("www: propagation:");
    ran.stderr_has("_acme-challenge.www.example.test.");
    assert!(
        site.listing("dnsextra").is_empty(),
        "fragment removed after the failure"
    );
    assert!(!site.path("certs/www").exists());
}

#[test]
fn leftovers_of_a_crashed_run_are_removed() {
    let mut site = Site::start();
    site.http_line("www", "");
    let stale = certdrop_core::fragment::Fragment::new(
        "_acme-challenge.old.example.test",
        60,
        "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA",
    )
    .expect("fragment");
    // What a run killed mid-order leaves: files, and the journal naming them.
    let fragment = site.path("dnsextra").join(stale.file_name());
    let token = site.path("webroot/AbCdEf123_-");
    std::fs::write(&fragment, stale.render()).expect("write");
    std::fs::write(&token, "old token").expect("write");
    std::fs::create_dir_all(site.path("state/challenges")).expect("mkdir");
    let journal = format!("{}\n{}\n", fragment.display(), token.display());
    std::fs::write(site.path("state/challenges/old"), journal).expect("journal");
    std::fs::write(site.path("dnsextra/.tmp.x.1.1"), "partial").expect("write");
    std::fs::write(site.path("dnsextra/README"), "someone else's").expect("write");
    std::fs::write(site.path("webroot/robots_txt"), "someone else's").expect("write");
    site.run(&["run"]).expect(0);
    assert_eq!(site.listing("dnsextra"), ["README"]);
    assert_eq!(site.listing("webroot"), ["robots_txt"]);
    assert!(site.listing("state/challenges").is_empty());
}

#[test]
fn one_failing_line_never_stops_the_others() {
    let mut site = Site::start();
    site.http_line("good", "");
    // Alias without its CNAME: this line fails, the other is issued.
    site.line("name = \"bad\"\ndomains = [\"bad.example.test\"]\nalias = \"acme.example.net\"");
    // Something changed, so exit 0 (cron chains go on); the failure is printed.
    let ran = site.run(&["run"]).expect(0);
    ran.stdout_has("good: certificate issued");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(
        ran.stderr
            .starts_with("certdrop-issue: bad: challenge alias:"),
        "{}",
        ran.stderr
    );
    assert!(site.path("certs/good/cert.pem").exists());
    // Alone, the failing line decides the exit code. A configuration error
    // is no back-off (only a later run could not fix it): the next run
    // tries again and says why, 78.
    let ran = site.run(&["run"]).expect(78);
    assert_eq!(ran.stdout, "");
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    ran.stderr_starts("certdrop-issue: bad: challenge alias:");
}
