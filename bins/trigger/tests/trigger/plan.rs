//! The no-op plan (src/plan.rs): a `run` after a pass that found nothing
//! to do for any service says so from `<state>/plan` without reading the
//! services, and never when anything that pass rested on changed.
//!
//! Which way a run went is seen from the state directory: a full pass
//! removes a per-service record of an earlier version (`<state>/*.quiet`),
//! the plan's pass reads nothing there but the plan, so such a file left
//! in place says the plan held.

use std::time::Duration;

use crate::harness::{published, Tree};

/// trigger.toml for one service `www` on line `www` with `body`, the
/// definitions searched in defs/ then defs2/.
fn config(tree: &Tree, body: &str) {
    tree.write(
        "trigger.toml",
        &format!(
            "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"defs\", \"defs2\"]\n\
             allowed_signers = \"allowed_signers\"\nsigner = \"publish@certdrop\"\n\
             lock_wait = \"0s\"\n\n\
             [[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{}\"]\n{body}\n",
            crate::harness::NAME
        ),
    );
}

/// Deployed once, then a pass with nothing to do: the plan is written.
fn settled() -> Tree {
    let tree = Tree::new();
    std::fs::create_dir(tree.path("defs2")).expect("defs2");
    tree.issue();
    config(&tree, &published("www", &touch(&tree)));
    tree.run(&["run"]).expect(0);
    tree.run(&["run"]).expect(2).silent();
    assert!(tree.path("state/plan").exists(), "no plan written");
    tree
}

/// Leave the file a full pass removes.
fn mark(tree: &Tree) {
    tree.write("state/old.quiet", "0\n");
}

/// Whether the last run left the mark (the plan held).
fn planned(tree: &Tree) -> bool {
    tree.path("state/old.quiet").exists()
}

/// The reload: touch `reloaded` at the top of the tree.
fn touch(tree: &Tree) -> String {
    format!("touch {}", tree.path("reloaded").display())
}

/// A definition whose rule finds its action due: its pid file is not there.
fn no_pidfile(tree: &Tree) -> String {
    format!(
        "rule = \"newer-than-pidfile\"\npidfile = \"no.pid\"\nrestart = \"{}\"\n",
        touch(tree)
    )
}

#[test]
fn a_quiet_run_takes_the_plan_and_writes_nothing() {
    let tree = settled();
    let plan = std::fs::read(tree.path("state/plan")).expect("plan");
    let records = std::fs::read(tree.path("state/quiet")).expect("records");
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(planned(&tree), "the plan did not hold");
    assert_eq!(std::fs::read(tree.path("state/plan")).expect("plan"), plan);
    assert_eq!(
        std::fs::read(tree.path("state/quiet")).expect("records"),
        records
    );
    // -v narrates each service, --force acts, named services are looked at
    // one by one: each a full pass.
    let verbose = tree.run(&["run", "-v"]).expect(2);
    verbose.stderr_has("www: nothing to do (unchanged since the last check)");
    assert!(!planned(&tree), "-v took the plan");
    mark(&tree);
    tree.run(&["run", "www"]).expect(2).silent();
    assert!(!planned(&tree), "a named run took the plan");
    mark(&tree);
    std::fs::remove_file(tree.path("reloaded")).expect("rm");
    tree.run(&["run", "--force"]).expect(0);
    assert!(!planned(&tree), "--force took the plan");
    assert!(tree.path("reloaded").exists(), "--force did not reload");
    // What the forced pass changed (the deployment record) is seen; the
    // next quiet pass writes the plan again.
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(!planned(&tree), "the plan held after a forced deployment");
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(planned(&tree));
}

