//! Tests of definitions: every shipped one in deploy-triggers/ parses,
//! validates and has the shape the design asks for (an action with a
//! comment saying why, a rule, a pre-flight, a pid file); the rules of
//! validation; site overrides.
use super::*;

/// The shipped definitions directory.
fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy-triggers")
}

#[test]
fn every_shipped_definition_parses_and_has_its_parts() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(shipped()).expect("deploy-triggers/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        let def = parse(&path, &text)
            .and_then(|raw| raw.validate(Path::new("/")))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(def.preflight.is_some(), "{name}: no pre-flight");
        let pid = def
            .pidfile
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: no pid file"));
        assert!(
            pid.is_absolute() && pid.starts_with("/var/"),
            "{name}: {}",
            pid.display()
        );
        // FreeBSD rc(8) by default: `service <rc name> reload|restart|graceful`;
        // Asterisk reloads through its own console (it has no rc reload
        // that reaches a TLS transport).
        if name == "asterisk" {
            assert_eq!(
                def.command,
                "touch /usr/local/etc/asterisk/pjsip.conf && asterisk -rx 'module reload res_pjsip.so'",
                "{name}"
            );
        } else {
            assert!(
                def.command.starts_with("service "),
                "{name}: {}",
                def.command
            );
        }
        let (key, kind) = match def.action {
            ActionKind::Reload => ("reload", "content-changed"),
            ActionKind::Restart => ("restart", "newer-than-pidfile"),
        };
        // A reload has the restart behind it (the verified reload's
        // fallback), through the rc script of the same name.
        if def.action == ActionKind::Reload {
            let rc = match def.command.strip_prefix("service ") {
                Some(rest) => rest.split_whitespace().next().expect("rc name"),
                None => name.as_str(),
            };
            assert_eq!(
                def.fallback.as_deref(),
                Some(format!("service {rc} restart").as_str()),
                "{name}: the restart behind the reload"
            );
        } else {
            assert_eq!(def.fallback, None, "{name}");
        }
        assert_eq!(def.rule.name(), kind, "{name}");
        // The comment right above the action says why this action.
        let lines: Vec<&str> = text.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("{key} =")))
            .unwrap_or_else(|| panic!("{name}: no {key} line"));
        let comment: Vec<&str> = lines[..at]
            .iter()
            .rev()
            .take_while(|l| l.starts_with('#'))
            .copied()
            .collect();
        assert!(
            comment.iter().any(|l| l.contains("Why")),
            "{name}: no comment saying why it uses {key}"
        );
        assert!(
            matches!(def.files, Files::Discover(..)),
            "{name}: files discovered"
        );
        seen.push(name);
    }
    seen.sort();
    assert_eq!(
        seen,
        ["apache", "asterisk", "dovecot", "haproxy", "nghttpx", "nginx", "postfix", "slapd"]
    );
    // slapd from slapd.conf needs a restart; the others re-read on reload.
    let slapd = std::fs::read_to_string(shipped().join("slapd.toml")).expect("slapd");
    assert!(slapd.contains("\nrestart = "));
}

/// A shipped definition, parsed and validated, and its text.
fn shipped_def(path: &Path) -> (Def, String) {
    let text = std::fs::read_to_string(path).expect("read");
    let def = parse(path, &text)
        .and_then(|raw| raw.validate(Path::new("/")))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (def, text)
}

