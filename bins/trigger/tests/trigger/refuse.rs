//! What is never deployed: a key that does not match, an expired or not
//! yet valid certificate, one without the configured name, a file changed
//! after signing, and anything while the service's own pre-flight fails.
//! Each time nginx keeps serving the old certificate and the trigger says
//! why in one line.

use crate::harness::{Tree, NAME};
use crate::nginx::{reload_files, service, serving, serving_www, Nginx, Serves, HUP};

/// nginx serving pub/www/fullchain.pem with keys/www.pem, first deployed.
fn deployed(tree: &Tree) -> (Nginx, Vec<u8>) {
    let first = tree.issue();
    let nginx = serving_www(tree);
    tree.config(&reload_files(&nginx));
    tree.run(&["run"]).expect(0);
    nginx.assert_serves(&first.der);
    (nginx, first.der)
}

#[test]
fn bad_files_are_never_deployed() {
    let tree = Tree::new();
    let (nginx, old) = deployed(&tree);

    // Each signed and published as it is; each refused with its reason.
    let bad = [
        (
            tree.valid("other", NAME),
            "run",
            "keys/www.pem: the key (EC P-256) does not match the certificate",
        ),
        (
            tree.cert("www", NAME, "20200101000000Z", "20200201000000Z"),
            "run",
            "expired on 2020-02-01T00:00:00Z",
        ),
        (
            tree.cert("www", NAME, "20980101000000Z", "20990101000000Z"),
            "check",
            "not valid before 2098-01-01T00:00:00Z",
        ),
        (
            tree.valid("www", "other.example.test"),
            "run",
            "does not cover www.example.test",
        ),
    ];
    for (cert, command, why) in bad {
        tree.publish("www", &cert);
        tree.run(&[command]).expect(65).one_error(why);
        assert_eq!(nginx.served(), old, "{why}");
    }

    let good = tree.issue();
    std::fs::write(tree.path("pub/www/fullchain.pem"), &good.pem).expect("tamper");
    tree.run(&["run"])
        .expect(65)
        .one_error("fullchain.pem: SHA-256 differs from the signed manifest");
    assert_eq!(nginx.served(), old);
}

#[test]
fn a_failing_pre_flight_leaves_the_service_alone() {
    let tree = Tree::new();
    let (nginx, old) = deployed(&tree);
    let new = tree.issue();
    nginx.break_config();
    let ran = tree
        .run(&["run"])
        .expect(78)
        .one_error("www: not deployed: pre-flight `nginx -t");
    ran.stderr_has("unknown directive \"this\"");
    assert_eq!(nginx.served(), old);
    // Nothing was recorded: once the configuration is fixed, it deploys.
    let conf = nginx.dir.join("nginx.conf");
    let text = std::fs::read_to_string(&conf)
        .expect("conf")
        .replace("this is not nginx;\n", "");
    std::fs::write(&conf, text).expect("fix");
    tree.run(&["run"]).expect(0);
    nginx.assert_serves(&new.der);
}

#[test]
fn an_unsigned_manifest_is_refused() {
    let tree = Tree::new();
    let (nginx, old) = deployed(&tree);
    tree.issue();
    std::fs::remove_file(tree.path("pub/www/manifest.sig")).expect("rm");
    tree.run(&["run"])
        .expect(65)
        .one_error("manifest.sig: cannot read");
    assert_eq!(nginx.served(), old);
}

#[test]
fn the_no_op_fast_path_never_hides_a_change() {
    let tree = Tree::new();
    let (nginx, old) = deployed(&tree);
    // A record an earlier version kept per service goes; one file holds
    // them all now.
    std::fs::write(tree.path("state/www.quiet"), "0\n").expect("old record");
    // Nothing to do, twice: the second pass takes the fast path.
    tree.run(&["run"]).expect(2);
    assert!(
        !tree.path("state/www.quiet").exists(),
        "the old record is removed"
    );
    let records = std::fs::read_to_string(tree.path("state/quiet")).expect("records");
    assert!(
        records.starts_with("www ") && records.lines().count() == 1,
        "{records}"
    );
    let quiet = tree.run(&["run", "-v"]).expect(2);
    quiet.stderr_has("unchanged since the last check");
    // A byte changed in place in the published tree (no new version, no
    // new link): the pass checks in full and refuses it.
    let mut bytes = std::fs::read(tree.path("pub/www/fullchain.pem")).expect("read");
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(tree.path("pub/www/fullchain.pem"), &bytes).expect("tamper");
    tree.run(&["run"])
        .expect(65)
        .one_error("fullchain.pem: SHA-256 differs from the signed manifest");
    assert_eq!(nginx.served(), old);
}

#[test]
fn a_key_others_can_read_is_refused_as_certdrop_issue_refuses_it() {
    use std::os::unix::fs::PermissionsExt;
    let tree = Tree::new();
    let (nginx, old) = deployed(&tree);
    let key = tree.path("keys/www.pem");
    let chmod = |mode: u32| {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    let renewed = tree.issue();
    for mode in [0o644, 0o666, 0o604] {
        chmod(mode);
        for command in ["run", "check"] {
            tree.run(&[command]).expect(65).one_error(&format!(
                "www: not deployed: {}: refused: private key is readable or writable by group or others (mode {mode:03o}); chmod 600 it",
                key.display()
            ));
        }
        assert_eq!(nginx.served(), old, "mode {mode:o}");
    }
    // Read by the service's own group only (slapd's key is often
    // root:openldap 0640): the service's choice, deployed.
    chmod(0o640);
    tree.run(&["run"]).expect(0);
    nginx.assert_serves(&renewed.der);
}

#[test]
fn a_certificate_the_line_did_not_publish_is_refused_without_reload() {
    let tree = Tree::new();
    let published = tree.issue();
    // A self-signed certificate for the same name with the line's key,
    // where the service reads its certificate.
    let own = tree.path("srv/self.pem");
    certdrop_testkit::sh(
        tree.root(),
        &format!(
            "openssl req -x509 -key keys/www.pem -days 30 -subj /CN={NAME} \
             -addext subjectAltName=DNS:{NAME} -out {} 2>/dev/null",
            own.display()
        ),
    );
    let nginx = serving(&tree, &own);
    let selfsigned = nginx.served();
    let marker = tree.path("reloaded");
    let reload = format!("touch {} && {HUP}", marker.display());
    tree.config(&service(
        &nginx,
        "srv/self.pem",
        "reload",
        &reload,
        "content-changed",
    ));
    for command in ["run", "check"] {
        tree.run(&[command]).expect(65).one_error(&format!(
            "www: not deployed: {}: refused: not a file of {} (its content is none of the files the signed manifest lists)",
            own.display(),
            tree.path("pub/www").display()
        ));
    }
    assert!(!marker.exists(), "reloaded");
    assert_eq!(nginx.served(), selfsigned);
    // The published full chain copied there: deployed.
    std::fs::copy(tree.path("pub/www/fullchain.pem"), &own).expect("copy");
    tree.run(&["run"]).expect(0);
    assert!(marker.exists());
    nginx.assert_serves(&published.der);
}
