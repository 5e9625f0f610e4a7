//! A staged next key's promotion as a step of the deployment (issue 15),
//! against a real nginx: the certificate and the key the service reads
//! never disagree after a failed pre-flight or a rollback, and the old key
//! is retired to keys/<line>/old/ only once the new pair is served. For a
//! service that copies its certificate (`install`), key.pem goes back with
//! it; for one reading pub/ directly, key.pem follows pub/ and the old key
//! waits in next/ until a delivery succeeds. And the `[outbox]` paths that
//! would let a private key travel are refused.

use std::time::Duration;

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::{free_port, sh};

use crate::csr::{age, outbox, site, write_config};
use crate::harness::{Cert, Tree, NAME};
use crate::nginx::{Serves, HUP};

/// A command nginx accepts that does not make it re-read its
/// certificates: SIGUSR1 only reopens the log files.
const REOPEN_LOGS: &str = "kill -USR1 $(cat {pidfile})";
/// The outbox part: line www with a next key past 30 days.
fn part() -> String {
    outbox(&format!("\"{NAME}\""), "max_key_age = \"30d\"")
}

/// The service deploying `cert` with keys/www/key.pem to `nginx`:
/// `preflight`, `reload` (and `restart` when given), post-flight on its
/// port, plus `extra` (an install).
fn service(nginx: &Nginx, cert: &str, preflight: &str, reload: &str, extra: &str) -> String {
    format!(
        "[[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n\
         files = [{{ cert = \"{cert}\", key = \"keys/www/key.pem\" }}]\n\
         pidfile = \"{}\"\npreflight = \"{preflight}\"\nreload = \"{reload}\"\n\
         rule = \"content-changed\"\npostflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n{extra}",
        nginx.pidfile().display(),
        nginx.addr()
    )
}

/// A site whose nginx serves `cert` (relative to the tree) with
/// keys/www/key.pem, deployed once from the line's first certificate;
/// then its key aged and a next key staged, whose certificate is
/// published. Returns the tree, nginx, the first and the second
/// certificate, the key and the next key (bytes).
fn rolled(cert: &str) -> (Tree, Nginx, Cert, Cert, Vec<u8>, Vec<u8>) {
    let tree = site(&part(), "");
    tree.run(&["csr"]).expect(0);
    let first = tree.sign_csr(&tree.path("outbox/www/csr.pem"));
    tree.publish("www", &first);
    let target = tree.path(cert);
    if !target.exists() {
        std::fs::create_dir_all(target.parent().expect("dir")).expect("mkdir");
        std::fs::copy(tree.path("pub/www/fullchain.pem"), &target).expect("bootstrap");
    }
    let port = free_port();
    let nginx = Nginx::daemon(
        &tree.path(&format!("nginx-{port}")),
        &[Server::new(
            port,
            NAME,
            &target,
            &tree.path("keys/www/key.pem"),
        )],
    );
    let test = nginx.test_command();
    let install = installs(cert);
    write_config(&tree, &part(), &service(&nginx, cert, &test, HUP, &install));
    tree.run(&["run"]).expect(0);
    nginx.assert_serves(&first.der);
    age(
        &tree.path("keys/www/key.pem"),
        Duration::from_secs(31 * 86_400),
    );
    tree.run(&["csr"]).expect(0);
    let key = tree.read("keys/www/key.pem");
    let next = tree.read("keys/www/next/key.pem");
    let second = tree.sign_csr(&tree.path("outbox/www/next.csr.pem"));
    tree.publish("www", &second);
    (tree, nginx, first, second, key, next)
}

/// The install entry for a certificate outside pub/.
fn installs(cert: &str) -> String {
    match cert.starts_with("pub/") {
        true => String::new(),
        false => format!("install = [{{ from = \"fullchain.pem\", to = \"{cert}\" }}]\n"),
    }
}

/// nginx's own check of the files on disk passes: the certificate and the
/// key it would load at a restart belong together.
fn pair_matches(tree: &Tree, nginx: &Nginx) {
    sh(tree.root(), &nginx.test_command());
}

