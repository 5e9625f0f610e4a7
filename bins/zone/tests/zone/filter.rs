//! The fragment filter as a command, against a corpus of hostile files:
//! nothing but well-formed `_acme-challenge` TXT records gets through, each
//! refused file is named with its reason, and the valid ones beside it pass.
//! The issuer's completion markers are never read, whatever they are.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::process::Command;

use certdrop_testkit::{Ran, Run};

use crate::site::{zone, Tree, V1, V2};

/// `certdrop-zone fragments --origin example.test EXTRA dnsextra/`.
fn fragments(tree: &Tree, extra: &[&str]) -> Ran {
    zone()
        .args(["fragments", "--origin", "example.test"])
        .args(extra)
        .arg(tree.path("dnsextra"))
        .ran()
}

/// (file name, content, reason expected in the message).
fn corpus() -> Vec<(&'static str, String, &'static str)> {
    let ok = |owner: &str| format!("{owner} 60 IN TXT \"{V1}\"\n");
    vec![
        (
            "mx",
            format!("_acme-challenge.www.example.test. 60 IN MX 10 \"{V1}\"\n"),
            "type MX is not allowed",
        ),
        (
            "type16",
            format!("_acme-challenge.www.example.test. 60 IN TYPE16 \\# 44 2b{V1}\n"),
            "type TYPE16 is not allowed",
        ),
        (
            "generic",
            format!("_acme-challenge.www.example.test. 60 IN TXT \\# 44 2b{V1}\n"),
            "escapes",
        ),
        (
            "include",
            "$INCLUDE /etc/passwd\n".into(),
            "directive $INCLUDE",
        ),
        ("origin", "$ORIGIN evil.test.\n".into(), "directive $ORIGIN"),
        ("ttl", "$TTL 1\n".into(), "directive $TTL"),
        (
            "generate",
            "$GENERATE 1-100 a$ A 1.2.3.4\n".into(),
            "directive $GENERATE",
        ),
        (
            "relative",
            format!("_acme-challenge.www 60 IN TXT \"{V1}\"\n"),
            "not absolute",
        ),
        ("at", format!("@ 60 IN TXT \"{V1}\"\n"), "'@'"),
        (
            "blank",
            format!("  60 IN TXT \"{V1}\"\n"),
            "inherited owner",
        ),
        (
            "paren",
            format!("_acme-challenge.www.example.test. 60 IN TXT ( \"{V1}\" )\n"),
            "parentheses",
        ),
        (
            "quote",
            format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\n"),
            "unbalanced quotes",
        ),
        (
            "escape",
            format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\\\"\"\n"),
            "escapes",
        ),
        (
            "control",
            format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\u{1b}[2J\n"),
            "control or non-ASCII",
        ),
        (
            "utf8",
            format!("_acme-challenge.wwẃ.example.test. 60 IN TXT \"{V1}\"\n"),
            "control or non-ASCII",
        ),
        (
            "long",
            format!(
                "_acme-challenge.www.example.test. 60 IN TXT \"{}\"\n",
                "a".repeat(300)
            ),
            "over 255 octets",
        ),
        (
            "mixed",
            format!(
                "{}_acme-challenge.x.example.test. 60 IN TXT \"short\"\n",
                ok("_acme-challenge.y.example.test.")
            ),
            "line 2",
        ),
        (
            "outside",
            ok("_acme-challenge.www.example.net."),
            "outside the zones",
        ),
        (
            "notacme",
            format!("www.example.test. 60 IN TXT \"{V1}\"\n"),
            "does not start with _acme-challenge.",
        ),
        (
            "wildcard",
            ok("_acme-challenge.*.example.test."),
            "wildcard",
        ),
        (
            "hugettl",
            format!("_acme-challenge.www.example.test. 999999 IN TXT \"{V1}\"\n"),
            "TTL 999999 outside",
        ),
        (
            "value",
            "_acme-challenge.www.example.test. 60 IN TXT \"not-43-characters\"\n".into(),
            "43 base64url",
        ),
        (
            "comment",
            format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\" ; x\n"),
            "comments",
        ),
        (
            "class",
            format!("_acme-challenge.www.example.test. 60 CH TXT \"{V1}\"\n"),
            "class CH",
        ),
        (
            "big",
            format!("{}\n", "x".repeat(600)),
            "larger than 512 bytes",
        ),
        ("empty", String::new(), "empty"),
    ]
}

