//! Tests of trigger.toml: definitions found in order and overridden, names
//! and install entries checked, errors naming file, line and key.
use super::*;

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let defs = dir.path().join("site-defs");
    std::fs::create_dir(&defs).expect("mkdir");
    std::fs::write(
        defs.join("web.toml"),
        "rule = \"content-changed\"\nreload = \"service web reload\"\npidfile = \"/var/run/web.pid\"\n\
         preflight = \"web -t\"\nfiles = [{ cert = \"/etc/web/c.pem\", key = \"/etc/web/k.pem\" }]\n",
    )
    .expect("write");
    (dir, defs)
}

fn parse_in(dir: &Path, text: &str) -> Result<Config, String> {
    Config::parse(&dir.join("trigger.toml"), text).map_err(|e| {
        assert_eq!(e.class, certdrop_core::exit::Failure::Config, "{e}");
        e.msg
    })
}

const HEAD: &str =
    "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"site-defs\", \"../../deploy-triggers\"]\n";

#[test]
fn services_take_their_definition_and_overrides() {
    let (dir, _) = setup();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers");
    let head = format!(
        "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"site-defs\", \"{}\"]\n",
        shipped.display()
    );
    let text = format!(
        "{head}\n[[service]]\nname = \"www\"\ndefinition = \"web\"\nline = \"www\"\nnames = [\"www.example.org\"]\n\
         postflight = [{{ connect = \"127.0.0.1:443\", sni = \"www.example.org\" }}]\n\
         install = [{{ from = \"fullchain.pem\", to = \"/etc/web/c.pem\" }}]\n\
         \n[[service]]\nname = \"ldap\"\ndefinition = \"slapd\"\nrestart = \"/usr/local/etc/rc.d/slapd restart\"\n"
    );
    let c = parse_in(dir.path(), &text).expect("config");
    assert_eq!(c.pub_dir, dir.path().join("pub"));
    assert_eq!(c.postflight_wait, DEFAULT_POSTFLIGHT_WAIT);
    let www = &c.services[0];
    assert_eq!(www.definition, "web");
    assert_eq!(www.def.command, "service web reload");
    assert_eq!(www.def.postflight[0].sni, "www.example.org");
    assert_eq!(www.install[0].to, Path::new("/etc/web/c.pem"));
    let ldap = &c.services[1];
    assert_eq!(ldap.def.command, "/usr/local/etc/rc.d/slapd restart");
    assert_eq!(
        ldap.def.pidfile.as_deref(),
        Some(Path::new("/var/run/openldap/slapd.pid"))
    );
}

#[test]
fn errors_name_file_line_and_key() {
    let (dir, _) = setup();
    let file = dir.path().join("trigger.toml").display().to_string();
    for (tail, want) in [
        ("[[service]]\nname = \"a\"\ndefinition = \"web\"\nrelaod = \"x\"\n", ":5: service 'a': relaod: unknown key"),
        ("[[service]]\nname = \"a\"\ndefinition = \"nope\"\n", ":5: service 'a': definition: no nope.toml in"),
        ("[[service]]\nname = \"a\"\ndefinition = \"../x\"\n", "expected a name like nginx"),
        ("[[service]]\nname = \"a\"\ndefinition = \"web\"\nnames = [\"bad name\"]\n", "service 'a': names:"),
        ("[[service]]\nname = \"a\"\ndefinition = \"web\"\ninstall = [{ from = \"../k\", to = \"/x\" }]\n", "install.from"),
        ("[[service]]\nname = \"a\"\ndefinition = \"web\"\ninstall = [{ from = \"cert.pem\", to = \"/x\" }]\n", "needs a line"),
        ("[[service]]\nname = \"a\"\ndefinition = \"web\"\n[[service]]\nname = \"a\"\ndefinition = \"web\"\n", ":8: service 'a': defined twice"),
        ("", "no [[service]]"),
        ("bogus = 1\n", ":5: bogus: unknown key"),
    ] {
        let e = parse_in(dir.path(), &format!("{HEAD}\n{tail}")).expect_err(want);
        assert!(e.starts_with(&file) && e.contains(want), "{want}: {e}");
    }
}

#[test]
fn csr_lines_need_an_outbox_and_a_key_ring_can_make() {
    let (dir, _) = setup();
    let outbox = "[outbox]\ndir = \"outbox\"\nkeys = \"keys\"\nsigning_key = \"/etc/k\"\n";
    let csr = |body: &str| format!("{HEAD}\n{outbox}[[csr]]\nline = \"www\"\n{body}");
    // A site that only makes keys and CSRs needs no [[service]].
    let c = parse_in(
        dir.path(),
        &csr("names = [\"WWW.example.org\", \"example.org\", \"www.example.org\"]\nkey = \"ecdsa-p384\"\nmax_key_age = \"180d\"\n"),
    )
    .expect("config");
    let o = c.outbox.expect("outbox");
    assert_eq!(o.keys, dir.path().join("keys"));
    assert_eq!(o.key("www"), dir.path().join("keys/www/key.pem"));
    assert_eq!(o.next_key("www"), dir.path().join("keys/www/next/key.pem"));
    let l = &o.lines[0];
    assert_eq!(l.names, ["www.example.org", "example.org"]);
    assert_eq!(l.key, outbox::KeyKind::P384);
    assert_eq!(l.max_key_age, Some(Duration::from_secs(180 * 86_400)));
    let file = dir.path().join("trigger.toml").display().to_string();
    for (text, want) in [
        (
            format!("{HEAD}\n[[csr]]\nline = \"www\"\nnames = [\"a.example\"]\nkey = \"ecdsa-p256\"\n"),
            ":6: csr: needs an [outbox]",
        ),
        (
            csr("names = [\"a.example\"]\nkey = \"rsa-2048\"\n"),
            ":12: key: 'rsa-2048': expected ecdsa-p256 or ecdsa-p384 (no RSA",
        ),
        (csr("names = []\nkey = \"ecdsa-p256\"\n"), ":11: names: at least one name"),
        (csr("names = [\"bad name\"]\nkey = \"ecdsa-p256\"\n"), ":11: names:"),
        (
            csr("names = [\"a.example\"]\nkey = \"ecdsa-p256\"\nmax_key_age = \"0s\"\n"),
            ":13: max_key_age: must be more than 0s",
        ),
        (
            csr("names = [\"a.example\"]\nkey = \"ecdsa-p256\"\n[[csr]]\nline = \"www\"\nnames = [\"a.example\"]\nkey = \"ecdsa-p256\"\n"),
            ":14: line: 'www': a second [[csr]] for it",
        ),
        (
            csr("names = [\"a.example\"]\nkey = \"ecdsa-p256\"\nkeys = \"x\"\n"),
            "keys: unknown key",
        ),
    ] {
        let e = parse_in(dir.path(), &text).expect_err(want);
        assert!(e.starts_with(&file) && e.contains(want), "{want}: {e}");
    }
}
