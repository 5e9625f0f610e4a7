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
