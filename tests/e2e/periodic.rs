//! The periodic(8) scripts of dist/freebsd/periodic/, run for real on
//! Linux with their knobs in the environment (there is no
//! /etc/defaults/periodic.conf here, which they allow for): the daily
//! script against the pipeline fixture (Pebble, nsd, certdrop-zone watch)
//! with a publisher and a trigger beside it, and the weekly script against
//! certdrop-check. `%%PREFIX%%` is made a temporary prefix whose bin/ holds
//! the workspace's binaries, as an install would.

use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::{bin, sh, Ran, Run};

use crate::pipeline::{site, Site};

/// The shipped script `rel` (under dist/freebsd/periodic/), installed
/// under `prefix` with `%%PREFIX%%` replaced, and a bin/ of the programs.
fn install(prefix: &Path, rel: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dist/freebsd/periodic")
        .join(rel);
    let text = std::fs::read_to_string(&src).expect("shipped script");
    let to = prefix.join("etc/periodic").join(rel);
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::write(
        &to,
        text.replace("%%PREFIX%%", prefix.to_str().expect("utf8")),
    )
    .expect("install");
    std::fs::create_dir_all(prefix.join("bin")).expect("bin");
    for p in ["issue", "publish", "trigger", "check"] {
        let name = format!("certdrop-{p}");
        let link = prefix.join("bin").join(&name);
        if !link.exists() {
            std::os::unix::fs::symlink(bin(&name), link).expect("symlink");
        }
    }
    to
}

