//! Each exit class certdrop-trigger can produce, against its real cause:
//! a full file system where the service's certificate is installed (73),
//! a missing key file (66), a broken certificate in pub/ (65), a command
//! that needs a pid file the definition does not give (78), a lock held
//! by another run (75), and a stopped service that the post-flight check
//! finds down after the reload (69). The class is the one the cause
//! decides, and the line names the cause.

use std::net::TcpStream;
use std::time::Duration;

use certdrop_testkit::wait_for;

use crate::harness::{published, Cert, Tree, NAME, PUBLISHED};
use crate::nginx::{serving, serving_www, Nginx, Serves, HUP};
use certdrop_testkit::Tmpfs;

/// The service body for nginx serving `cert`, reloaded by `reload`.
fn service(nginx: &Nginx, cert: &str, reload: &str) -> String {
    crate::nginx::service(nginx, cert, "reload", reload, "content-changed")
}

#[test]
fn a_full_disk_where_the_certificate_is_installed_is_73_and_nothing_changes() {
    let tree = Tree::new();
    let first = tree.issue();
    let srv = tree.path("srv");
    let disk = Tmpfs::mount(&srv, "64k");
    let target = srv.join("www.pem");
    let published = std::fs::read(tree.path("pub/www/fullchain.pem")).expect("pub");
    std::fs::write(&target, &published).expect("bootstrap");
    let nginx = serving(&tree, &target);
    // The action leaves a mark, so "not acted on" is seen, not inferred.
    let mark = tree.path("reloaded");
    let reload = format!("touch {} && {HUP}", mark.display());
    tree.config(&format!(
        "{}install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n",
        service(&nginx, "srv/www.pem", &reload)
    ));
    tree.run(&["run"]).expect(0);
    std::fs::remove_file(&mark).expect("marked");
    let pid = nginx.pid();

    let filler = disk.fill();
    tree.issue();
    let ran = tree.run(&["run"]).expect(73).one_error("www: install: ");
    assert!(
        ran.stderr
            .contains("srv/www.pem: cannot write: No space left on device"),
        "{}",
        ran.stderr
    );
    // The old certificate is in place, whole; no temporary file is left;
    // the service was not acted on and serves the old certificate.
    assert_eq!(std::fs::read(&target).expect("target"), published);
    let mut left: Vec<String> = std::fs::read_dir(&srv)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| filler.file_name() != Some(std::ffi::OsStr::new(n)))
        .collect();
    left.sort();
    assert_eq!(left, ["www.pem"]);
    assert!(!mark.exists(), "the reload ran");
    assert_eq!(nginx.pid(), pid);
    assert_eq!(nginx.served(), first.der);
    drop(nginx);
}

#[test]
fn a_missing_key_is_66_and_a_broken_certificate_in_pub_is_65() {
    let tree = Tree::new();
    tree.issue();
    tree.config(&published("none", "true"));
    tree.run(&["run"])
        .expect(66)
        .one_error("keys/none.pem: cannot read: missing");

    // Signed, so only its content is wrong: base64 that is not.
    let broken = Cert {
        pem: "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"
            .to_string(),
        der: Vec::new(),
    };
    tree.publish("www", &broken);
    tree.config(&published("www", "true"));
    tree.run(&["run"])
        .expect(65)
        .one_error("www: not deployed: ")
        .one_error("pub/www/fullchain.pem: bad PEM");
}

#[test]
fn configurations_that_can_never_work_are_78_even_with_n() {
    let tree = Tree::new();
    tree.issue();
    // A command that needs a pid file none is given for.
    tree.config(&published("www", HUP));
    for args in [&["run"][..], &["-n"]] {
        tree.run(args).expect(78).one_error(
            "trigger.toml:8: service 'www': reload: uses {pidfile} but no pidfile is set",
        );
    }
    // Each rule the manual states, refused by -n before anything runs.
    let body = published("www", "true");
    let cases = [
        (
            "command_timeout = \"0s\"\n",
            "trigger.toml:3: command_timeout: must be more than 0s",
        ),
        (
            "postflight_wait = \"0s\"\n",
            "trigger.toml:3: postflight_wait: must be more than 0s",
        ),
        (
            "signer = \"publish@certdrop\"\n",
            "trigger.toml:3: signer: needs allowed_signers",
        ),
    ];
    for (line, why) in cases {
        tree.write(
            "trigger.toml",
            &format!(
                "pub = \"pub\"\nstate = \"fresh-state\"\n{line}\n\
                 [[service]]\nname = \"www\"\nline = \"www\"\n{body}"
            ),
        );
        tree.run(&["-n"]).expect(78).one_error(why);
        tree.run(&["run"]).expect(78).one_error(why);
        assert!(!tree.path("fresh-state").exists(), "{why}: touched");
    }
}

#[test]
fn a_lock_held_by_another_run_is_75() {
    let tree = Tree::new();
    tree.issue();
    let config = tree.config(&published("www", "true"));
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("lock_wait = \"0s\"\n{text}")).expect("config");
    let held =
        certdrop_core::lock::StateLock::acquire(&tree.path("state"), Duration::ZERO).expect("lock");
    tree.run(&["run"])
        .expect(75)
        .one_error("another run holds the lock");
    drop(held);
    tree.run(&["run"]).expect(0);
}

#[test]
fn a_stopped_service_found_down_after_the_reload_is_69() {
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    // A "reload" that cannot bring a stopped service back.
    tree.config(&service(&nginx, PUBLISHED, "true"));
    tree.run(&["run"]).expect(0);
    let pid = nix::unistd::Pid::from_raw(nginx.pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).expect("stop nginx");
    let down = || TcpStream::connect(nginx.addr()).is_err().then_some(());
    assert!(
        wait_for(Duration::from_secs(10), down).is_some(),
        "nginx did not stop"
    );
    tree.issue();
    tree.run(&["run"]).expect(69).one_error(&format!(
        "www: reload not taken: {} ({NAME}): down?",
        nginx.addr()
    ));
}
