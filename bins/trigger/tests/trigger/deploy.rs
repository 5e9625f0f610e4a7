//! Deploying to a real nginx: the shipped nginx definition with the
//! site's commands (reload on content change, files found by `nginx -T`),
//! a restart on the field rule (newer than the pid file), `check`, and
//! `install` with its rollback.

use crate::harness::{Tree, NAME, PUBLISHED};
use crate::nginx::{service, serving, serving_www, Nginx, Serves, HUP};

/// The site's override of the shipped nginx definition for this nginx.
fn reload_service(nginx: &Nginx) -> String {
    format!(
        "definition = \"nginx\"\ndiscover = {{ parser = \"nginx\", command = \"{}\" }}\n\
         pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"{HUP}\"\n\
         postflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
        nginx.test_command().replace("-t -q", "-T"),
        nginx.pidfile().display(),
        nginx.test_command(),
        nginx.addr()
    )
}

#[test]
fn reload_on_content_change_serves_each_new_certificate() {
    let tree = Tree::new();
    let first = tree.issue();
    let nginx = serving_www(&tree);
    tree.config(&reload_service(&nginx));
    // No deployment recorded: deploy once (nginx may have loaded anything).
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    assert!(ran.stderr.is_empty(), "{}", ran.stderr);
    nginx.assert_serves(&first.der);
    // Converged: silent, exit 2.
    tree.run(&["run"]).expect(2).silent();

    // A renewal (same key) is published: reloaded, served.
    let pid = nginx.pid();
    let second = tree.issue();
    // check says what would happen and does nothing.
    let ran = tree.run(&["check"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: would reload: content changed since the last deployment (content-changed)\n"
    );
    assert_eq!(nginx.served(), first.der);
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: content changed");
    nginx.assert_serves(&second.der);
    assert_eq!(nginx.pid(), pid, "a reload keeps the master");
    tree.run(&["run"]).expect(2).silent();
    tree.run(&["-n"]).expect(0);
    // -f acts although nothing is due.
    let ran = tree.run(&["run", "-f"]).expect(0);
    assert_eq!(ran.stdout, "www: reloaded, served: forced\n");
}

#[test]
fn restart_when_a_file_is_newer_than_the_pid_file_and_converge() {
    let tree = Tree::new();
    tree.issue();
    let nginx = serving_www(&tree);
    tree.config(&service(
        &nginx,
        PUBLISHED,
        "restart",
        &nginx.restart_command(),
        "newer-than-pidfile",
    ));
    // nginx started after the files were published: nothing to do.
    tree.run(&["run"]).expect(2).silent();
    let pid = nginx.pid();
    let second = tree.issue();
    let ran = tree.run(&["run"]).expect(0);
    assert!(
        ran.stdout.starts_with("www: restarted, served: ")
            && ran.stdout.contains("fullchain.pem is newer than")
            && ran.stdout.trim_end().ends_with("(newer-than-pidfile)"),
        "{}",
        ran.stdout
    );
    nginx.assert_serves(&second.der);
    assert_ne!(nginx.pid(), pid, "a restart writes a new pid file");
    // The new pid file is newer than the files: the rule converges.
    tree.run(&["run"]).expect(2).silent();
    tree.run(&["run"]).expect(2).silent();
}

#[test]
fn install_copies_verified_files_and_rolls_back_what_the_service_does_not_take() {
    let tree = Tree::new();
    let first = tree.issue();
    let target = tree.path("srv/www.pem");
    std::fs::write(&target, &first.pem).expect("bootstrap");
    let nginx = serving(&tree, &target);
    let installing = |reload: &str| {
        format!(
            "{}install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n",
            service(&nginx, "srv/www.pem", "reload", reload, "content-changed")
        )
    };
    tree.config(&installing(HUP));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: new files to install: ");
    let installed = std::fs::read_to_string(&target).expect("target");
    assert_eq!(
        installed,
        std::fs::read_to_string(tree.path("pub/www/fullchain.pem")).expect("pub")
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&target)
        .expect("meta")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
    tree.run(&["run"]).expect(2).silent();

    // A "reload" that does not make nginx re-read: the post-flight check
    // sees the old certificate, the previous file goes back, exit 69.
    tree.config(&installing("true"));
    tree.issue();
    tree.run(&["run"])
        .expect(69)
        .one_error("www: rolled back: reload not taken: ");
    let ran = tree.run(&["run"]).expect(69);
    ran.stderr_has("; previous files restored, reloaded, served");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), installed);
    assert_eq!(nginx.served(), first.der);

    // A pre-flight failure after installing puts the previous file back too.
    tree.config(&installing(HUP));
    nginx.break_config();
    tree.run(&["run"]).expect(78).one_error("pre-flight");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), installed);
    assert_eq!(nginx.served(), first.der);
}
