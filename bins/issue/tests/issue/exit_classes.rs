//! Each exit class certdrop-issue can produce, caused for real: a full
//! disk (a 64 KiB tmpfs), a held lock, a missing input, a bad state file,
//! a configuration the run cannot act on, a command line it cannot obey.
//! The classes other tests already produce (69 a CA that is down, 75 a
//! back-off or a challenge never visible, 65 a key others can read, 78 a
//! bad file) are in failures.rs. 70 (an internal error) has no real cause
//! a test can provoke.
//!
//! The offline cases need no CA: they fail before the first request, and
//! the directory URL points at a loopback port where nothing listens.

use std::path::PathBuf;
use std::time::Duration;

use crate::site::{run_bin, Site, STORE};
use certdrop_testkit::pebble::ca_down_url;
use certdrop_testkit::pki::Pki;
use certdrop_testkit::{Ran, Tmpfs, Tree};

/// A temp tree with a configuration of one http-01 line `www` whose CA is
/// down, for the failures that happen before the CA is asked.
struct Offline {
    dir: Tree,
    /// Extra TOML before `[store]`.
    head: String,
}

impl Offline {
    fn new() -> Offline {
        let dir = Tree::new();
        // A bundle to trust, so no system roots are needed.
        Pki::new(&dir.path("pki")).ca();
        Offline {
            dir,
            head: "agree_terms = true\n".into(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path(rel)
    }

    fn config(&self) -> PathBuf {
        let text = format!(
            r#"directory = "{ca}"
account = "state/account.json"
ca_bundle = "pki/ca.pem"
{head}
{STORE}
[drop]
webroot = "webroot"

[renew]
lock_wait = "1s"

[[line]]
name = "www"
domains = ["www.example.test"]
challenge = "http-01"
"#,
            ca = ca_down_url(),
            head = self.head,
        );
        let p = self.path("issue.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }

    fn run(&self, args: &[&str]) -> Ran {
        run_bin(&self.config(), args)
    }
}

/// Assert stderr is one line holding `what`.
#[track_caller]
fn one_line(ran: &Ran, what: &str) {
    assert_eq!(ran.stderr.lines().count(), 1, "{}", ran.stderr);
    assert!(ran.stderr.contains(what), "want {what:?} in {}", ran.stderr);
}

#[test]
fn a_full_disk_exits_73_and_keeps_the_certificate() {
    let mut site = Site::start();
    site.http_line("www", "");
    // certs/ on a 64 KiB file system: room for one certificate set.
    let certs = Tmpfs::mount(&site.path("certs"), "64k");
    site.run(&["run"]).expect(0);
    let cert = site.read("certs/www/cert.pem");
    let filler = certs.fill();
    let ran = site.run(&["issue", "--force", "www"]).expect(73);
    one_line(&ran, "www: install certificate: No space left on device");
    assert_eq!(site.read("certs/www/cert.pem"), cert, "the old one stays");
    site.openssl_verify("www");
    // Room again: the line is named, so its back-off does not hold it.
    std::fs::remove_file(filler).expect("remove filler");
    let ran = site.run(&["issue", "--force", "www"]).expect(0);
    assert!(
        ran.stdout.contains("www: certificate issued"),
        "{}",
        ran.stdout
    );
    assert_ne!(site.read("certs/www/cert.pem"), cert);
    drop(certs);
}

#[test]
fn a_held_lock_exits_75() {
    let site = Offline::new();
    let config = site.config();
    std::fs::create_dir_all(site.path("state")).expect("mkdir");
    // Held by this process, as another run would hold it.
    let holder =
        certdrop_core::lock::StateLock::acquire(&site.path("state"), Duration::ZERO).expect("lock");
    let ran = run_bin(&config, &["run", "--no-wait"]).expect(75);
    one_line(&ran, "another run holds the lock");
    // Without --no-wait it waits lock_wait (1s), then gives up the same way.
    let ran = run_bin(&config, &["issue", "www"]).expect(75);
    one_line(&ran, "another run holds the lock");
    drop(holder);
    // Free again: the run gets past the lock to the CA, which is down.
    let ran = run_bin(&config, &["run"]).expect(69);
    one_line(&ran, "create at https://127.0.0.1:");
}

#[test]
fn missing_inputs_exit_66() {
    let site = Offline::new();
    let ran = site.run(&["account", "show"]).expect(66);
    one_line(&ran, "no account yet");
    let ran = site.run(&["revoke", "www"]).expect(66);
    one_line(&ran, "www: no certificate to revoke");
}

#[test]
fn a_state_file_that_is_not_state_exits_65() {
    let site = Offline::new();
    std::fs::create_dir_all(site.path("state")).expect("mkdir");
    std::fs::write(site.path("state/www.json"), "{\"failures\": \"many\"}\n").expect("write");
    let ran = site.run(&["run"]).expect(65);
    one_line(&ran, "state/www.json: unreadable state");
    let ran = site.run(&["status"]).expect(65);
    one_line(&ran, "unreadable state");
}

#[test]
fn configurations_the_run_cannot_act_on_exit_78() {
    let mut site = Offline::new();
    let ran = run_bin(&site.path("missing.toml"), &["run"]).expect(78);
    one_line(&ran, "missing.toml: cannot read");
    // A line is due, but no account may be made.
    site.head = "agree_terms = false\n".into();
    let ran = site.run(&["run"]).expect(78);
    one_line(&ran, "no account yet: read the CA's terms of service");
    assert!(!site.path("state/account.json").exists());
}

#[test]
fn an_account_made_for_another_ca_exits_78() {
    let site = Site::issued("www", "");
    let text = site
        .config_text()
        .replace(&site.pebble.directory_url, &ca_down_url());
    let config = site.path("other.toml");
    std::fs::write(&config, text).expect("write");
    let ran = run_bin(&config, &["issue", "--force", "www"]).expect(78);
    one_line(&ran, "made for https://");
}

#[test]
fn command_lines_it_cannot_obey_exit_64() {
    let site = Offline::new();
    let ran = site.run(&[]).expect(64);
    one_line(&ran, "a command is needed");
    // Before any configuration is read: none readable is still 64.
    let ran = run_bin(&site.path("missing.toml"), &[]).expect(64);
    one_line(&ran, "a command is needed");
    let ran = site.run(&["issue", "nosuch"]).expect(64);
    one_line(&ran, "no line named 'nosuch'");
    let ran = site.run(&["revoke", "nosuch"]).expect(64);
    one_line(&ran, "no line named 'nosuch'");
    let ran = site.run(&["account", "deactivate"]).expect(64);
    one_line(&ran, "add --yes to confirm");
    assert!(!site.path("state").exists(), "nothing was touched");
    // -n is `check`, whatever command follows it.
    let ran = site.run(&["-n", "run"]).expect(0);
    assert!(ran.stdout.contains("configuration ok"), "{}", ran.stdout);
}
