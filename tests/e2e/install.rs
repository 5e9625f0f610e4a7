//! `make install` and the port skeleton (issue 16): the Makefile installs,
//! under DESTDIR and without root, the debug programs the suite already
//! has, for FreeBSD (rc.d, periodic, the FreeBSD definitions) and for
//! Linux (systemd units, the Linux definitions); the FreeBSD layout is
//! exactly what the port's pkg-plist (and USE_RC_SUBR) says, nothing more
//! or less, and BSD make lays out the same as GNU make; each sample
//! configuration, as installed for either OS's layout and for another
//! PREFIX, is accepted by its program; and the port's Makefile.crates is
//! what gen-crates makes of Cargo.lock.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::run::{bin, sh, Ran, Run};
use certdrop_testkit::tree::Tree;

/// Where the install puts things, as the port's PREFIX.
const PREFIX: &str = "/usr/local";
/// The manual: two section pages and one page per program.
const MAN: [&str; 8] = [
    "share/man/man5/certdrop.5",
    "share/man/man7/certdrop.7",
    "share/man/man8/certdrop-check.8",
    "share/man/man8/certdrop-issue.8",
    "share/man/man8/certdrop-jails.8",
    "share/man/man8/certdrop-publish.8",
    "share/man/man8/certdrop-trigger.8",
    "share/man/man8/certdrop-zone.8",
];
/// The systemd units of the Linux layout (spec16.md, "Shipped files").
const UNITS: [&str; 7] = [
    "certdrop-publish.service",
    "certdrop-renew.service",
    "certdrop-renew.timer",
    "certdrop-status.service",
    "certdrop-status.timer",
    "certdrop-trigger.service",
    "certdrop-zone.service",
];

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn port() -> PathBuf {
    top().join("dist/freebsd/port/security/certdrop")
}

/// `make install` for `os` into `destdir`, from the debug programs.
fn make_install(destdir: &Path, os: &str) -> Ran {
    make(destdir, os, "install")
}

/// `make TARGET` for `os` into `destdir`, programs from target/debug.
fn make(destdir: &Path, os: &str, target: &str) -> Ran {
    make_with("make", destdir, os, PREFIX, &[target])
}

/// `MAKE TARGETS` (GNU make or BSD make) for `os` and `prefix` into
/// `destdir`, programs from target/debug.
fn make_with(make: &str, destdir: &Path, os: &str, prefix: &str, targets: &[&str]) -> Ran {
    let debug = bin("certdrop-zone");
    let debug = debug.parent().expect("target/debug");
    Command::new(make)
        .arg("-C")
        .arg(top())
        .args(targets)
        .arg(format!("OS={os}"))
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg(format!("BINDIR_SRC={}", debug.display()))
        // A make that runs this test must not pass its flags on.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .ran()
}