/// Nothing retired yet: no old/, the next key still staged.
fn not_retired(tree: &Tree, next: &[u8]) {
    assert!(!tree.path("keys/www/old").exists(), "no key retired");
    assert_eq!(tree.read("keys/www/next/key.pem"), next);
}

/// The run that delivers: the promotion said, then the reload; the old
/// key in old/ (one file), next/ empty.
fn delivered(tree: &Tree, nginx: &Nginx, second: &Cert, key: &[u8], next: &[u8]) {
    let ran = tree.run(&["run"]).expect(0);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
    assert!(
        lines[0].starts_with(&format!(
            "www: promoted the next key to {}: the published certificate is for it; \
             previous key kept as {}",
            tree.path("keys/www/key.pem").display(),
            tree.path("keys/www/old/").display()
        )),
        "{}",
        ran.stdout
    );
    assert!(
        lines[1].starts_with("www: reloaded, served: "),
        "{}",
        ran.stdout
    );
    nginx.assert_serves(&second.der);
    assert_eq!(tree.read("keys/www/key.pem"), next);
    let old = tree.listing("keys/www/old");
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(tree.read(&format!("keys/www/old/{}", old[0])), key);
    assert!(tree.listing("keys/www/next").is_empty(), "next/ left empty");
    pair_matches(tree, nginx);
    tree.run(&["run"]).expect(2).silent();
}

#[test]
fn an_installed_certificate_and_its_key_go_back_together() {
    let (tree, nginx, first, second, key, next) = rolled("srv/www.pem");
    let before = tree.read("srv/www.pem");
    let test = nginx.test_command();

    // A pre-flight that fails once the next key's certificate is here:
    // the installed certificate and key.pem are both the old ones.
    write_config(
        &tree,
        &part(),
        &service(
            &nginx,
            "srv/www.pem",
            "false",
            HUP,
            &installs("srv/www.pem"),
        ),
    );
    tree.run(&["run"])
        .expect(78)
        .one_error("www: not deployed: pre-flight `false`: exit 1; previous files restored");
    assert_eq!(tree.read("keys/www/key.pem"), key);
    assert_eq!(tree.read("srv/www.pem"), before);
    assert!(!tree.path("keys/www/next/previous.pem").exists());
    not_retired(&tree, &next);
    pair_matches(&tree, &nginx);
    nginx.assert_serves(&first.der);

    // Neither the reload nor the restart takes it: rolled back, the old
    // key with the old certificate, and nginx serves that pair again.
    let both = format!(
        "{}restart = \"true\"\n",
        service(
            &nginx,
            "srv/www.pem",
            &test,
            REOPEN_LOGS,
            &installs("srv/www.pem")
        )
    );
    write_config(&tree, &part(), &both);
    let config = tree.path("trigger.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace("postflight_wait = \"5s\"", "postflight_wait = \"1s\""),
    )
    .expect("config");
    let ran = tree.run(&["run"]).expect(69);
    let line = ran.stderr.trim_end().to_string();
    ran.one_error("www: rolled back: reload not taken, restart not taken: ");
    assert!(
        line.ends_with("; previous files restored, reloaded, served"),
        "{line}"
    );
    assert_eq!(tree.read("keys/www/key.pem"), key);
    assert_eq!(tree.read("srv/www.pem"), before);
    not_retired(&tree, &next);
    pair_matches(&tree, &nginx);
    assert_eq!(nginx.served(), first.der);

    // A reload that takes: only now is the old key retired.
    write_config(
        &tree,
        &part(),
        &service(&nginx, "srv/www.pem", &test, HUP, &installs("srv/www.pem")),
    );
    delivered(&tree, &nginx, &second, &key, &next);
}

