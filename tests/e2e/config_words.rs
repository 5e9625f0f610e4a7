//! Configuration errors in words (issue 12, item 11): a value of the wrong
//! type or out of range is refused by every binary with one line that
//! names the file, the line and the key, and says what is expected the
//! way a sysadmin says it ("a whole number"), never in the Rust type serde
//! knows it by (`usize`, `i64`, `struct RawEab`).

use std::path::Path;
use std::process::Command;

use certdrop_testkit::run::bin;
use certdrop_testkit::tree::Tree;

/// Words that only a Rust programmer would write.
const RUST_WORDS: [&str; 10] = [
    "usize",
    "u8",
    "u16",
    "u32",
    "u64",
    "i64",
    "invalid type",
    "invalid value",
    "struct ",
    "sequence",
];

/// Run `program ARGS` on a file holding `text`; it must exit 78 with one
/// line holding `want` (after `file:line: `) and none of [`RUST_WORDS`].
fn refused(dir: &Path, program: &str, args: &[&str], text: &str, want: &str) {
    let file = dir.join("bad.toml");
    std::fs::write(&file, text).expect("write the configuration");
    let file = file.to_str().expect("utf-8 path");
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "FILE" { file } else { a })
        .collect();
    let out = Command::new(bin(program))
        .args(&args)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(78),
        "{program} on {text:?}: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{program}: one line: {stderr}");
    let expected = format!("{program}: {file}:{want}");
    assert_eq!(stderr.trim_end(), expected, "{program} on {text:?}");
    for word in RUST_WORDS {
        assert!(
            !stderr.contains(word),
            "{program}: Rust's words ({word}): {stderr}"
        );
    }
}

#[test]
fn every_binary_names_file_line_and_key_in_words() {
    let tree = Tree::new();
    let d = tree.dir.path();
    let n = ["-c", "FILE", "-n"];
    refused(
        d,
        "certdrop-issue",
        &n,
        "[renew]\nconcurrency = \"eight\"\n",
        "2: renew.concurrency: expected a whole number, 0 or more, not \"eight\"",
    );
    refused(
        d,
        "certdrop-issue",
        &n,
        "[store]\nkeep = -1\n",
        "2: store.keep: -1 is out of range: expected a whole number, 0 or more",
    );
    refused(
        d,
        "certdrop-issue",
        &n,
        "[[line]]\nname = \"www\"\ndomains = \"www.example.test\"\n",
        "3: line.domains: expected a list [...], not \"www.example.test\"",
    );
    refused(
        d,
        "certdrop-zone",
        &n,
        "max_values_per_name = -3\n",
        "1: max_values_per_name: -3 is out of range: expected a whole number, 0 or more",
    );
    refused(
        d,
        "certdrop-zone",
        &n,
        "[[zone]]\nname = \"example.test\"\nttl = 99999999999\n",
        "3: zone.ttl: 99999999999 is out of range: expected a whole number from 0 to 4294967295",
    );
    refused(
        d,
        "certdrop-publish",
        &n,
        "keep = \"eight\"\n",
        "1: keep: expected a whole number, not \"eight\"",
    );
    refused(
        d,
        "certdrop-trigger",
        &n,
        "postflight_wait = 5\n",
        "1: postflight_wait: expected a quoted string, not 5",
    );
    // A [[service]] is read as a table first (its definition merged in),
    // so the key is found by trying each alone.
    refused(
        d,
        "certdrop-trigger",
        &n,
        "pub = \"/tmp\"\nstate = \"/tmp\"\n[[service]]\nname = \"www\"\nreload = true\n",
        "3: service 'www': reload: expected a quoted string, not true",
    );
    refused(
        d,
        "certdrop-jails",
        &["check", "FILE"],
        "data = \"/var/db/certdrop\"\n[[jail]]\nname = \"www\"\nuid = \"eight\"\n",
        "4: jail.uid: expected a whole number from 0 to 4294967295, not \"eight\"",
    );
    refused(
        d,
        "certdrop-issue",
        &n,
        "[renew]\nconcurrency = 4\njiter = \"1h\"\n",
        "3: renew.jiter: unknown key (expected one of: \
         remaining, jitter, concurrency, backoff, lock_wait, validation_timeout, run_timeout, ari)",
    );
}