#[test]
fn hostile_fragments_never_pass_and_valid_ones_do() {
    let tree = Tree::new();
    for (file, text, _) in corpus() {
        tree.fragment(file, &text);
    }
    // The valid ones: ours, the seed's hook format, and dehydrated's without TTL.
    tree.fragment(
        "good-ours",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    tree.fragment(
        "_acme-challenge.www.example.test",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V2}\"\n"),
    );
    tree.fragment(
        "good-dehydrated",
        &format!("_acme-challenge.mail.example.test. IN TXT \"{V1}\"\n"),
    );
    // File-level attacks.
    symlink("/etc/passwd", tree.path("dnsextra/symlink")).expect("symlink");
    std::fs::create_dir(tree.path("dnsextra/adir")).expect("mkdir");
    std::fs::hard_link(
        tree.path("dnsextra/good-ours"),
        tree.path("dnsextra/hardlink"),
    )
    .expect("link");
    let fifo = tree.path("dnsextra/fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    let unreadable = tree.fragment(
        "unreadable",
        &format!("_acme-challenge.u.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    // -v: every rejection, not the first few and the count.
    let ran = fragments(&tree, &["-v"]).expect(0);

    // good-ours is refused too: the hard link made it a file of two links.
    // Root reads the mode-000 file; anyone else is refused it.
    let mut want = vec![format!(
        "_acme-challenge.mail.example.test. 60 IN TXT \"{V1}\""
    )];
    if nix::unistd::geteuid().is_root() {
        want.push(format!(
            "_acme-challenge.u.example.test. 60 IN TXT \"{V1}\""
        ));
    }
    want.push(format!(
        "_acme-challenge.www.example.test. 60 IN TXT \"{V2}\""
    ));
    let accepted: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(accepted, want);
    let rejected: Vec<&str> = ran.stderr.lines().collect();
    for (file, _, why) in corpus() {
        let line = rejected
            .iter()
            .find(|l| l.contains(&format!("/dnsextra/{file}: rejected:")))
            .unwrap_or_else(|| panic!("{file} not rejected:\n{}", ran.stderr));
        assert!(line.contains(why), "{file}: expected '{why}' in: {line}");
    }
    for (file, why) in [
        ("symlink", "a symlink"),
        ("adir", "a directory"),
        ("hardlink", "a hard link"),
        ("good-ours", "a hard link"),
        ("fifo", "a FIFO"),
    ] {
        assert!(
            rejected
                .iter()
                .any(|l| l.contains(&format!("/dnsextra/{file}: rejected: {why}"))),
            "{file}: {}",
            ran.stderr
        );
    }
    if !nix::unistd::geteuid().is_root() {
        assert!(rejected
            .iter()
            .any(|l| l.contains("/dnsextra/unreadable: rejected: unreadable")));
    }
    // Every line of stderr is one rejection, or the count after the first.
    assert!(
        rejected.iter().all(|l| l.starts_with("certdrop-zone: ")
            && (l.contains(": rejected: ") || l.contains(" more rejected entries not shown "))),
        "{}",
        ran.stderr
    );
}

#[test]
fn files_of_another_writer_are_refused() {
    let tree = Tree::new();
    tree.fragment(
        "ok",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    let me = nix::unistd::geteuid().as_raw();
    let ran = fragments(&tree, &["--owner", &(me + 1).to_string()]).expect(0);
    assert_eq!(ran.stdout, "");
    ran.stderr_has(&format!(
        "owned by uid {me}, not the writer's uid {}",
        me + 1
    ));
    let ran = fragments(&tree, &["--owner", &me.to_string()]).expect(0);
    assert!(ran.stdout.contains(V1));
}

#[test]
fn too_many_values_for_one_name_are_capped() {
    let tree = Tree::new();
    for i in 0..12 {
        let v = format!("{}{:02}", &V1[..41], i);
        tree.fragment(
            &format!("f{i:02}"),
            &format!("_acme-challenge.www.example.test. 60 IN TXT \"{v}\"\n"),
        );
    }
    let ran = fragments(&tree, &[]).expect(0);
    assert_eq!(ran.stdout.lines().count(), 8);
    assert_eq!(
        ran.stderr
            .matches("more than 8 values for _acme-challenge.www.example.test.")
            .count(),
        4
    );
}

#[test]
fn completion_markers_are_never_read_whatever_they_hold() {
    let tree = Tree::new();
    tree.fragment(
        "good",
        &format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n"),
    );
    // Markers as a hostile writer would make them: a valid record outside
    // the zone, a symlink to a secret, a FIFO, a directory, a huge file.
    tree.fragment(
        ".complete.a",
        &format!("_acme-challenge.www.elsewhere.test. 60 IN TXT \"{V2}\"\n"),
    );
    symlink("/etc/shadow", tree.path("dnsextra/.complete.b")).expect("symlink");
    let fifo = tree.path("dnsextra/.complete.c");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo")
        .success());
    std::fs::create_dir(tree.path("dnsextra/.complete.d")).expect("mkdir");
    tree.fragment(".complete.e", &"x".repeat(1 << 20));
    // A FIFO opened would block: the command must end.
    let ran = zone()
        .args(["-v", "fragments", "--origin", "example.test"])
        .arg(tree.path("dnsextra"))
        .ended_within(std::time::Duration::from_secs(60))
        .expect(0);
    assert_eq!(
        ran.stdout,
        format!("_acme-challenge.www.example.test. 60 IN TXT \"{V1}\"\n")
    );
    assert_eq!(ran.stderr, "");
}
