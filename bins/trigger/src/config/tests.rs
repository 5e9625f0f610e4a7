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