#[test]
fn a_service_reading_pub_keeps_its_key_with_pubs_certificate() {
    let (tree, nginx, first, second, key, next) = rolled("pub/www/fullchain.pem");
    let test = nginx.test_command();
    // pub/ holds the next key's certificate: key.pem follows it even when
    // the pre-flight fails, and the old key waits in next/, not retired.
    write_config(
        &tree,
        &part(),
        &service(&nginx, "pub/www/fullchain.pem", "false", HUP, ""),
    );
    tree.run(&["run"])
        .expect(78)
        .one_error("www: not deployed: pre-flight `false`: exit 1");
    assert_eq!(tree.read("keys/www/key.pem"), next);
    assert_eq!(tree.read("keys/www/next/previous.pem"), key);
    not_retired(&tree, &next);
    pair_matches(&tree, &nginx);
    nginx.assert_serves(&first.der);
    // The outbox asks for the key in service alone meanwhile.
    tree.run(&["csr"])
        .expect(0)
        .stdout_has("www: outbox written: key changed, next key gone (promoted)");
    // -n says the promotion still to finish.
    tree.run(&["check"])
        .expect(78)
        .stdout_has("www: would promote the next key");

    write_config(
        &tree,
        &part(),
        &service(&nginx, "pub/www/fullchain.pem", &test, HUP, ""),
    );
    tree.run(&["check"])
        .expect(0)
        .stdout_has("www: would promote the next key");
    delivered(&tree, &nginx, &second, &key, &next);
    tree.run(&["csr"]).expect(2).silent();
}

#[test]
fn private_keys_inside_the_outbox_or_pub_are_refused() {
    let tree = site(&part(), "");
    let file = tree.path("trigger.toml").display().to_string();
    let refused = |part: &str, want: &str| {
        write_config(&tree, part, "");
        let ran = tree.run(&["csr", "-n"]).expect(78);
        assert!(
            ran.stderr
                .starts_with(&format!("certdrop-trigger: {file}:")),
            "{}",
            ran.stderr
        );
        ran.one_error(want);
    };
    let csr = format!("\n[[csr]]\nline = \"www\"\nnames = [\"{NAME}\"]\nkey = \"ecdsa-p256\"\n");
    let with = |dir: &str, keys: &str, signing_key: &str| {
        format!(
            "[outbox]\ndir = \"{dir}\"\nkeys = \"{keys}\"\nsigning_key = \"{signing_key}\"\n{csr}"
        )
    };
    refused(&with("outbox", "outbox/keys", "sitekey"), ":10: keys: ");
    refused(
        &with("outbox", "keys", "outbox/sitekey"),
        ":11: signing_key: ",
    );
    refused(
        &with("outbox", "pub/keys", "sitekey"),
        "must not contain each other",
    );
    refused(&with("outbox", "keys", "pub/sitekey"), "lies inside pub");
    refused(&with("pub/outbox", "keys", "sitekey"), ":9: dir: ");
    refused(&with("keys/outbox", "keys", "sitekey"), ":10: keys: ");
    // A link cannot hide it: keys/ is a link into the outbox.
    std::fs::create_dir_all(tree.path("outbox/hidden")).expect("mkdir");
    std::os::unix::fs::symlink(tree.path("outbox/hidden"), tree.path("linked")).expect("link");
    refused(
        &with("outbox", "linked", "sitekey"),
        "(through symbolic links: ",
    );
    assert!(!tree.path("keys/www").exists() && !tree.path("outbox/hidden/www").exists());
    // Apart, as the other tests have it: accepted.
    write_config(&tree, &part(), "");
    tree.run(&["csr", "-n"]).expect(0);
}

#[test]
fn files_found_by_nginx_t_are_found_with_the_key_already_following_pub() {
    let (tree, nginx, _, second, key, next) = rolled("pub/www/fullchain.pem");
    // `nginx -T` loads the pair: pub's new certificate beside the old key
    // would fail it, so the key follows pub/ before the discovery.
    let found = format!(
        "[[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{NAME}\"]\n\
         definition = \"nginx\"\ndiscover = {{ parser = \"nginx\", command = \"{}\" }}\n\
         pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"{HUP}\"\n\
         postflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
        nginx.test_command().replace("-t -q", "-T"),
        nginx.pidfile().display(),
        nginx.test_command(),
        nginx.addr()
    );
    write_config(&tree, &part(), &found);
    delivered(&tree, &nginx, &second, &key, &next);
}