#[test]
fn the_plan_never_hides_a_change() {
    type Change = fn(&Tree);
    // Each change, made after a quiet pass wrote the plan, and what the
    // next run must then do: its exit, and whether the reload ran.
    let changes: [(&str, Change, i32, bool); 9] = [
        (
            "a byte of the published chain",
            |t| {
                let p = t.path("pub/www/fullchain.pem");
                let mut bytes = std::fs::read(&p).expect("read");
                let at = bytes.len() / 2;
                bytes[at] ^= 1;
                std::fs::write(&p, &bytes).expect("tamper");
            },
            65,
            false,
        ),
        (
            "a file added to the published version",
            |t| {
                t.write("pub/www/extra", "x\n");
            },
            2,
            false,
        ),
        (
            "a new version published",
            |t| {
                t.issue();
            },
            0,
            true,
        ),
        (
            "the deployment record removed",
            |t| {
                std::fs::remove_file(t.path("state/www.json")).expect("rm record");
            },
            0,
            true,
        ),
        (
            "the configuration's names",
            |t| {
                let text = t
                    .read_text("trigger.toml")
                    .replace("www.example.test", "wwx.example.test");
                t.write("trigger.toml", &text);
            },
            65,
            false,
        ),
        (
            "the allowed signers",
            |t| {
                // The same principal with another key: the manifest's
                // signature is no longer allowed.
                certdrop_testkit::sh(
                    t.root(),
                    "ssh-keygen -q -t ed25519 -N '' -C other -f otherkey",
                );
                let public = t.read_text("otherkey.pub");
                t.write(
                    "allowed_signers",
                    &t.signers().replace(
                        t.signers()
                            .split_once(" ssh-ed25519 ")
                            .expect("key")
                            .1
                            .trim(),
                        public.trim().trim_start_matches("ssh-ed25519 "),
                    ),
                );
            },
            65,
            false,
        ),
        (
            "the key replaced behind its symlink",
            |t| {
                // keys/link.pem -> www.pem: the link stays, its target is
                // replaced by another key (the pair no longer matches).
                let other = t.path("keys/other.pem");
                certdrop_testkit::sh(
                t.root(),
                &format!("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {} 2>/dev/null && chmod 600 {}", other.display(), other.display()),
            );
                std::fs::rename(&other, t.path("keys/www.pem")).expect("replace key");
            },
            65,
            false,
        ),
        (
            "a definition put into an earlier directory",
            |t| {
                t.write("defs/plan.toml", &no_pidfile(t));
            },
            0,
            true,
        ),
        (
            "the definition's text",
            |t| {
                t.write("defs2/plan.toml", &no_pidfile(t));
            },
            0,
            true,
        ),
    ];
    for (what, change, code, reload) in changes {
        let tree = Tree::new();
        std::fs::create_dir(tree.path("defs2")).expect("defs2");
        tree.write(
            "defs2/plan.toml",
            &format!(
                "rule = \"content-changed\"\nreload = \"{}\"\n",
                touch(&tree)
            ),
        );
        std::os::unix::fs::symlink("www.pem", tree.path("keys/link.pem")).expect("symlink");
        tree.issue();
        config(
            &tree,
            "definition = \"plan\"\n\
             files = [{ cert = \"pub/www/fullchain.pem\", key = \"keys/link.pem\" }]\n",
        );
        tree.run(&["run"]).expect(0);
        std::fs::remove_file(tree.path("reloaded")).expect("rm");
        tree.run(&["run"]).expect(2).silent();
        mark(&tree);
        tree.run(&["run"]).expect(2).silent();
        assert!(
            planned(&tree),
            "{what}: the plan did not hold before the change"
        );
        change(&tree);
        let ran = tree.run(&["run"]);
        assert_eq!(ran.code, code, "{what}: {ran:?}");
        assert!(!planned(&tree), "{what}: the plan hid it");
        assert_eq!(tree.path("reloaded").exists(), reload, "{what}: reload");
    }
}

#[test]
fn a_plan_that_is_not_whole_is_a_full_pass_and_is_written_again() {
    let tree = settled();
    let plan = tree.read_text("state/plan");
    let torn = [
        String::new(),
        plan[..plan.len() / 2].to_string(),
        plan.replacen("sum ", "sum 0", 1),
        plan.replacen("key ", "key 0", 1),
        plan.replacen("\nstate ", "\nstate /elsewhere", 1),
        plan.lines()
            .filter(|l| !l.starts_with("path "))
            .map(|l| format!("{l}\n"))
            .collect(),
    ];
    for (i, text) in torn.iter().enumerate() {
        tree.write("state/plan", text);
        mark(&tree);
        tree.run(&["run"]).expect(2).silent();
        assert!(!planned(&tree), "torn plan {i} held");
        assert_eq!(
            tree.read_text("state/plan"),
            plan,
            "plan {i} not written again"
        );
    }
}