#[test]
fn every_linux_definition_is_its_freebsd_twin_through_systemd() {
    let linux = shipped().join("linux");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&linux).expect("deploy-triggers/linux/") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("name")
            .to_string();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("toml"),
            "{name}"
        );
        let (def, text) = shipped_def(&path);
        let (twin, _) = shipped_def(&shipped().join(format!("{name}.toml")));
        // What the service does with its files is the same server on
        // either system: same parser, action, rule and endpoints.
        match (&def.files, &twin.files) {
            (Files::Discover(p, _), Files::Discover(q, _)) => assert_eq!(p, q, "{name}"),
            other => panic!("{name}: files discovered on both: {other:?}"),
        }
        assert_eq!(def.action, twin.action, "{name}");
        assert_eq!(def.rule, twin.rule, "{name}");
        assert_eq!(def.postflight, twin.postflight, "{name}");
        assert_eq!(def.preflight.is_some(), twin.preflight.is_some(), "{name}");
        // Debian's paths, not FreeBSD's, in every key and comment.
        assert!(!text.contains("/usr/local"), "{name}: a FreeBSD path");
        assert!(!text.contains("/var/run/"), "{name}: /var/run, not /run");
        // A pid file where the service writes one (the rule that reads
        // it needs one); nghttpx under systemd writes none, and says so.
        match &def.pidfile {
            Some(pid) => assert!(
                pid.starts_with("/run/") || pid.starts_with("/var/spool/"),
                "{name}: {}",
                pid.display()
            ),
            None => {
                assert_eq!(def.rule, Rule::ContentChanged, "{name}");
                assert!(text.contains("# No pidfile:"), "{name}: says why none");
            }
        }
        // systemd(1) acts: `systemctl restart <unit>`, and a reload through
        // the same unit (Asterisk: its console, as on FreeBSD).
        let restart = match def.action {
            ActionKind::Reload => def.fallback.clone().expect("the restart behind the reload"),
            ActionKind::Restart => def.command.clone(),
        };
        let unit = restart
            .strip_prefix("systemctl restart ")
            .unwrap_or_else(|| panic!("{name}: {restart}"));
        assert!(!unit.is_empty() && !unit.contains(' '), "{name}: {restart}");
        if def.action == ActionKind::Reload {
            if twin.command.starts_with("service ") {
                assert_eq!(def.command, format!("systemctl reload {unit}"), "{name}");
            } else {
                assert_eq!(
                    def.command,
                    twin.command.replace("/usr/local/etc/", "/etc/"),
                    "{name}: the console reload"
                );
            }
        }
        let key = def.action.verb();
        assert!(
            text.lines()
                .take_while(|l| !l.starts_with(&format!("{key} =")))
                .any(|l| l.starts_with("# Why")),
            "{name}: no comment saying why it uses {key}"
        );
        seen.push(name);
    }
    seen.sort();
    // One Linux variant for every FreeBSD definition.
    let mut twins: Vec<String> = std::fs::read_dir(shipped())
        .expect("deploy-triggers/")
        .filter_map(|e| {
            let path = e.expect("entry").path();
            (path.extension().and_then(|e| e.to_str()) == Some("toml")).then(|| {
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .expect("name")
                    .to_string()
            })
        })
        .collect();
    twins.sort();
    assert_eq!(seen, twins);
}

#[test]
fn asterisk_finds_what_pjsip_and_chan_sip_read() {
    for dir in [shipped(), shipped().join("linux")] {
        let (def, text) = shipped_def(&dir.join("asterisk.toml"));
        let Files::Discover(Parser::Asterisk, Source::File(conf)) = &def.files else {
            panic!("asterisk: {:?}", def.files);
        };
        assert!(conf.ends_with("asterisk/pjsip.conf"), "{}", conf.display());
        // SIP over TLS on 5061 is TLS from the first byte.
        assert_eq!(def.postflight.len(), 1);
        assert_eq!(def.postflight[0].connect.port(), 5061);
        assert_eq!(def.postflight[0].protocol, Protocol::Tls);
        // The seed's chan_sip: the file and commands to override with, in
        // the comment, parse as a site's override would, and keep a
        // restart behind the reload.
        let sip = conf.with_file_name("sip.conf");
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            header.contains(&format!("file = \"{}\"", sip.display())),
            "{header}"
        );
        let sip_reload = format!("touch {} && asterisk -rx 'sip reload'", sip.display());
        assert!(header.contains(&format!("\"{sip_reload}\"")), "{header}");
        let restart = def.fallback.clone().expect("the shipped restart");
        assert!(header.contains(&format!("\"{restart}\"")), "{header}");
        // pjsip.conf is touched, or the reload reads nothing again.
        assert_eq!(
            def.command,
            format!(
                "touch {} && asterisk -rx 'module reload res_pjsip.so'",
                conf.display()
            )
        );
        let site = parse(
            Path::new("/s/t.toml"),
            &format!(
                "discover = {{ parser = \"asterisk\", file = \"{}\" }}\nreload = \"{sip_reload}\"\nrestart = \"{restart}\"\n",
                sip.display()
            ),
        )
        .expect("site");
        let text_def = parse(&dir.join("asterisk.toml"), &text).expect("def");
        let merged = text_def
            .overridden_by(site)
            .validate(Path::new("/s"))
            .expect("valid");
        assert_eq!(merged.command, sip_reload);
        assert_eq!(merged.fallback, Some(restart), "the restart behind it");
    }
}

