//! Unit tests: the site grammar, the privilege table, the rendering of the
//! shipped sample site (kept identical to jail-templates/example/).

use std::path::{Path, PathBuf};

use crate::check::problems;
use crate::render::render;
use crate::site::Site;

fn sample_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jail-templates/site.toml.sample")
}

fn sample() -> String {
    std::fs::read_to_string(sample_path()).expect("sample site")
}

fn site(text: &str) -> Site {
    Site::parse(Path::new("site.toml"), text).expect("parses")
}

/// The sample site with one jail's `key = value` line replaced.
fn with(old: &str, new: &str) -> String {
    let s = sample();
    assert!(s.contains(old), "sample has {old}");
    s.replacen(old, new, 1)
}

#[test]
fn the_sample_keeps_the_privilege_table() {
    assert_eq!(problems(&site(&sample())), Vec::<String>::new());
}

#[test]
fn a_reader_that_writes_is_refused() {
    let p = problems(&site(&with(
        "mounts = { certs = \"ro\", pub = \"rw\" }",
        "mounts = { certs = \"rw\", pub = \"rw\" }",
    )));
    assert_eq!(p.len(), 3, "{p:?}");
    assert!(p[0].starts_with("site.toml:42: jail 'publish': mounts certs/ read-write, but its stages (publish) may only read it"), "{p:?}");
    assert!(
        p.iter().any(|l| l
            == "site.toml:42: jail 'publish': mounts: certs/ is written by jails acme, publish; one writer per directory"),
        "{p:?}"
    );
}

#[test]
fn keys_anywhere_but_the_issuer_are_refused() {
    let p = problems(&site(&with(
        "mounts = { dnsextra = \"ro\", certs = \"ro\", phonehome = \"ro\" }",
        "mounts = { dnsextra = \"ro\", certs = \"ro\", phonehome = \"ro\", keys = \"ro\" }",
    )));
    assert_eq!(
        p,
        ["site.toml:29: jail 'dns': mounts keys/, which holds secrets: only the issue jail may"]
    );
    let p = problems(&site(&with(
        "mounts = { phonehome = \"rw\" }",
        "mounts = { phonehome = \"rw\", pub = \"ro\" }",
    )));
    assert_eq!(
        p,
        ["site.toml:51: jail 'phonehome': mounts pub/, which its stages (collect) may not see"]
    );
}

#[test]
fn a_directory_nobody_writes_is_refused() {
    let p = problems(&site(&with(
        "mounts = { phonehome = \"rw\" }",
        "mounts = {}",
    )));
    assert_eq!(
        p,
        ["site.toml:29: jail 'dns': mounts: phonehome/ is read by jail dns but written by none"]
    );
}

#[test]
fn users_are_unprivileged_and_apart() {
    let p = problems(&site(&with("uid = 803", "uid = 802")));
    assert_eq!(
        p,
        ["site.toml:41: jail 'publish': uid 802 is also jail 'dns''s; one user per jail keeps their files apart"]
    );
    let p = problems(&site(&with("uid = 803", "uid = 0")));
    assert!(p[0].contains("uid and gid 0 are root"), "{p:?}");
}

#[test]
fn grammar_errors_name_file_line_and_key() {
    let err = |text: &str| {
        let e = Site::parse(Path::new("site.toml"), text).expect_err("refused");
        assert_eq!(e.class, certdrop_core::exit::Failure::Config, "{e}");
        e.msg
    };
    assert_eq!(
        err(&with("stages = [\"publish\"]", "stages = [\"deploy\"]")),
        "site.toml:39: jail.stages: \'deploy\': expected one of: issue, zone, publish, trigger, csr, web, collect, check"
    );
    assert!(err(&with("certs = \"ro\", pub", "certz = \"ro\", pub"))
        .starts_with("site.toml:42: jail 'publish': mounts: unknown directory 'certz'"));
    assert_eq!(
        err(&with("when = \"*/10 * * * *\"", "when = \"every 10 minutes\"")),
        "site.toml:43: jail 'publish': cron.when: 'every 10 minutes': not a crontab(5) time (five fields, e.g. \"27 11 * * *\")"
    );
    assert!(
        err(&with("data = \"/var/db/certdrop\"", "data = \"var/db\""))
            .contains("data: 'var/db' must be an absolute path")
    );
    assert!(err(&with("data = \"/var/db/certdrop\"", "data = \"/var\""))
        .contains("data: '/var' is too near the root"));
    assert!(err(&with(
        "data = \"/var/db/certdrop\"",
        "data = \"/usr/local/etc/certdrop/data\""
    ))
    .contains("must be apart, neither inside the other"));
    assert!(
        err(&with("name = \"www\"", "name = \"dns\"")).contains("jail.name: 'dns' defined twice")
    );
    assert!(err(&with("mailto", "mail_to")).contains("mail_to: unknown key"));
}

