//! The allowed_signers grammar: parsed entries, refusals with their line,
//! and the verdicts of `ssh-keygen -Y verify` itself on the same files.
use super::*;
use std::process::Command;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINNyOjXDEPo3kMQ/KlYJjhAvE+PeGakdoYkDU+AQoibM test-key";

#[test]
fn parses_entries_with_and_without_options() {
    let text = format!(
        "# comment\n\npublish@example.org {KEY}\n\
         \"a@x,b@y\" namespaces=\"certdrop-*\",valid-after=\"20260101Z\",VALID-BEFORE=\"202701011200Z\" {KEY}\n\
         ca@x cert-authority {KEY}\n\
         \t trigger@x namespaces=\"certdrop-manifest@certdrop\" {KEY}\r\n\
         p@\"x y\" namespaces=\"a\\\"b\" {KEY}\n"
    );
    let s = parse(&text).expect("parse");
    assert_eq!(s.len(), 5);
    assert_eq!(s[3].namespaces.as_deref(), Some(crate::NAMESPACE));
    assert_eq!(s[0].principals, "publish@example.org");
    assert_eq!(s[0].line, 3);
    assert!(s[0].namespaces.is_none());
    assert_eq!(s[1].principals, "a@x,b@y");
    assert_eq!(s[1].namespaces.as_deref(), Some("certdrop-*"));
    assert_eq!(s[1].valid_after, Some(1_767_225_600));
    assert_eq!(s[1].valid_before, Some(1_798_804_800));
    assert!(s[2].cert_authority);
    assert_eq!(s[4].principals, "p@x y");
    assert_eq!(s[4].namespaces.as_deref(), Some("a\"b"));
    let key = s[0].key.key_data().clone();
    let ns = crate::NAMESPACE;
    assert!(s[0].accepts(&key, ns, None, 0));
    assert!(s[0].accepts(&key, ns, Some("publish@example.org"), 0));
    assert!(!s[0].accepts(&key, ns, Some("other@example.org"), 0));
    assert!(s[1].accepts(&key, ns, Some("b@y"), 1_780_000_000));
    assert!(!s[1].accepts(&key, ns, Some("b@y"), 1_700_000_000));
    assert!(!s[1].accepts(&key, "file", Some("b@y"), 1_780_000_000));
    // Both ends of the validity are included, as in ssh-keygen.
    assert!(s[1].accepts(&key, ns, Some("b@y"), 1_767_225_600));
    assert!(s[1].accepts(&key, ns, Some("b@y"), 1_798_804_800));
    assert!(!s[1].accepts(&key, ns, Some("b@y"), 1_798_804_801));
    assert!(!s[2].accepts(&key, ns, None, 0));
}

#[test]
fn refuses_what_ssh_keygen_refuses() {
    for (text, why) in [
        (
            format!("x@y restrict {KEY}"),
            "unsupported option 'restrict'",
        ),
        (
            format!("x@y cert-authorityX {KEY}"),
            "unsupported option 'X'",
        ),
        (format!("x@y valid-after=\"2026010\" {KEY}"), "timestamp"),
        (format!("x@y valid-after=20260101Z {KEY}"), "double quotes"),
        (format!("x@y valid-after=\"20260101Z\", {KEY}"), "comma"),
        (
            format!("x@y namespaces=\"a\",namespaces=\"b\" {KEY}"),
            "given twice",
        ),
        (
            format!("x@y valid-after=\"20270101Z\",valid-before=\"20260101Z\" {KEY}"),
            "not after valid-after",
        ),
        (
            format!("x@y valid-after=\"19700101Z\" {KEY}"),
            "not after 1970",
        ),
        (format!("x@y namespaces=\"a {KEY}"), "unbalanced quote"),
        (format!("\"x@y {KEY}"), "expected principals"),
        ("x@y ssh-ed25519 AAAA".to_string(), "bad public key"),
        ("x@y".to_string(), "expected principals"),
        ("x@y namespaces=\"a\"".to_string(), "missing key"),
    ] {
        let e = parse(&text).expect_err(why);
        assert!(e.starts_with("line 1: ") && e.contains(why), "{why}: {e}");
    }
}

/// A key, a message signed by it in the manifest namespace, and a scratch
/// directory, made by ssh-keygen itself.
struct Signed {
    tmp: tempfile::TempDir,
    public: String,
    msg: Vec<u8>,
    sig: Vec<u8>,
}