#[test]
fn the_generic_sample_is_a_valid_definition() {
    let path = shipped().join("generic.toml.sample");
    let text = std::fs::read_to_string(&path).expect("read");
    let def = parse(&path, &text)
        .expect("parse")
        .validate(Path::new("/"))
        .expect("valid");
    assert!(matches!(def.files, Files::Listed(ref p) if p.len() == 1));
    assert_eq!(def.postflight.len(), 1);
    // The sample shows the verified reload: a reload with a restart behind it.
    assert_eq!(def.action, ActionKind::Reload);
    assert!(def.fallback.is_some());
    assert_eq!(def.rule, Rule::ContentChanged);
}

fn raw(text: &str) -> Result<Def, String> {
    parse(Path::new("/d/x.toml"), text)
        .and_then(|r| r.validate(Path::new("/d")))
        .map_err(|e| e.msg)
}

#[test]
fn validation_refuses_what_cannot_work() {
    let files = "files = [{ cert = \"c.pem\", key = \"k.pem\" }]\n";
    let ok = raw(&format!(
        "{files}rule = \"content-changed\"\nreload = \"true\"\n"
    ))
    .expect("ok");
    assert_eq!(ok.action, ActionKind::Reload);
    assert!(matches!(&ok.files, Files::Listed(p) if p[0].cert == Path::new("/d/c.pem")));
    for (text, why) in [
        ("rule = \"newer-than-pidfile\"\nreload = \"x\"\npidfile = \"/p\"\n", "needs a restart"),
        ("rule = \"newer-than-pidfile\"\nrestart = \"x\"\n", "pidfile: missing"),
        ("rule = \"newer-than-pidfile\"\nrestart = \"x\"\nreload = \"y\"\npidfile = \"/p\"\n", "needs restart alone"),
        ("rule = \"content-changed\"\nreload = \"y\"\nrestart = \"kill {pidfile}\"\n", "restart: uses {pidfile}"),
        ("rule = \"content-changed\"\nreload = \"y\"\nrestart = \" \"\n", "restart: empty command"),
        ("rule = \"content-changed\"\nreload = \"x\"\npostflight = [{ connect = \"127.0.0.1:25\", sni = \"a.b\", protocol = \"smtps\" }]\n", "postflight.protocol: unknown protocol \"smtps\" (one of: tls, smtp"),
        ("rule = \"content-changed\"\n", "reload or restart"),
        ("rule = \"often\"\nreload = \"x\"\n", "expected newer-than-pidfile"),
        ("reload = \"x\"\n", "rule: missing"),
        ("rule = \"content-changed\"\nreload = \"x\"\npostflight = [{ connect = \"localhost\", sni = \"a.b\" }]\n", "ADDRESS:PORT"),
    ] {
        let with_files = format!("{files}{text}");
        let e = raw(&with_files).expect_err(why);
        assert!(e.contains(why), "{why}: {e}");
    }
    let e = raw("rule = \"content-changed\"\nreload = \"x\"\n").expect_err("no files");
    assert!(e.contains("files or discover"), "{e}");
    let e = raw("rule = \"content-changed\"\nreload = \"x\"\ndiscover = { parser = \"iis\", command = \"x\" }\n").expect_err("parser");
    assert!(e.contains("expected one of nginx"), "{e}");
    // Unknown keys are refused with the file and line.
    let e = parse(
        Path::new("/d/x.toml"),
        "rule = \"content-changed\"\nrelaod = \"x\"\n",
    )
    .expect_err("unknown key");
    assert!(
        e.msg.starts_with("/d/x.toml:2:") && e.msg.contains("relaod"),
        "{e}"
    );
}