/// Every regular file under `root`, relative, with its permission bits.
fn files(root: &Path) -> Vec<(String, u32)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            if meta.is_dir() {
                walk(root, &path, out);
            } else {
                assert!(meta.is_file(), "{}: not a regular file", path.display());
                let rel = path.strip_prefix(root).expect("under root");
                out.push((
                    rel.to_str().expect("utf-8").to_string(),
                    meta.permissions().mode() & 0o7777,
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// pkg-plist as the ports framework resolves it: %%ETCDIR%% and
/// %%DATADIR%% (etc/certdrop, share/certdrop), `@sample X.sample` installs
/// X.sample, manual pages are listed compressed; plus the rc.d scripts
/// USE_RC_SUBR installs without a plist line.
fn plist() -> BTreeSet<String> {
    let text = std::fs::read_to_string(port().join("pkg-plist")).expect("pkg-plist");
    let mut out = BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry = line.strip_prefix("@sample ").unwrap_or(line);
        assert!(!entry.starts_with('@'), "an unexpected keyword: {line}");
        let entry = entry
            .replace("%%ETCDIR%%", "etc/certdrop")
            .replace("%%DATADIR%%", "share/certdrop");
        assert!(!entry.contains("%%"), "an unresolved substitution: {line}");
        let entry = match entry.strip_prefix("share/man/") {
            Some(_) => entry
                .strip_suffix(".gz")
                .unwrap_or_else(|| panic!("{line}: manual pages are listed compressed"))
                .to_string(),
            None => entry,
        };
        assert!(out.insert(entry), "listed twice: {line}");
    }
    let makefile = std::fs::read_to_string(port().join("Makefile")).expect("port Makefile");
    let rc = makefile
        .lines()
        .find_map(|l| l.strip_prefix("USE_RC_SUBR="))
        .expect("USE_RC_SUBR");
    for name in rc.split_whitespace() {
        out.insert(format!("etc/rc.d/{name}"));
    }
    out
}

/// The definitions in `dir` (deploy-triggers/ or deploy-triggers/linux/),
/// name and content.
fn definitions(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("definitions")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("toml"))
        .map(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).expect("name");
            (name.to_string(), std::fs::read(&p).expect("read"))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn install_for_freebsd_is_what_the_port_lists() {
    let tree = Tree::with_prefix("certdrop-install.");
    let destdir = tree.path("stage");
    make_install(&destdir, "FreeBSD").expect(0);
    let prefix = destdir.join(PREFIX.trim_start_matches('/'));
    // Nothing outside PREFIX.
    let top_level: Vec<String> = tree.listing("stage");
    assert_eq!(top_level, ["usr"], "outside {PREFIX}");
    let installed = files(&prefix);
    let names: BTreeSet<String> = installed.iter().map(|(f, _)| f.clone()).collect();
    let listed = plist();
    let missing: Vec<&String> = listed.difference(&names).collect();
    let unlisted: Vec<&String> = names.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "pkg-plist lists, make install did not install: {missing:?}"
    );
    assert!(
        unlisted.is_empty(),
        "installed, pkg-plist omits: {unlisted:?}"
    );
    for page in MAN {
        assert!(names.contains(page), "{page}");
    }
    // Programs and scripts executable, the rest plain files.
    for (file, mode) in &installed {
        let exec = file.starts_with("bin/")
            || file.starts_with("etc/rc.d/")
            || file.starts_with("etc/periodic/");
        assert_eq!(*mode, if exec { 0o755 } else { 0o644 }, "{file}: {mode:o}");
        if exec && !file.starts_with("bin/") {
            let text = std::fs::read_to_string(prefix.join(file)).expect("script");
            assert!(!text.contains("%%"), "{file}: %%PREFIX%% left in");
        }
    }
    for (name, _) in installed.iter().filter(|(f, _)| f.starts_with("etc/rc.d/")) {
        let ours = top()
            .join("dist/freebsd/rc.d")
            .join(name.trim_start_matches("etc/rc.d/"));
        assert!(ours.is_file(), "{name}: from {}", ours.display());
    }
    // FreeBSD's definitions, as shipped.
    assert_eq!(
        definitions(&prefix.join("share/certdrop/deploy-triggers")),
        definitions(&top().join("deploy-triggers"))
    );
    assert!(!names.iter().any(|f| f.starts_with("lib/systemd")));

    // BSD make (the port's, FreeBSD's own) lays out the same files, the
    // same text in each but the programs (bmake is in install-deps).
    if Command::new("bmake").arg("-V").arg("OS").output().is_ok() {
        let bsd = tree.path("bmake");
        make_with("bmake", &bsd, "FreeBSD", PREFIX, &["install"]).expect(0);
        let bsd_prefix = bsd.join(PREFIX.trim_start_matches('/'));
        assert_eq!(files(&bsd_prefix), installed, "bmake install");
        for (file, _) in installed.iter().filter(|(f, _)| !f.starts_with("bin/")) {
            assert!(
                std::fs::read(bsd_prefix.join(file)).expect("bmake's")
                    == std::fs::read(prefix.join(file)).expect("make's"),
                "{file}: bmake installed other text"
            );
        }
    }

    // uninstall takes every file away again, and leaves a configuration
    // made from a sample.
    std::fs::write(prefix.join("etc/certdrop/issue.toml"), "# mine\n").expect("mine");
    make(&destdir, "FreeBSD", "uninstall").expect(0);
    let left: Vec<String> = files(&prefix).into_iter().map(|(f, _)| f).collect();
    assert_eq!(left, ["etc/certdrop/issue.toml"]);
}

#[test]
fn install_for_linux_has_the_units_and_the_linux_definitions() {
    let tree = Tree::with_prefix("certdrop-install.");
    let destdir = tree.path("stage");
    make_install(&destdir, "Linux").expect(0);
    let prefix = destdir.join(PREFIX.trim_start_matches('/'));
    let installed = files(&prefix);
    let names: BTreeSet<String> = installed.iter().map(|(f, _)| f.clone()).collect();
    for page in MAN {
        assert!(names.contains(page), "{page}");
    }
    let units: Vec<String> = tree.listing(&format!("stage{PREFIX}/lib/systemd/system"));
    assert_eq!(units, UNITS);
    for unit in UNITS {
        let text =
            std::fs::read_to_string(prefix.join("lib/systemd/system").join(unit)).expect("unit");
        assert!(!text.contains("%%"), "{unit}: %%PREFIX%% left in");
    }
    // Linux's definitions under the same names; no rc.d, no periodic.
    let linux = definitions(&top().join("deploy-triggers/linux"));
    assert_eq!(
        definitions(&prefix.join("share/certdrop/deploy-triggers")),
        linux
    );
    let freebsd: Vec<String> = definitions(&top().join("deploy-triggers"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let linux: Vec<String> = linux.into_iter().map(|(n, _)| n).collect();
    assert_eq!(linux, freebsd, "a Linux variant of every definition");
    assert!(!names
        .iter()
        .any(|f| f.starts_with("etc/rc.d") || f.starts_with("etc/periodic")));
    // Apart from those, the same files as the FreeBSD layout.
    let common: BTreeSet<String> = plist()
        .into_iter()
        .filter(|f| !f.starts_with("etc/rc.d/") && !f.starts_with("etc/periodic/"))
        .collect();
    let here: BTreeSet<String> = names
        .into_iter()
        .filter(|f| !f.starts_with("lib/systemd/"))
        .collect();
    assert_eq!(here, common);
    // An OS the Makefile does not know is refused, installing nothing.
    let other = tree.path("other");
    let ran = make_install(&other, "Plan9");
    assert_ne!(ran.code, 0);
    ran.stderr_has("OS=Plan9: expected FreeBSD or Linux");
    assert!(!other.exists());
}

#[test]
fn each_installed_sample_is_accepted_by_its_program() {
    // Each OS's layout, and a PREFIX other than the port's.
    for (os, prefix, db) in [
        ("FreeBSD", PREFIX, "/var/db/certdrop"),
        ("Linux", PREFIX, "/var/lib/certdrop"),
        ("Linux", "/usr", "/var/lib/certdrop"),
    ] {
        samples_accepted(os, prefix, db);
    }
}

/// The samples `make install-etc` installs for `os` under `prefix`, whose
/// data is under `db`, each accepted by its program.
fn samples_accepted(os: &str, prefix_dir: &str, db: &str) {
    let tree = Tree::with_prefix("certdrop-install.");
    let destdir = tree.path("stage");
    let what = format!("{os} {prefix_dir}");
    make_with(
        "make",
        &destdir,
        os,
        prefix_dir,
        &["install-share", "install-etc"],
    )
    .expect(0);
    let prefix = destdir.join(prefix_dir.trim_start_matches('/'));
    let etc = prefix.join("etc/certdrop");
    let sample =
        |name: &str| std::fs::read_to_string(etc.join(format!("{name}.sample"))).expect("sample");
    for name in [
        "issue.toml",
        "zone.toml",
        "publish.toml",
        "trigger.toml",
        "check.toml",
    ] {
        let text = sample(name);
        assert!(!text.contains("%%"), "{what}: {name}: a word left in");
        assert!(text.contains(db), "{what}: {name}: not {db}");
        if prefix_dir != "/usr/local" {
            assert!(!text.contains("/usr/local/"), "{what}: {name}: {text}");
        }
    }
    // nsd's zone directory: FreeBSD's port, or on Linux the one
    // certdrop-zone.service may write.
    let zones = match os {
        "FreeBSD" => "install = \"/usr/local/etc/nsd/zones\"",
        _ => "install = \"/var/lib/certdrop/zones\"",
    };
    assert!(sample("zone.toml").contains(zones), "{what}");
    // The samples name the installed layout and the data directory: point
    // them at this stage and a tree of the test's own.
    let data = tree.path("db");
    // The shared directories exist, as the operator makes them.
    tree.mkdirs(&["db/certs", "db/pub"]);
    let local = |text: &str| {
        text.replace(&format!("{prefix_dir}/"), &format!("{}/", prefix.display()))
            .replace(db, &data.display().to_string())
    };
    let check = |name: &str, config: &Path| {
        Command::new(bin(name))
            .arg("-c")
            .arg(config)
            .arg("-n")
            .ran()
    };

    // issue and check: the configuration alone.
    check("certdrop-issue", &etc.join("issue.toml.sample"))
        .expect(0)
        .stdout_has("configuration ok (1 line(s))");
    check("certdrop-check", &etc.join("check.toml.sample"))
        .expect(0)
        .stdout_has("configuration ok (1 line(s) configured)");

    // zone reads its sources: the SOA and primary parts, and the
    // fragments' owner must be a user here (certdrop-issue is the port's).
    let zone = sample("zone.toml");
    assert!(zone.contains("fragment_owner = \"certdrop-issue\""));
    let uid = nix::unistd::getuid().to_string();
    let zone = zone.replace("\"certdrop-issue\"", &format!("\"{uid}\""));
    tree.write("zone/zone.toml", &zone);
    tree.write(
        "zone/zones/example.org.soa",
        "$TTL 300\n@ IN SOA ns1.example.org. hostmaster.example.org. 1 3600 900 1209600 60\n",
    );
    tree.write(
        "zone/zones/example.org.primary",
        "@ NS ns1\nns1 A 192.0.2.53\n",
    );
    check("certdrop-zone", &tree.path("zone/zone.toml"))
        .expect(0)
        .stdout_has("configuration ok (1 zone(s))");

    // publish: its signing key, made as the sample says; then only the
    // certificate is missing (66), nothing in the configuration.
    let key = tree.path("publish_ed25519");
    sh(
        tree.root(),
        &format!(
            "ssh-keygen -q -t ed25519 -N '' -C publish@example.org -f {}",
            key.display()
        ),
    );
    let publish = local(&sample("publish.toml")).replace(
        &format!("{}/etc/certdrop/publish_ed25519", prefix.display()),
        &key.display().to_string(),
    );
    assert!(publish.contains(&key.display().to_string()), "{publish}");
    tree.write("publish.toml", &publish);
    check("certdrop-publish", &tree.path("publish.toml"))
        .expect(66)
        .stderr_has("www: no certificate yet");

    // trigger: the installed definitions resolve (nginx from the stage's
    // share/certdrop/deploy-triggers); then only pub/ is missing (66).
    let signers = tree.path("allowed_signers");
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("pub");
    std::fs::write(&signers, format!("publish@example.org {public}")).expect("signers");
    let trigger = local(&sample("trigger.toml")).replace(
        &format!("{}/etc/certdrop/allowed_signers", prefix.display()),
        &signers.display().to_string(),
    );
    assert!(
        trigger.contains(&format!(
            "{}/share/certdrop/deploy-triggers",
            prefix.display()
        )),
        "{trigger}"
    );
    tree.write("trigger.toml", &trigger);
    check("certdrop-trigger", &tree.path("trigger.toml"))
        .expect(66)
        .one_error("www: ")
        .stderr_has("not published yet");

    // jails: the sample site passes its own check.
    Command::new(bin("certdrop-jails"))
        .arg("check")
        .arg(etc.join("site.toml.sample"))
        .ran()
        .expect(0);
}

#[test]
fn the_ports_crate_list_is_current() {
    let ran = Command::new("sh")
        .arg(top().join("dist/freebsd/port/gen-crates"))
        .arg(top().join("Cargo.lock"))
        .ran()
        .expect(0);
    let committed =
        std::fs::read_to_string(port().join("Makefile.crates")).expect("Makefile.crates");
    assert!(
        ran.stdout == committed,
        "Makefile.crates is stale: run `make port-crates`"
    );
    // Every crates.io package of the lock file, none of the workspace's.
    let lock = std::fs::read_to_string(top().join("Cargo.lock")).expect("Cargo.lock");
    let registry = lock
        .matches("source = \"registry+https://github.com/rust-lang/crates.io-index\"")
        .count();
    assert_eq!(committed.lines().count(), registry);
    assert!(committed.starts_with("CARGO_CRATES=\t"));
    assert!(!committed.contains("certdrop-"));
    // A lock file with a git dependency is refused, saying what to do.
    let tree = Tree::with_prefix("certdrop-install.");
    let git = tree.write(
        "Cargo.lock",
        "version = 3\n\n[[package]]\nname = \"x\"\nversion = \"1.0.0\"\n\
         source = \"git+https://example.invalid/x.git#0123\"\n",
    );
    Command::new("sh")
        .arg(top().join("dist/freebsd/port/gen-crates"))
        .arg(git)
        .ran()
        .expect(65)
        .stderr_has("x 1.0.0: a git dependency");
}