fn sh(dir: &std::path::Path, script: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("TZ", "EST5")
        .output()
        .expect("sh")
        .status
        .success()
}

fn signed() -> Signed {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = crate::NAMESPACE;
    assert!(sh(
        tmp.path(),
        &format!(
            "ssh-keygen -q -t ed25519 -N '' -C k -f key && printf 'certdrop\\n' >msg && \
             ssh-keygen -q -Y sign -f key -n {ns} msg"
        )
    ));
    let read = |f: &str| std::fs::read(tmp.path().join(f)).expect("read");
    let public = String::from_utf8(read("key.pub")).expect("utf-8");
    Signed {
        msg: read("msg"),
        sig: read("msg.sig"),
        public: public.trim_end().to_string(),
        tmp,
    }
}

impl Signed {
    /// (ours, ssh-keygen's) verdict on `signers` for identity `id`. Local
    /// timestamps here are years away from now, so the verdict holds in
    /// any time zone (ssh-keygen runs in EST5, this process in its own).
    fn verdicts(&self, signers: &str, id: &str) -> (Result<(), String>, bool) {
        let now = certdrop_core::clock::now();
        let ours = parse(signers).and_then(|s| {
            let sig = crate::sshsig::parse_signature(&self.sig)?;
            crate::sshsig::verify(&self.msg, &sig, &s, Some(id), now).map(|_| ())
        });
        std::fs::write(self.tmp.path().join("allowed"), signers).expect("write");
        let theirs = sh(
            self.tmp.path(),
            &format!(
                "ssh-keygen -Y verify -f allowed -I '{id}' -n {} -s msg.sig <msg",
                crate::NAMESPACE
            ),
        );
        (ours, theirs)
    }
}

#[test]
fn reaches_the_verdicts_of_ssh_keygen() {
    let s = signed();
    let k = &s.public;
    let id = "publish@certdrop";
    let now = certdrop_core::clock::now();
    // The dates below are far from now on either side.
    let soon = crate::time::parse("20991231Z").expect("time");
    assert!(soon > now);
    for (entry, accepted) in [
        (format!("{id} {k}"), true),
        (format!("*@certdrop {k}"), true),
        (format!("\"*@certdrop,!{id}\" {k}"), false),
        (format!("pub?ish@certdrop {k}"), true),
        (format!("pub?sh@certdrop {k}"), false),
        (format!("someone@else {k}"), false),
        (format!("{id} namespaces=\"certdrop-*\" {k}"), true),
        (format!("{id} namespaces=\"git,file\" {k}"), false),
        (format!("{id} namespaces=\"*,!certdrop-m*\" {k}"), false),
        (format!("{id} namespaces=\"\" {k}"), false),
        (format!("{id} cert-authority {k}"), false),
        (format!("{id} valid-after=\"20200101Z\" {k}"), true),
        (format!("{id} valid-after=\"20200101z\" {k}"), true),
        (format!("{id} valid-after=\"20200101utc\" {k}"), true),
        (format!("{id} valid-after=\"20200101000061Z\" {k}"), true),
        (format!("{id} valid-after=\"20200101000062Z\" {k}"), false),
        (format!("{id} valid-after=\"20200231Z\" {k}"), true),
        (format!("{id} valid-after=\"20200232Z\" {k}"), false),
        (format!("{id} valid-after=\"2020 101Z\" {k}"), true),
        (format!("{id} valid-after=\"20200101\" {k}"), true),
        (format!("{id} valid-after=\"20990101\" {k}"), false),
        (format!("{id} valid-after=\"19700101Z\" {k}"), false),
        (format!("{id} valid-before=\"20200101Z\" {k}"), false),
        (format!("{id} valid-before=\"20991231235961Z\" {k}"), true),
        (format!("{id} Valid-Before=\"99991231Z\" {k}"), true),
        (format!("{id} valid-before=\"99991231\" {k}"), true),
        (format!("{id} restrict {k}"), false),
        (format!("{id} valid-after=\"20200101Z\", {k}"), false),
        (format!("publish@\"certdrop\" {k}"), true),
        (format!("  # {id} {k}"), false),
    ] {
        let (ours, theirs) = s.verdicts(&entry, id);
        assert_eq!(theirs, accepted, "ssh-keygen on: {entry}");
        assert_eq!(ours.is_ok(), accepted, "ours on: {entry}: {ours:?}");
    }
}