#[test]
fn a_site_overrides_keys_and_one_choice_replaces_the_other() {
    let def = parse(
        Path::new("/d/x.toml"),
        "rule = \"content-changed\"\nreload = \"service x reload\"\npidfile = \"/var/run/x.pid\"\n\
         discover = { parser = \"nginx\", command = \"nginx -T\" }\n",
    )
    .expect("def");
    let site = parse(
        Path::new("/s/t.toml"),
        "rule = \"newer-than-pidfile\"\nrestart = \"kill -QUIT $(cat {pidfile}); x\"\n\
         files = [{ cert = \"c.pem\" }]\n",
    )
    .expect("site");
    let merged = def
        .with_base(Path::new("/d"))
        .overridden_by(site.with_base(Path::new("/s")))
        .validate(Path::new("/s"))
        .expect("valid");
    assert_eq!(merged.action, ActionKind::Restart);
    assert_eq!(merged.rule, Rule::NewerThanPidfile);
    assert_eq!(merged.pidfile.as_deref(), Some(Path::new("/var/run/x.pid")));
    assert_eq!(
        merged.files,
        Files::Listed(vec![Pair {
            cert: PathBuf::from("/s/c.pem"),
            key: None
        }])
    );
}

#[test]
fn reload_with_a_restart_behind_it() {
    let files = "files = [{ cert = \"c.pem\", key = \"k.pem\" }]\n";
    let def = raw(&format!(
        "{files}rule = \"content-changed\"\nreload = \"r\"\nrestart = \"s\"\n"
    ))
    .expect("both");
    assert_eq!(def.action, ActionKind::Reload);
    assert_eq!(def.command, "r");
    assert_eq!(def.fallback.as_deref(), Some("s"));
    let alone = raw(&format!(
        "{files}rule = \"content-changed\"\nrestart = \"s\"\n"
    ))
    .expect("restart alone");
    assert_eq!((alone.action, alone.fallback), (ActionKind::Restart, None));
    // A site that gives its own reload drops the shipped restart.
    let shipped = parse(
        Path::new("/d/x.toml"),
        "rule = \"content-changed\"\nreload = \"service x reload\"\nrestart = \"service x restart\"\n",
    )
    .expect("def");
    let site = parse(
        Path::new("/s/t.toml"),
        "reload = \"kill -HUP 1\"\nfiles = [{ cert = \"c.pem\" }]\n",
    )
    .expect("site");
    let merged = shipped
        .clone()
        .overridden_by(site)
        .validate(Path::new("/s"))
        .expect("valid");
    assert_eq!(
        (merged.command.as_str(), merged.fallback),
        ("kill -HUP 1", None)
    );
    let site = parse(
        Path::new("/s/t.toml"),
        "postflight = [{ connect = \"127.0.0.1:443\", sni = \"a.b\" }]\nfiles = [{ cert = \"c.pem\" }]\n",
    )
    .expect("site");
    let kept = shipped
        .overridden_by(site)
        .validate(Path::new("/s"))
        .expect("valid");
    assert_eq!(kept.fallback.as_deref(), Some("service x restart"));
}

#[test]
fn postflight_protocol_by_name_or_by_port() {
    let def = raw(
        "files = [{ cert = \"c.pem\" }]\nrule = \"content-changed\"\nreload = \"r\"\npostflight = [\n\
         { connect = \"127.0.0.1:25\", sni = \"mail.example.org\" },\n\
         { connect = \"127.0.0.1:2525\", sni = \"mail.example.org\", protocol = \"smtp\" },\n\
         { connect = \"[::1]:443\", sni = \"www.example.org\" },\n\
         { connect = \"127.0.0.1:993\", sni = \"mail.example.org\", protocol = \"tls\" },\n\
         { connect = \"127.0.0.1:389\", sni = \"ldap.example.org\" },\n\
         { connect = \"127.0.0.1:1143\", sni = \"mail.example.org\", protocol = \"imap\" },\n\
         { connect = \"127.0.0.1:5269\", sni = \"example.org\", protocol = \"xmpp-server\" },\n]\n",
    )
    .expect("valid");
    let got: Vec<Protocol> = def.postflight.iter().map(|e| e.protocol).collect();
    assert_eq!(
        got,
        [
            Protocol::Smtp,
            Protocol::Smtp,
            Protocol::Tls,
            Protocol::Tls,
            Protocol::Ldap,
            Protocol::Imap,
            Protocol::XmppServer
        ]
    );
    assert_eq!(def.postflight[0].protocol.name(), "smtp");
}