#[test]
fn a_run_holding_the_lock_stops_the_plan_as_it_stops_a_full_pass() {
    let tree = settled();
    let held =
        certdrop_core::lock::StateLock::acquire(&tree.path("state"), Duration::ZERO).expect("lock");
    mark(&tree);
    tree.run(&["run"])
        .expect(75)
        .one_error("another run holds the lock");
    drop(held);
    tree.run(&["run"]).expect(2).silent();
    assert!(planned(&tree));
}

#[test]
fn a_certificate_that_expires_is_looked_at_again() {
    // Valid for a few seconds more: deployed, found quiet, the plan
    // written; once the clock passes its end the run checks in full and
    // says it expired, as it would have without the records and the plan.
    let tree = Tree::new();
    std::fs::create_dir(tree.path("defs2")).expect("defs2");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    // Long enough for the three runs before it on a busy machine.
    let end = now + 10;
    let stamp = certdrop_testkit::sh(tree.root(), &format!("date -u -d @{end} +%Y%m%d%H%M%SZ"));
    let cert = tree.cert("www", crate::harness::NAME, "20200101000000Z", stamp.trim());
    tree.publish("www", &cert);
    config(&tree, &published("www", &touch(&tree)));
    tree.run(&["run"]).expect(0);
    tree.run(&["run"]).expect(2).silent();
    let plan = tree.read_text("state/plan");
    assert!(plan.contains(&format!("\nuntil {end}\n")), "{plan}");
    // The end as the certificate says it; the check is `now > not_after`.
    let expired = certdrop_testkit::wait::within(Duration::from_secs(30), || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            > end
    });
    assert!(expired, "the clock did not pass the certificate's end");
    mark(&tree);
    tree.run(&["run"]).expect(65).one_error("expired on");
    assert!(!planned(&tree), "the plan held past the certificate's end");
}

#[test]
fn an_allowed_signers_valid_before_ends_the_plan_too() {
    // The leaf is valid to 2099; the signer only to 2030: the records and
    // the plan stand until the signer's end, when the manifest check may
    // refuse what it accepted.
    let tree = settled();
    let line = tree.signers().to_string();
    tree.write(
        "allowed_signers",
        &line.replacen(
            " namespaces=",
            " valid-before=\"20300101000000Z\",namespaces=",
            1,
        ),
    );
    tree.run(&["run"]).expect(2).silent();
    let plan = tree.read_text("state/plan");
    // 2030-01-01T00:00:00Z
    assert!(plan.contains("\nuntil 1893456000\n"), "{plan}");
    let records = tree.read_text("state/quiet");
    assert!(records.trim_end().ends_with(" 1893456000"), "{records}");
}

#[test]
fn a_plan_not_of_ours_or_a_fifo_in_the_tree_is_a_full_pass_that_never_waits() {
    use std::os::unix::fs::PermissionsExt;
    let tree = settled();
    // Readable by others, or a symlink to the real one: not taken.
    let plan = tree.path("state/plan");
    std::fs::set_permissions(&plan, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(!planned(&tree), "a plan others can write was taken");
    std::fs::rename(&plan, tree.path("state/plan.real")).expect("mv");
    std::os::unix::fs::symlink("plan.real", &plan).expect("symlink");
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(!planned(&tree), "a plan through a symlink was taken");
    // Written again as a file of ours; then the line's link becomes a
    // FIFO: the run refuses it without opening it for reading.
    tree.run(&["run"]).expect(2).silent();
    mark(&tree);
    tree.run(&["run"]).expect(2).silent();
    assert!(planned(&tree));
    std::fs::remove_file(tree.path("pub/www")).expect("rm link");
    certdrop_testkit::sh(tree.root(), "mkfifo pub/www");
    let ran = tree.run(&["run"]);
    assert_ne!(ran.code, 2, "{ran:?}");
    assert!(!planned(&tree));
}
