//! `watch` against a real nsd: the first build at start, a fragment served
//! within two seconds of being written and gone within two of being
//! removed, a hostile file reported without touching the zone while the
//! watcher keeps going, a source edit published, no build triggered by the
//! builds themselves, and a clean exit on SIGTERM. Startup errors exit with
//! their code at once. An issuer's completion marker ends the burst: both
//! values of an order are served from the version that burst built.

use std::fs::File;
use std::time::Duration;

use nix::sys::signal::Signal;

use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pki::self_signed_line;
use certdrop_testkit::{within, Proc, Ran, Run};

use crate::site::{openssl_spki_sha256, read, zone, Tree, V1, V2};

const ZONE: &str = "example.test";
/// The promise is "within a second"; two leaves room for a slow
/// test machine, and is still far below the periodic build.
const PUBLISHED: Duration = Duration::from_secs(2);

/// `certdrop-zone -v -c zone.toml watch ARGS` with its output in files in
/// `logs`, killed on Drop.
struct Watching {
    proc: Proc,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl Watching {
    fn start(tree: &Tree, logs: &str, args: &[&str]) -> Watching {
        let (out, err) = (
            tree.path(&format!("{logs}/watch.out")),
            tree.path(&format!("{logs}/watch.err")),
        );
        let child = zone()
            .arg("-v")
            .arg("-c")
            .arg(tree.path("zone.toml"))
            .arg("watch")
            // The daemon logs to syslog by default; these tests read
            // stdout and stderr.
            .args(["--log", "stderr"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(File::create(&out).expect("watch.out"))
            .stderr(File::create(&err).expect("watch.err"))
            .spawn()
            .expect("start certdrop-zone watch");
        Watching {
            proc: Proc(child),
            out,
            err,
        }
    }

    fn stdout(&self) -> String {
        read(&self.out)
    }

    fn stderr(&self) -> String {
        read(&self.err)
    }

    /// Rounds of build so far (`-v` narrates each one).
    fn builds(&self) -> usize {
        self.stderr()
            .lines()
            .filter(|l| l.starts_with("certdrop-zone: build: "))
            .count()
    }

    #[track_caller]
    fn assert_running(&mut self) {
        assert!(
            self.proc.running(),
            "watch exited\nstderr:\n{}",
            self.stderr()
        );
    }

    /// SIGTERM, then the exit code (None if it did not stop in time).
    fn terminate(&mut self) -> Option<i32> {
        self.proc.stop(Signal::SIGTERM, Duration::from_secs(5))
    }
}

fn txt_has(nsd: &Nsd, value: &str) -> bool {
    nsd.ask("TXT", "_acme-challenge.www.example.test", false)
        .iter()
        .any(|(_, t, r)| t == "TXT" && r.contains(value))
}

fn unsigned_tree() -> (Tree, Nsd) {
    let tree = Tree::new();
    tree.sources(ZONE);
    let nsd = Nsd::start(&tree.path("nsd"), &tree.path("zones"), &[ZONE]);
    tree.config(ZONE, &nsd.reload_command(), "signer = \"none\"\n");
    (tree, nsd)
}

#[test]
fn watch_publishes_changes_and_survives_hostile_files() {
    let (tree, nsd) = unsigned_tree();
    // Narration logged beside the sources, in a watched directory: the
    // watcher's own writes must not feed back.
    let mut w = Watching::start(&tree, "primary", &[]);
    let first = nsd
        .wait_serial_change(ZONE, None)
        .unwrap_or_else(|| panic!("no initial build:\n{}", w.stderr()));

    // A fragment appears: served within PUBLISHED.
    tree.fragment(
        "a",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    assert!(
        within(PUBLISHED, || txt_has(&nsd, V1)),
        "fragment not served within {PUBLISHED:?}:\n{}",
        w.stderr()
    );
    let with = nsd.serial(ZONE).expect("serial");
    assert!(with > first, "{with} > {first}");

    // Removed: gone within PUBLISHED.
    std::fs::remove_file(tree.path("dnsextra/a")).expect("rm");
    assert!(
        within(PUBLISHED, || !txt_has(&nsd, V1)),
        "removed fragment still served:\n{}",
        w.stderr()
    );
    let without = nsd.serial(ZONE).expect("serial");
    assert!(without > with, "{without} > {with}");

    // Hostile files: a build runs and names them, the zone stays as it is.
    tree.fragment("evil", "$INCLUDE /etc/shadow\n");
    tree.fragment(
        "mx",
        &format!("_acme-challenge.www.example.test. 60 IN MX 10 \"{V1}\"\n"),
    );
    assert!(
        within(PUBLISHED, || {
            let err = w.stderr();
            err.contains("dnsextra/evil: rejected: directive $INCLUDE")
                && err.contains("dnsextra/mx: rejected: type MX is not allowed")
        }),
        "hostile files not reported:\n{}",
        w.stderr()
    );
    assert_eq!(nsd.serial(ZONE), Some(without), "serial moved");
    assert!(!read(&tree.path("zones/example.test.zone")).contains("shadow"));
    w.assert_running();

    // Whether nsd serves `new.example.test A ip` within PUBLISHED.
    let serves_new = |ip: &str| {
        within(PUBLISHED, || {
            nsd.ask("A", "new.example.test", false)
                .iter()
                .any(|(_, t, r)| t == "A" && r == ip)
        })
    };
    // The static source changes (rewritten in place, as `>` in a shell).
    std::fs::write(
        tree.path("primary/example.test"),
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nmail A 127.0.0.1\nnew A 127.0.0.7\n",
    )
    .expect("write primary");
    assert!(
        serves_new("127.0.0.7"),
        "primary change not served:\n{}",
        w.stderr()
    );
    // And replaced by rename, as an editor does: the next edit still counts.
    let tmp = tree.path("primary/.example.test.swp");
    std::fs::write(
        &tmp,
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nnew A 127.0.0.8\n",
    )
    .expect("write tmp");
    std::fs::rename(&tmp, tree.path("primary/example.test")).expect("rename");
    assert!(
        serves_new("127.0.0.8"),
        "renamed primary not served:\n{}",
        w.stderr()
    );

    // Quiet: a build's reads and writes trigger no further build.
    std::thread::sleep(Duration::from_millis(500));
    let settled = w.builds();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(w.builds(), settled, "builds feed back:\n{}", w.stderr());
    // Stdout has only what build prints: one line per installed serial.
    let out = w.stdout();
    assert!(
        out.lines()
            .all(|l| l.starts_with("zone example.test: serial ")
                && l.contains("(content changed); ")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 5, "{out}");

    assert_eq!(w.terminate(), Some(0), "stderr:\n{}", w.stderr());
}

#[test]
fn a_completion_marker_builds_the_order_in_one_version() {
    let (tree, nsd) = unsigned_tree();
    let mut w = Watching::start(&tree, "primary", &[]);
    let first = nsd
        .wait_serial_change(ZONE, None)
        .unwrap_or_else(|| panic!("no initial build:\n{}", w.stderr()));
    // As certdrop-issue writes an order: apex and wildcard values, then the
    // empty marker renamed into place.
    for (file, v) in [("a", V1), ("b", V2)] {
        tree.fragment(
            file,
            &format!("_acme-challenge.www.example.test. 60 IN TXT \"{v}\"\n"),
        );
    }
    tree.fragment(".tmp.marker", "");
    std::fs::rename(
        tree.path("dnsextra/.tmp.marker"),
        tree.path("dnsextra/.complete.www"),
    )
    .expect("marker");
    let next = nsd
        .wait_serial_change(ZONE, Some(first))
        .unwrap_or_else(|| panic!("no build after the marker:\n{}", w.stderr()));
    assert!(
        txt_has(&nsd, V1) && txt_has(&nsd, V2),
        "serial {next} lacks a value:\n{}",
        w.stderr()
    );
    assert!(
        w.stderr().contains(".complete.www: renamed (set complete)")
            && w.stderr().contains(" change(s), set complete"),
        "{}",
        w.stderr()
    );
    // One version: the values came with the first new serial, and no
    // other build changed the zone (nsd may answer before watch prints).
    assert_eq!(nsd.serial(ZONE), Some(next), "{}", w.stderr());
    assert!(
        within(PUBLISHED, || w.stdout().lines().count() == 2),
        "{}",
        w.stdout()
    );
    w.assert_running();
    assert_eq!(w.terminate(), Some(0), "stderr:\n{}", w.stderr());
}

#[test]
fn watch_picks_up_a_certificate_switch() {
    let (tree, nsd) = unsigned_tree();
    // A certificate line as certdrop-issue lays it out: certs/www is a
    // symlink into certs/.v/, switched by rename.
    tree.write("tlsa.map", "_443._tcp.www.example.test  www  3 1 1\n");
    let text = read(&tree.path("zone.toml")).replace(
        "signer = \"none\"\n",
        "signer = \"none\"\ntlsa_map = \"tlsa.map\"\n",
    );
    tree.write("zone.toml", &text);
    // Logged beside tlsa.map, in a watched directory, as above.
    let mut w = Watching::start(&tree, ".", &[]);
    nsd.wait_serial_change(ZONE, None)
        .unwrap_or_else(|| panic!("no initial build:\n{}", w.stderr()));

    let version = self_signed_line(
        &tree.path("certs/.v"),
        "www.1",
        &tree.path("keys/www.key"),
        &["www.example.test"],
    );
    let link = tree.path("certs/.tmp.www");
    std::os::unix::fs::symlink(".v/www.1", &link).expect("symlink");
    std::fs::rename(&link, tree.path("certs/www")).expect("switch");
    let want = openssl_spki_sha256(&version.join("cert.pem"));
    assert!(
        within(PUBLISHED, || nsd
            .ask("TLSA", "_443._tcp.www.example.test", false)
            .iter()
            .any(|(_, t, r)| t == "TLSA"
                && r.replace(' ', "").to_lowercase()
                    == format!("311{want}"))),
        "TLSA not served:\n{}",
        w.stderr()
    );
    assert_eq!(w.terminate(), Some(0), "stderr:\n{}", w.stderr());
}

#[test]
fn watch_builds_on_its_interval_without_events() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    let mut w = Watching::start(&tree, ".", &["--interval", "1s"]);
    assert!(
        within(Duration::from_secs(4), || w
            .stderr()
            .matches("build: periodic (every 1s)")
            .count()
            >= 2),
        "{}",
        w.stderr()
    );
    w.assert_running();
    // Nothing changed after the first build: nothing more on stdout.
    assert_eq!(w.stdout().lines().count(), 1, "{}", w.stdout());
    assert_eq!(w.terminate(), Some(0), "stderr:\n{}", w.stderr());
}

/// Run with a time limit: a watch that should have refused to start must
/// not hang the suite. On stderr, as `watch` logs to syslog by default.
fn run_briefly(args: &[&str]) -> Ran {
    zone()
        .args(["--log", "stderr"])
        .args(args)
        .ran_within(Duration::from_secs(5))
}

#[test]
fn watch_refuses_to_start_without_what_it_watches() {
    let tree = Tree::new();
    tree.sources(ZONE);
    tree.config(ZONE, "[]", "signer = \"none\"\n");
    let config = tree.path("zone.toml");
    let c = config.to_str().expect("utf8");
    std::fs::remove_dir(tree.path("phonehome")).expect("rmdir");
    let ran = run_briefly(&["-c", c, "watch"]).expect(66);
    ran.stderr_has("phonehome: cannot watch");
    assert_eq!(ran.stdout, "", "no build before the watches stand");
    assert!(!tree.path("zones/example.test.zone").exists());

    let ran = run_briefly(&["-c", c, "-n", "watch"]).expect(64);
    ran.stderr_has("-n/--check");
    run_briefly(&["-c", c, "watch", "--interval", "0s"]).expect(64);
    run_briefly(&["-c", c, "watch", "--interval", "ten"]).expect(64);

    tree.write("zone.toml", "build = \"build\"\nbogus = 1\n");
    run_briefly(&["-c", c, "watch"]).expect(78);
}
