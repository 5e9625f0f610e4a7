//! Unit tests of configuration parsing and validation.

use super::*;

/// The top of the unit tests' configurations: the staging CA, an account
/// that may be made, and the store in four directories beside the file.
pub(crate) const HEAD: &str = r#"directory = "letsencrypt-staging"
account = "account.json"
agree_terms = true
[store]
certs = "certs"
keys = "keys"
archive = "archive"
state = "state"
"#;

/// The servers the unit tests' propagation checks would ask (none is
/// asked: these tests parse and plan).
pub(crate) const DNS: &str = "[dns]\nservers = [\"127.0.0.1:5353\"]\n";

/// A configuration whose store lies in `dir` (for tests that write there).
pub(crate) fn config_in(dir: &Path) -> Config {
    Config::parse(&dir.join("issue.toml"), &format!("{HEAD}{DNS}")).expect("valid")
}

fn parse(extra: &str) -> Result<Config> {
    // The blank first line keeps the line numbers the errors are checked for.
    Config::parse(
        Path::new("/etc/certdrop/issue.toml"),
        &format!("\n{HEAD}[drop]\ndnsextra = \"dnsextra\"\n{DNS}{extra}"),
    )
}

#[test]
fn a_good_line() {
    let c = parse("[[line]]\nname = \"www\"\ndomains = [\"Example.org\", \"*.example.org\"]\n")
        .expect("valid");
    assert_eq!(c.directory, LETSENCRYPT_STAGING);
    assert_eq!(c.lines[0].domains, ["example.org", "*.example.org"]);
    assert_eq!(c.lines[0].key_policy, KeyPolicy::Reuse);
    assert_eq!(c.store.certs, Path::new("/etc/certdrop/certs"));
}

#[test]
fn errors_name_file_line_and_key() {
    let e =
        parse("[[line]]\nname = \"www\"\ndomains = [\"ex ample.org\"]\n").expect_err("bad name");
    assert!(
        e.msg
            .starts_with("/etc/certdrop/issue.toml:16: line 'www': domains:"),
        "{}",
        e.msg
    );
    let e = parse("[[line]]\nname = \"www\"\ndomains = [\"a.org\"]\nkye = \"rsa2048\"\n")
        .expect_err("typo");
    assert!(
        e.msg.starts_with("/etc/certdrop/issue.toml:17:"),
        "{}",
        e.msg
    );
    assert!(e.msg.contains("kye: unknown key"), "{}", e.msg);
    let e =
        parse("[[line]]\nname = \"www\"\ndomains = [\"a.org\"]\nkey = \"dsa\"\n").expect_err("key");
    assert!(e.msg.contains(":17: line 'www': key:"), "{}", e.msg);
}

#[test]
fn wildcards_need_dns01() {
    let e = parse("[[line]]\nname = \"w\"\ndomains = [\"*.a.org\"]\nchallenge = \"http-01\"\n")
        .expect_err("wildcard over http-01");
    assert!(e.msg.contains("wildcard needs dns-01"), "{}", e.msg);
}

#[test]
fn the_run_budget_must_hold_the_validation_budget() {
    let line = "[[line]]\nname = \"www\"\ndomains = [\"a.org\"]\n";
    let c = parse(line).expect("defaults");
    assert_eq!(c.run_timeout, DEFAULT_RUN_TIMEOUT);
    let c = parse(&format!(
        "[renew]\nvalidation_timeout = \"2m\"\nrun_timeout = \"10m\"\n{line}"
    ))
    .expect("valid");
    assert_eq!(c.run_timeout, Duration::from_secs(600));
    let e = parse(&format!(
        "[renew]\nvalidation_timeout = \"5m\"\nrun_timeout = \"5m\"\n{line}"
    ))
    .expect_err("no room");
    assert_eq!(e.class, certdrop_core::exit::Failure::Config);
    assert_eq!(
        e.msg,
        "/etc/certdrop/issue.toml: renew.run_timeout (5m) must be longer than renew.validation_timeout (5m)"
    );
}

#[test]
fn the_account_file_is_no_file_a_run_writes_for_something_else() {
    let line = "[[line]]\nname = \"www\"\ndomains = [\"a.org\"]\n";
    let with_account = |account: &str| {
        Config::parse(
            Path::new("/etc/certdrop/issue.toml"),
            &format!(
                "{}[drop]\ndnsextra = \"dnsextra\"\n{DNS}{line}",
                HEAD.replace(
                    "account = \"account.json\"",
                    &format!("account = \"{account}\"")
                )
            ),
        )
    };
    assert!(with_account("account.json").is_ok());
    assert!(
        with_account("state/account.json").is_ok(),
        "beside the state files"
    );
    for clash in [
        "state/www.json",
        "state/.lock",
        "state/challenges/www",
        "keys/account.json",
        "certs/account.json",
        "archive/a.json",
        "dnsextra/account.json",
    ] {
        let e = with_account(clash).expect_err(clash);
        assert_eq!(e.class, certdrop_core::exit::Failure::Config, "{clash}");
        assert!(
            e.msg.starts_with(&format!(
                "/etc/certdrop/issue.toml: account (/etc/certdrop/{clash}) is a file certdrop-issue writes"
            )),
            "{}",
            e.msg
        );
    }
}

#[test]
fn dns_persist_01_is_preferred_unless_a_line_says_persist_false() {
    let line = |extra: &str| {
        parse(&format!(
            "[[line]]\nname = \"www\"\ndomains = [\"example.org\"]\n{extra}"
        ))
    };
    let c = line("").expect("default");
    assert!(c.lines[0].persist);
    assert_eq!(c.lines[0].challenge, Challenge::Dns01);
    let c = line("challenge = \"dns-persist-01\"\n").expect("named");
    assert!(c.lines[0].persist);
    assert_eq!(c.lines[0].challenge, Challenge::Dns01);
    let c = line("persist = false\n").expect("off");
    assert!(!c.lines[0].persist);
    let e = line("challenge = \"dns-persist-01\"\npersist = false\n").expect_err("both");
    assert!(
        e.msg
            .contains("line 'www': persist: persist = false contradicts"),
        "{}",
        e.msg
    );
    // The position is the persist key's (the line after `challenge`),
    // not the line name's: an unknown key there shows its number.
    let here = line("challenge = \"dns-persist-01\"\nbogus = 1\n").expect_err("unknown");
    let at = |m: &str| m.split(": ").next().unwrap_or_default().to_owned();
    assert_eq!(at(&e.msg), at(&here.msg), "{} / {}", e.msg, here.msg);
    assert_ne!(
        at(&e.msg),
        at(&line("bogus = 1\n").expect_err("unknown").msg)
    );
    let e = line("challenge = \"tls-alpn-01\"\n").expect_err("unknown");
    assert!(
        e.msg.contains("expected dns-01, http-01 or dns-persist-01"),
        "{}",
        e.msg
    );
}