#[test]
fn placeholders_are_expanded() {
    let s = site(&sample());
    let dns = &s.jails[1];
    assert_eq!(
        dns.daemons[0].run,
        "nsd -c /usr/local/etc/certdrop/current/nsd.conf"
    );
    assert_eq!(
        dns.daemons[0].pidfile.as_deref(),
        Some("/var/db/certdrop/state/dns/nsd.pid")
    );
    assert_eq!(
        dns.check[0],
        "certdrop-zone -c \"$CERTDROP_RELEASE\"/zone.toml -n"
    );
    assert_eq!(
        s.jails[3].cron[0].run,
        "sh /usr/local/etc/certdrop/current/collect-hostkeys /var/db/certdrop/phonehome"
    );
}

#[test]
fn fstabs_mount_exactly_the_table() {
    let files = render(&site(&sample())).expect("renders");
    let fstab = |j: &str| {
        let f = files
            .iter()
            .find(|f| f.path == Path::new(&format!("fstab.{j}")))
            .expect("fstab");
        f.text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .map(|f| format!("{} {}", f[0].rsplit('/').next().unwrap_or(""), f[3]))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        fstab("acme"),
        [
            "certdrop ro",
            "acme rw",
            "dnsextra rw",
            "webroot rw",
            "certs rw",
            "keys rw",
            "archive rw"
        ]
    );
    assert_eq!(
        fstab("dns"),
        [
            "certdrop ro",
            "dns rw",
            "dnsextra ro",
            "certs ro",
            "phonehome ro"
        ]
    );
    assert_eq!(
        fstab("publish"),
        ["certdrop ro", "publish rw", "certs ro", "pub rw"]
    );
    assert_eq!(
        fstab("www"),
        ["certdrop ro", "www rw", "webroot ro", "pub ro", "www ro"]
    );
    assert_eq!(
        fstab("monitor"),
        ["certdrop ro", "monitor rw", "acme ro", "certs ro", "pub ro"]
    );
}

/// The monitor reads the issuer's line states (failures, back-off): the
/// issuer's state directory is installed 2750 in the monitor's group
/// (certdrop-issue writes the files 0640, taking the directory's group),
/// and mounted read-only in the monitor jail alone.
#[test]
fn the_monitor_reads_the_issuer_state_and_nobody_else_does() {
    let s = site(&sample());
    let files = render(&s).expect("renders");
    let text = |p: &str| {
        files
            .iter()
            .find(|f| f.path == Path::new(p))
            .unwrap_or_else(|| panic!("{p}"))
            .text
            .clone()
    };
    let install = text("linux/install");
    assert!(
        install.contains("\ninstall -d -o 801 -g 806 -m 2750 /var/db/certdrop/state/acme "),
        "{install}"
    );
    assert!(
        install.contains("\ninstall -d -o 806 -g 806 -m 0700 /var/db/certdrop/state/monitor\n"),
        "{install}"
    );
    let freebsd = text("install.sh");
    assert!(
        freebsd.contains(
            "\ninstall -d -o certdrop-issue -g certdrop-check -m 2750 /var/db/certdrop/state/acme\t"
        ),
        "{freebsd}"
    );
    let monitor = text("linux/jail-monitor");
    assert!(
        monitor.contains(
            "mount --bind \"$old/state/acme\" \"$data/state/acme\"\n\
             mount -o remount,bind,ro \"$data/state/acme\"\n"
        ),
        "{monitor}"
    );
    assert!(!monitor.contains("state/acme, "), "not hidden: {monitor}");
    for j in ["dns", "publish", "www", "phonehome", "acme"] {
        let other = text(&format!("linux/jail-{j}"));
        assert!(
            !other.contains("\"$data/state/acme\"\nmount -o remount,bind,ro"),
            "{j}"
        );
        assert!(!text(&format!("fstab.{j}"))
            .contains("state/acme\t/usr/jails/{j}/var/db/certdrop/state/acme\tnullfs\tro"));
    }
    assert_eq!(problems(&s), Vec::<String>::new());
}