/// Run `script` with /bin/sh as periodic does, the knobs in its
/// environment, output as periodic collects it (stdout and stderr as one).
fn periodic(script: &Path, knobs: &[(&str, String)]) -> Ran {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("exec /bin/sh \"$0\" 2>&1")
        .arg(script)
        .current_dir(script.parent().expect("dir"))
        .env_remove("SSL_CERT_FILE")
        .envs(knobs.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.ran()
}

fn text(p: PathBuf) -> String {
    p.to_str().expect("utf8").to_string()
}

/// The pipeline fixture plus publish.toml (a signing key) and trigger.toml
/// (one service: the full chain installed to srv/www.pem, its reload a
/// file touched).
fn pipeline() -> Site {
    let s = site("name = \"www\"\ndomains = [\"www.example.test\"]", 60);
    let d = s.dir.root();
    for sub in ["pub", "srv", "defs", "trigger-state"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    sh(d, "ssh-keygen -q -t ed25519 -N '' -C publish -f sign_key");
    let public = std::fs::read_to_string(d.join("sign_key.pub")).expect("pub");
    std::fs::write(
        d.join("allowed_signers"),
        format!("publish@certdrop namespaces=\"certdrop-manifest@certdrop\" {public}"),
    )
    .expect("signers");
    std::fs::write(
        d.join("publish.toml"),
        "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"sign_key\"\n\
         [[line]]\nname = \"www\"\nnames = [\"www.example.test\"]\n",
    )
    .expect("publish.toml");
    // The reload runs where the script was started: an absolute path.
    let reloaded = d.join("reloaded");
    std::fs::write(
        d.join("trigger.toml"),
        format!(
            "pub = \"pub\"\nstate = \"trigger-state\"\ndefinitions = [\"defs\"]\n\
         allowed_signers = \"allowed_signers\"\nsigner = \"publish@certdrop\"\n\n\
         [[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"www.example.test\"]\n\
         files = [{{ cert = \"srv/www.pem\", key = \"keys/www/key.pem\" }}]\n\
         install = [{{ from = \"fullchain.pem\", to = \"srv/www.pem\" }}]\n\
         rule = \"content-changed\"\nreload = \"touch {}\"\n",
            reloaded.display()
        ),
    )
    .expect("trigger.toml");
    s
}

/// The daily script's knobs for the fixture: every stage as root (this
/// test's user), its configuration in the tree.
fn daily_knobs(s: &Site) -> Vec<(&'static str, String)> {
    vec![
        ("daily_certdrop_enable", "YES".into()),
        ("daily_certdrop_issue_config", text(s.path("issue.toml"))),
        ("daily_certdrop_issue_user", String::new()),
        (
            "daily_certdrop_publish_config",
            text(s.path("publish.toml")),
        ),
        ("daily_certdrop_publish_user", String::new()),
        (
            "daily_certdrop_trigger_config",
            text(s.path("trigger.toml")),
        ),
        ("daily_certdrop_trigger_user", String::new()),
    ]
}

#[test]
fn the_daily_run_issues_publishes_deploys_then_stays_silent() {
    let s = pipeline();
    let script = install(&s.path("prefix"), "daily/500.certdrop");
    let knobs = daily_knobs(&s);

    // Off unless enabled: nothing at all.
    periodic(&script, &[]).expect(0).silent();

    // First run: each stage changed something, in order; rc 1 (notable).
    let ran = periodic(&script, &knobs).expect(1);
    ran.stdout_starts("\ncertdrop daily run:\ncertdrop-issue: ");
    let at = |what: &str| {
        ran.stdout
            .find(what)
            .unwrap_or_else(|| panic!("'{what}' not in:\n{}", ran.stdout))
    };
    assert!(at("certdrop-issue: www: certificate issued") < at("certdrop-publish: www: published"));
    assert!(at("certdrop-publish: www: published") < at("certdrop-trigger: www: reloaded"));
    assert_eq!(
        std::fs::read(s.path("srv/www.pem")).expect("deployed"),
        std::fs::read(s.path("certs/www/fullchain.pem")).expect("issued"),
        "{}",
        ran.stdout
    );
    assert!(s.path("reloaded").exists(), "{}", ran.stdout);

    // Second run: nothing due anywhere: no output, rc 0.
    periodic(&script, &knobs).expect(0).silent();

    // A stage that fails is reported (rc 3, never masked) with its own
    // message and status; the stages after it still run (and, having
    // nothing to do, say nothing). A bad switch is a bad setting (2), but
    // the failure decides.
    let mut broken = knobs.clone();
    broken.push((
        "daily_certdrop_publish_config",
        text(s.path("missing.toml")),
    ));
    let ran = periodic(&script, &broken).expect(3);
    ran.stdout_starts("\ncertdrop daily run:\ncertdrop-publish: ");
    ran.stdout_has("missing.toml");
    ran.stdout_has("certdrop-publish: failed (exit 78)\n");
    assert!(!ran.stdout.contains("certdrop-issue"), "{}", ran.stdout);
    assert!(!ran.stdout.contains("certdrop-trigger"), "{}", ran.stdout);
    let mut off = knobs.clone();
    off.push(("daily_certdrop_trigger_enable", "perhaps".into()));
    periodic(&script, &off)
        .expect(2)
        .stdout_has("daily_certdrop_trigger_enable: 'perhaps': YES or NO");

    // The weekly report, on the same tree: certdrop-check -v run.
    let weekly = install(&s.path("prefix"), "weekly/500.certdrop-status");
    s.dir.write(
        "check.toml",
        "certs = \"certs\"\npub = \"pub\"\n[[line]]\nname = \"www\"\n",
    );
    let knobs = |flags: &str| {
        vec![
            ("weekly_certdrop_status_enable", "YES".to_string()),
            ("weekly_certdrop_status_config", text(s.path("check.toml"))),
            ("weekly_certdrop_status_user", String::new()),
            ("weekly_certdrop_status_flags", flags.to_string()),
        ]
    };
    periodic(&weekly, &[]).expect(0).silent();
    // All well: the report (one line per certificate line), rc 0.
    let ran = periodic(&weekly, &knobs("")).expect(0);
    ran.stdout_starts("\ncertdrop status:\ncertdrop-check: www: OK (");
    assert_eq!(ran.stdout.lines().count(), 3, "{}", ran.stdout);
    // Past the warning threshold (Pebble's certificates last 5 years): the
    // problem line follows the report, rc 1.
    let ran = periodic(&weekly, &knobs("--warning 3650")).expect(1);
    ran.stdout_has("certdrop-check: www: WARNING (");
    ran.stdout_has("\nWARNING: www: certs/: expires in ");
    // Critical: certdrop-check fails (65), rc 3.
    periodic(&weekly, &knobs("--warning 3650 --critical 3650"))
        .expect(3)
        .stdout_has("certdrop-check: failed (exit 65)\n");
}
