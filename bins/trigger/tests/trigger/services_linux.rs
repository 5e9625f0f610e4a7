//! A Linux definition (deploy-triggers/linux/nginx.toml) against a real
//! nginx: its own `systemctl reload nginx` and, behind it, `systemctl
//! restart nginx`, run as shipped. systemd does not run here (no PID 1 of
//! its own in the test machine), so a `systemctl` first on PATH does what
//! Debian's nginx.service does for those two verbs: ExecReload is `nginx
//! -s reload`, a restart stops the master and starts it again; every call
//! is logged for the test to read. The site overrides only what points at
//! its own nginx (discovery, pre-flight, post-flight), as the other
//! services' tests do.

use std::path::Path;
use std::process::Command;

use certdrop_testkit::Run;

use crate::harness::{Ran, Tree};
use crate::nginx::{serving_www, Nginx, Serves};
use crate::services::{discover_command, postflight, quoted, shipped};

/// The `systemctl` of nginx.service for this nginx (a `noop-reload` file
/// beside it makes a reload that is accepted and not taken).
fn systemctl(tree: &Tree, nginx: &Nginx) {
    let restart = nginx
        .restart_command()
        .replace("{pidfile}", &nginx.pidfile().display().to_string());
    let reload = nginx.start_command() + " -s reload";
    let dir = tree.path("sbin");
    let script = format!(
        "#!/bin/sh\n\
         echo \"$*\" >> {log}\n\
         case \"$1 $2\" in\n\
         \"reload nginx\") [ -e {noop} ] && exit 0; exec {reload} ;;\n\
         \"restart nginx\") {restart} ;;\n\
         *) echo \"systemctl: $*: no such unit here\" >&2; exit 5 ;;\n\
         esac\n",
        log = dir.join("calls").display(),
        noop = dir.join("noop-reload").display(),
    );
    let file = tree.write("sbin/systemctl", &script);
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
}

/// certdrop-trigger `args` with the systemctl of [`systemctl`] first on PATH.
fn run(tree: &Tree, args: &[&str]) -> Ran {
    let path = std::env::var("PATH").unwrap_or_default();
    Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .arg("-c")
        .arg(tree.path("trigger.toml"))
        .args(args)
        .env("PATH", format!("{}:{path}", tree.path("sbin").display()))
        .ran()
}

/// The systemctl calls so far, one per line.
fn calls(tree: &Tree) -> String {
    std::fs::read_to_string(tree.path("sbin/calls")).unwrap_or_default()
}

#[test]
fn the_linux_nginx_definition_reloads_and_restarts_through_systemctl() {
    let tree = Tree::new();
    let first = tree.issue();
    let nginx = serving_www(&tree);
    systemctl(&tree, &nginx);
    let test = nginx.test_command();
    tree.config(&shipped(
        "nginx",
        &[
            (
                "discover",
                discover_command("nginx", &test.replace("-t -q", "-T")),
            ),
            ("preflight", quoted(&test)),
            ("postflight", postflight(nginx.addr())),
        ],
    ));
    // The Linux definitions instead of the FreeBSD ones; a short wait for
    // the reload that is not taken below.
    let path = tree.path("trigger.toml");
    let shipped_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers");
    let text = std::fs::read_to_string(&path).expect("trigger.toml");
    let from = format!("\"{}\"", shipped_dir.display());
    assert!(text.contains(&from), "{text}");
    let text = text
        .replace(
            &from,
            &format!("\"{}\"", shipped_dir.join("linux").display()),
        )
        .replace("postflight_wait = \"5s\"", "postflight_wait = \"2s\"");
    std::fs::write(&path, text).expect("trigger.toml");

    let ran = run(&tree, &["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    assert_eq!(calls(&tree), "reload nginx\n");
    nginx.assert_serves(&first.der);

    // A renewal: the definition's reload takes it, the master stays.
    let pid = nginx.pid();
    let second = tree.issue();
    run(&tree, &["run"])
        .expect(0)
        .stdout_starts("www: reloaded, served: content changed");
    nginx.assert_serves(&second.der);
    assert_eq!(nginx.pid(), pid);

    // A reload that is not taken: the definition's restart follows.
    tree.write("sbin/noop-reload", "");
    let third = tree.issue();
    run(&tree, &["run"])
        .expect(0)
        .stdout_starts("www: reload not taken, restarted, served: content changed");
    nginx.assert_serves(&third.der);
    assert_ne!(nginx.pid(), pid, "a restart starts a new master");
    assert_eq!(
        calls(&tree),
        "reload nginx\nreload nginx\nreload nginx\nrestart nginx\n"
    );
    run(&tree, &["run"]).expect(2).silent();
}