#[test]
fn the_monitor_jail_runs_certdrop_check_from_cron() {
    let files = render(&site(&sample())).expect("renders");
    let crontab = &files
        .iter()
        .find(|f| f.path == Path::new("crontab.monitor"))
        .expect("crontab.monitor")
        .text;
    assert!(
        crontab.contains(
            "\n*/5 * * * *\tcertdrop-check -c /usr/local/etc/certdrop/current/check.toml run\n"
        ),
        "{crontab}"
    );
    // It may read certs/ and pub/, nothing else; a write is refused.
    assert_eq!(problems(&site(&sample())), Vec::<String>::new());
    let p = problems(&site(&with(
        "mounts = { certs = \"ro\", pub = \"ro\" }",
        "mounts = { certs = \"ro\", pub = \"rw\" }",
    )));
    assert_eq!(
        p,
        [
            "site.toml:72: jail 'monitor': mounts pub/ read-write, but its stages (check) may only read it",
            "site.toml:72: jail 'monitor': mounts: pub/ is written by jails publish, monitor; one writer per directory"
        ]
    );
}

#[test]
fn shell_and_jail_conf_quoting() {
    let files = render(&site(&with(
        "run = \"certdrop-zone -c {config}/zone.toml watch\"",
        "run = \"certdrop-zone -c '{config}/zone.toml' watch \\\"$x\\\"\"",
    )))
    .expect("renders");
    let text = |p: &str| &files.iter().find(|f| f.path == Path::new(p)).expect(p).text;
    // Not plain words: no rc.conf knob could carry it, so the jail's own
    // rc.d script runs it as written, after nsd.
    assert!(text("rc.d.dns").contains(
        "\n\tsu -m certdrop-zone -c 'nsd -c /usr/local/etc/certdrop/current/nsd.conf'\n\t/usr/sbin/daemon -f -S -T dns-2 -u certdrop-zone -P /var/run/certdrop-2.pid certdrop-zone -c '/usr/local/etc/certdrop/current/zone.toml' watch \"$x\"\n}"
    ), "{}", text("rc.d.dns"));
    assert!(
        !text("rc.conf.dns").contains("certdrop_zone"),
        "{}",
        text("rc.conf.dns")
    );
    assert!(text("linux/start").contains(
        "/bin/sh -c 'exec certdrop-zone -c '\\''/usr/local/etc/certdrop/current/zone.toml'\\'' watch \"$x\"'"
    ), "{}", text("linux/start"));
}

/// The jails start their daemons from their own /etc/rc: certdrop's watch
/// daemons through the package's rc.d scripts with knobs in rc.conf.<jail>,
/// the others through rc.d.<jail>, which rcorder puts before them; no
/// exec.start line of jail.conf starts anything.
#[test]
fn daemons_start_from_the_jails_rc() {
    let files = render(&site(&sample())).expect("renders");
    let text = |p: &str| {
        files
            .iter()
            .find(|f| f.path == Path::new(p))
            .map(|f| f.text.as_str())
    };
    let conf = text("jail.conf").expect("jail.conf");
    assert_eq!(
        conf.matches("exec.start").count(),
        1,
        "only the global /bin/sh /etc/rc: {conf}"
    );
    assert!(conf.contains("\nexec.start = \"/bin/sh /etc/rc\";\n"));
    let dns = text("rc.conf.dns").expect("rc.conf.dns");
    for knob in [
        "\ncertdrop_jail_enable=\"YES\"\n",
        "\ncertdrop_zone_enable=\"YES\"\n",
        "\ncertdrop_zone_config=\"/usr/local/etc/certdrop/current/zone.toml\"\n",
        "\ncertdrop_zone_user=\"certdrop-zone\"\n",
        "\ncertdrop_zone_flags=\"\"\n",
    ] {
        assert!(dns.contains(knob), "{knob} in {dns}");
    }
    let rcd = text("rc.d.dns").expect("rc.d.dns");
    assert!(rcd.contains("\n# PROVIDE: certdrop_jail\n# REQUIRE: LOGIN\n# BEFORE: certdrop_zone certdrop_trigger certdrop_publish\n# KEYWORD: shutdown\n"), "{rcd}");
    assert!(
        rcd.contains(
            "\n\tsu -m certdrop-zone -c 'nsd -c /usr/local/etc/certdrop/current/nsd.conf'\n"
        ),
        "{rcd}"
    );
    assert!(
        rcd.contains("\npidfiles=\"/var/db/certdrop/state/dns/nsd.pid\"\n"),
        "{rcd}"
    );
    // No daemon: neither file; install.sh puts in what there is and takes
    // out what there no longer is.
    assert_eq!(text("rc.conf.acme"), None);
    assert_eq!(text("rc.d.www").map(|t| t.contains("nginx -c")), Some(true));
    assert_eq!(text("rc.d.publish"), None);
    let install = text("install.sh").expect("install.sh");
    assert!(
        install.contains(
            "\ninstall -m 0644 \"$out/rc.conf.dns\" \"$r/etc/rc.conf.d/certdrop_zone\"\n"
        ),
        "{install}"
    );
    assert!(
        install.contains(
            "\ninstall -m 0555 \"$out/rc.d.dns\" \"$r/usr/local/etc/rc.d/certdrop_jail\"\n"
        ),
        "{install}"
    );
    assert!(
        install.contains("\nrm -f \"$r/etc/rc.conf.d/certdrop_trigger\"\n"),
        "{install}"
    );
    assert!(
        install.contains("(pkg -j dns install certdrop)"),
        "{install}"
    );
}

