//! certdrop-jails as a user runs it: exit codes, one line per problem,
//! only changed files rewritten.

use std::path::Path;
use std::process::Command;

use certdrop_testkit::{Run, Tree};

/// Exit code, stdout and stderr of certdrop-jails `args`.
fn jails(args: &[&str]) -> (i32, String, String) {
    let ran = Command::new(env!("CARGO_BIN_EXE_certdrop-jails"))
        .args(args)
        .ran();
    (ran.code, ran.stdout, ran.stderr)
}

fn sample() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jail-templates/site.toml.sample"),
    )
    .expect("sample")
}

#[test]
fn render_writes_once_then_nothing_changes() {
    let dir = Tree::new();
    let site = dir.path("site.toml");
    std::fs::write(&site, sample()).expect("site");
    let out = dir.path("out");
    let (site, out) = (site.to_str().expect("utf8"), out.to_str().expect("utf8"));
    let (code, stdout, stderr) = jails(&["render", site, "-o", out]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(
        stdout.starts_with("rendered site 'example' into "),
        "{stdout}"
    );
    let (code, stdout, stderr) = jails(&["render", site, "-o", out]);
    assert_eq!(
        (code, stdout.as_str(), stderr.as_str()),
        (2, "", ""),
        "quiet when unchanged"
    );
    let (code, _, _) = jails(&["check", site]);
    assert_eq!(code, 0);
    // A jail that leaves the site takes its files with it.
    let fewer = sample().replace(
        "[[jail]]\nname = \"phonehome\"",
        "[[jail]]\nname = \"hostkeys\"",
    );
    std::fs::write(dir.path("site.toml"), fewer).expect("site");
    let (code, _, stderr) = jails(&["render", site, "-o", out]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!Path::new(out).join("fstab.phonehome").exists());
    assert!(!Path::new(out).join("linux/jail-phonehome").exists());
    assert!(Path::new(out).join("linux/jail-hostkeys").exists());
}

#[test]
fn a_bad_site_is_refused_one_line_per_problem_and_nothing_written() {
    let dir = Tree::new();
    let site = dir.path("site.toml");
    let bad = sample()
        .replace(
            "mounts = { certs = \"ro\", pub = \"rw\" }",
            "mounts = { certs = \"ro\", pub = \"rw\", keys = \"ro\" }",
        )
        .replace(
            "mounts = { webroot = \"ro\", pub = \"ro\" }",
            "mounts = { webroot = \"ro\", pub = \"rw\" }",
        );
    std::fs::write(&site, bad).expect("site");
    let out = dir.path("out");
    let (code, stdout, stderr) = jails(&[
        "render",
        site.to_str().expect("utf8"),
        "-o",
        out.to_str().expect("utf8"),
    ]);
    assert_eq!((code, stdout.as_str()), (78, ""));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert!(
        lines[0].contains(":42: jail 'publish': mounts keys/, which holds secrets"),
        "{stderr}"
    );
    assert!(lines[1].contains(":60: jail 'www': mounts pub/ read-write, but its stages (web, trigger) may only read it"), "{stderr}");
    assert!(
        lines[2].ends_with("pub/ is written by jails publish, www; one writer per directory"),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing rendered");
    let (code, _, stderr) = jails(&["check", dir.path("none.toml").to_str().expect("utf8")]);
    assert_eq!(code, 66, "{stderr}");
    let (code, _, _) = jails(&["render", site.to_str().expect("utf8")]);
    assert_eq!(code, 64, "-o is required");
}

/// `check` and `render -n` of `text` both refuse it (78) with exactly
/// `site.toml:{why}` on one line, and write nothing.
#[track_caller]
fn refused(text: &str, why: &str) {
    let dir = Tree::new();
    let site = dir.path("site.toml");
    std::fs::write(&site, text).expect("site");
    let out = dir.path("out");
    let (site, out) = (site.to_str().expect("utf8"), out.to_str().expect("utf8"));
    let want = format!("certdrop-jails: {site}:{why}\n");
    for args in [&["check", site][..], &["-n", "render", site, "-o", out]] {
        let (code, stdout, stderr) = jails(args);
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (78, "", want.as_str()),
            "{args:?}"
        );
    }
    assert!(!Path::new(out).exists(), "nothing rendered");
}

#[test]
fn rules_between_jails_are_refused_with_their_line() {
    let s = sample();
    // A user name, a group or an address two jails cannot share.
    refused(
        &s.replace("user = \"certdrop-publish\"", "user = \"certdrop-zone\""),
        "40: jail 'publish': user 'certdrop-zone' is also jail 'dns''s; install.sh makes one user per jail, with its own uid",
    );
    refused(
        &s.replace("uid = 803\n", "uid = 803\ngid = 802\n"),
        "42: jail 'publish': gid 802 is also jail 'dns''s; install.sh makes a group per jail with its gid, and pw(8) refuses a gid taken",
    );
    refused(
        &s.replace("ip4 = \"em0|192.0.2.80\"", "ip4 = \"em0|192.0.2.53,em0|192.0.2.80\""),
        "59: jail 'www': ip4: 192.0.2.53 is also jail 'dns''s, and one of them has several addresses: jail(8) refuses to start it (IPv4 addresses clash)",
    );
    refused(
        &s.replace("ip4 = \"em0|192.0.2.80\"", "ip4 = \"em0|192.0.2.800\""),
        "59: jail 'www': ip4: 'em0|192.0.2.800': not an IPv4 address as jail.conf(5) takes it (e.g. \"em0|192.0.2.53\")",
    );
    // A key grant nobody fills.
    refused(
        &s.replace(
            "mounts = { dnsextra = \"rw\", webroot = \"rw\", certs = \"rw\", keys = \"rw\", archive = \"rw\" }",
            "mounts = { dnsextra = \"rw\", webroot = \"rw\", certs = \"rw\" }",
        ),
        "61: jail 'www': keys: no jail writes keys/ (the issue jail, mounts keys = \"rw\"), so no key is ever granted",
    );
    // A pid file the daemon cannot write.
    refused(
        &s.replace("pidfile = \"{state}/nsd.pid\"", "pidfile = \"{config}/nsd.pid\""),
        "31: jail 'dns': daemons.pidfile: /usr/local/etc/certdrop/current/nsd.pid lies in config (/usr/local/etc/certdrop), which every jail mounts read-only: the daemon cannot write it; use {state}/",
    );
    refused(
        &s.replace("pidfile = \"{state}/nginx.pid\"", "pidfile = \"{data}/pub/nginx.pid\""),
        "62: jail 'www': daemons.pidfile: /var/db/certdrop/pub/nginx.pid lies in data (/var/db/certdrop) outside the jail's state directory and the directories it writes: the daemon cannot write it; use {state}/",
    );
    // A directory problem names the jail and its mounts' line.
    refused(
        &s.replace("mounts = { phonehome = \"rw\" }", "mounts = {}"),
        "29: jail 'dns': mounts: phonehome/ is read by jail dns but written by none",
    );
}

#[test]
fn schedules_and_paths_are_refused_with_their_line() {
    let s = sample();
    for (when, why) in [
        ("0 0 31 2 *", "never fires: no month of 2 has a day 31"),
        ("0 25 * * *", "hour: 25 is out of range 0-23"),
        ("*/0 * * * *", "minute: step 0 in '*/0'"),
    ] {
        refused(
            &s.replace(
                "when = \"*/10 * * * *\", run = \"certdrop-publish",
                &format!("when = \"{when}\", run = \"certdrop-publish"),
            ),
            &format!("43: jail 'publish': cron.when: '{when}': {why}"),
        );
    }
    refused(
        &s.replace(
            "run = \"certdrop-publish -c {config}/publish.toml run\"",
            "run = \"certdrop-publish -c {config}/publish.toml run\\n* * * * * rm -rf {data}\"",
        ),
        "43: jail 'publish': cron.run: a line break would split the crontab(5) entry: give one line",
    );
    refused(
        &s.replace(
            "hostmaster@example.org\"",
            "hostmaster@example.org\\nPATH=/tmp\"",
        ),
        "11: mailto: a line break would split the crontab(5) entry: give one line",
    );
    refused(
        &s.replace("data = \"/var/db/certdrop\"", "data = \"/usr/local/etc/certdrop/data\""),
        "6: data: '/usr/local/etc/certdrop/data' and config ('/usr/local/etc/certdrop') must be apart, neither inside the other",
    );
    refused(
        &s.replace(
            "bindir = \"/usr/local/bin\"",
            "bindir = \"/usr/local/my bin\"",
        ),
        "10: bindir: '/usr/local/my bin' must be an absolute path without quotes, blanks or '$'",
    );
}

#[test]
fn the_demo_site_passes_check() {
    let dir = Tree::new();
    let demo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/site/site.toml"),
    )
    .expect("demo/site/site.toml");
    let root = dir.root().to_str().expect("utf8");
    let text = demo.replace("@D@", root).replace("@BIN@", "/usr/local/bin");
    // No @NAME@ placeholder left outside comments (`@hourly` is cron's).
    let placeholder = |l: &str| {
        l.split('@')
            .skip(1)
            .step_by(2)
            .any(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase()))
    };
    assert!(
        !text.lines().any(|l| !l.starts_with('#') && placeholder(l)),
        "every placeholder filled"
    );
    let site = dir.write("site.toml", &text);
    let (code, stdout, stderr) = jails(&["check", site.to_str().expect("utf8")]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}