/// jail-templates/example/ is what the sample renders to (the README's
/// walk-through shows it): re-render with CERTDROP_BLESS=1 after a change.
#[test]
fn the_example_is_what_the_sample_renders_to() {
    let mut s = site(&sample());
    s.path = PathBuf::from("site.toml");
    let files = render(&s).expect("renders");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jail-templates/example");
    if std::env::var_os("CERTDROP_BLESS").is_some() {
        crate::render::write(&dir, &files).expect("bless");
    }
    for f in &files {
        let have = std::fs::read_to_string(dir.join(&f.path)).unwrap_or_default();
        assert_eq!(
            have,
            f.text,
            "jail-templates/example/{} is stale (CERTDROP_BLESS=1)",
            f.path.display()
        );
    }
}

#[test]
fn a_key_is_granted_to_one_service_jail_only() {
    let p = problems(&site(&with(
        "mounts = { certs = \"ro\", pub = \"rw\" }",
        "mounts = { certs = \"ro\", pub = \"rw\" }\nkeys = [\"www\"]",
    )));
    assert_eq!(
        p,
        [
            "site.toml:43: jail 'publish': keys = [...] grants a service its own key; its stages (publish) serve nothing",
            "site.toml:62: jail 'www': the key of line 'www' is also granted to jail 'publish'; one service jail per key"
        ]
    );
    let s = site(&sample());
    assert_eq!(
        s.jails[0].groups,
        [805],
        "the issuer may hand keys to the www group"
    );
    assert!(s.jails[1].groups.is_empty());
}

/// Every rendered script is valid /bin/sh (`sh -n`), with the sample's
/// quoting of commands that hold quotes and `$`.
#[test]
fn rendered_scripts_parse_as_sh() {
    let files = render(&site(&with(
        "run = \"certdrop-zone -c {config}/zone.toml watch\"",
        "run = \"certdrop-zone -c '{config}/zone.toml' watch \\\"$x\\\"\"",
    )))
    .expect("renders");
    let scripts: Vec<_> = files.iter().filter(|f| f.executable).collect();
    assert!(scripts.len() >= 10, "{}", scripts.len());
    for f in scripts {
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(&f.text)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}: {}",
            f.path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The rendered rc.d scripts are shellcheck clean, as the shipped ones.
#[test]
fn rendered_rc_scripts_are_shellcheck_clean() {
    let files = render(&site(&sample())).expect("renders");
    let scripts: Vec<_> = files
        .iter()
        .filter(|f| f.path.to_string_lossy().starts_with("rc.d."))
        .collect();
    assert_eq!(scripts.len(), 2);
    for f in scripts {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("script");
        std::fs::write(&path, &f.text).expect("write");
        let out = std::process::Command::new("shellcheck")
            .args(["-s", "sh"])
            .arg(&path)
            .output()
            .expect("shellcheck");
        assert!(
            out.status.success() && out.stdout.is_empty(),
            "{}: {}",
            f.path.display(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// A file of the same name in the site's `templates` directory replaces
/// the built-in template; the others stay built in; a broken one is one
/// line naming the file.
#[test]
fn a_site_overrides_a_template() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("crontab"),
        "# ours\n{% for c in jail.cron %}{{ c.when }} nice {{ c.run }}\n{% endfor %}",
    )
    .expect("template");
    let mut s = site(&sample());
    s.templates = Some(dir.path().to_path_buf());
    let files = render(&s).expect("renders");
    let text = |p: &str| &files.iter().find(|f| f.path == Path::new(p)).expect(p).text;
    assert_eq!(
        text("crontab.acme"),
        "# ours\n27 11 * * * nice certdrop-issue -c /usr/local/etc/certdrop/current/issue.toml run\n"
    );
    assert!(text("fstab.acme").contains("nullfs"));
    std::fs::write(dir.path().join("crontab"), "{% for c in %}").expect("template");
    let err = render(&s).expect_err("broken template");
    assert!(
        err.msg
            .starts_with(&format!("{}: ", dir.path().join("crontab").display())),
        "{err}"
    );
    assert!(!err.msg.contains('\n'), "{err}");
    assert_eq!(err.class, certdrop_core::exit::Failure::Config);
}
