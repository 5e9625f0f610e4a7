//! The whole pipeline as a user runs it (issue 5): the demo site, each
//! stage in its jail (own user, own mount namespace), driven only by cron
//! passes and commits to the configuration repository.

use std::os::unix::fs::MetadataExt;

use crate::jailed::{sh, spki_sha256, Opts, Site, UID_ACME, UID_WWW, WWW};
use crate::tree::run;

fn pem_der(pem: &str) -> Vec<u8> {
    let b64: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s' '{b64}' | base64 -d"))
        .output()
        .expect("base64");
    out.stdout
}

/// The demo's flow: one cron pass deploys the configuration from git,
/// gets a certificate over dns-01 through the drop directory, builds and
/// signs the zone with TLSA and SSHFP, publishes, and has nginx serve it;
/// the second pass prints nothing.
#[test]
fn the_demo_flow_stage_by_stage_in_jails() {
    let site = Site::new(Opts::default());
    let first = site.cron();
    assert_eq!(first.code, 0, "first pass: {first:?}\n{}", site.logs());
    assert!(first.stdout.contains("update: now on commit"), "{first:?}");
    assert!(
        first.stderr.is_empty(),
        "first pass complained: {first:?}\n{}",
        site.logs()
    );

    // The issuer's certificate and key, owned by the acme jail's user; the
    // key granted to jail www's group only.
    let cert = std::fs::read_to_string(site.path("data/certs/www/cert.pem")).expect("cert");
    let der = pem_der(&cert);
    let key = std::fs::metadata(site.path("data/keys/www/key.pem")).expect("key");
    assert_eq!(
        (key.uid(), key.gid(), key.mode() & 0o777),
        (UID_ACME, UID_WWW, 0o640)
    );
    let keys = std::fs::metadata(site.path("data/keys")).expect("keys/");
    assert_eq!(keys.mode() & 0o777, 0o700);

    // The zone nsd serves: TLSA of that key, signed; SSHFP of the host key.
    assert_eq!(site.tlsa(), vec![spki_sha256(&der)], "{}", site.logs());
    let port = site.nsd.port().to_string();
    let sshfp = sh(site.dir.root(), &format!("drill -p {port} @127.0.0.1 SSHFP {WWW} | grep -v '^;' | grep SSHFP | awk '{{print $5, $6, $7}}' | sort"));
    let expect = sh(site.dir.root(), &format!("ssh-keygen -r {WWW} -f repo/hostkeys/{WWW}/ssh_host_ed25519_key.pub | awk '{{print $4, $5, $6}}' | sort"));
    assert_eq!(sshfp.to_lowercase(), expect.to_lowercase());
    assert!(!sshfp.is_empty());
    sh(
        site.dir.root(),
        &format!(
            "drill -D -p {port} @127.0.0.1 TLSA _{}._tcp.{WWW} | grep -q RRSIG",
            site.https.port()
        ),
    );

    // Published with a signed manifest the real ssh-keygen accepts.
    assert_eq!(
        std::fs::read(site.path("data/pub/www/fullchain.pem")).expect("pub"),
        std::fs::read(site.path("data/certs/www/fullchain.pem")).expect("certs")
    );
    sh(site.dir.root(), "ssh-keygen -Y verify -f repo/allowed_signers -I publish@certdrop -n certdrop-manifest@certdrop -s data/pub/www/manifest.sig < data/pub/www/manifest >/dev/null");

    // nginx (in jail www) serves it, and DANE says so.
    assert_eq!(
        site.served().as_deref(),
        Some(der.as_slice()),
        "{}",
        site.logs()
    );
    let https = site.https.to_string();
    let nsd = site.nsd.to_string();
    run(
        "certdrop-check",
        &[
            "dane",
            WWW,
            &site.https.port().to_string(),
            "--server",
            &nsd,
            "--connect",
            &https,
        ],
    )
    .expect(0);

    // Nothing is due: the second pass is silent.
    let second = site.cron();
    assert_eq!(
        (second.code, second.stdout.as_str(), second.stderr.as_str()),
        (0, "", ""),
        "{}",
        site.logs()
    );
}

/// A site after its first cron pass: a certificate served.
fn deployed() -> Site {
    let site = Site::new(Opts::default());
    let first = site.cron();
    assert_eq!(
        (first.code, first.stderr.as_str()),
        (0, ""),
        "{first:?}\n{}",
        site.logs()
    );
    assert!(site.served().is_some(), "{}", site.logs());
    site
}

/// `script` in jail `name` fails with `why` (as /bin/sh words it).
#[track_caller]
fn refused(site: &Site, name: &str, script: &str, why: &str) {
    let ran = site.jail(name, &site.fill(script));
    assert!(
        ran.code != 0 && ran.stderr.contains(why),
        "jail {name}: `{script}` should fail with {why}: {ran:?}"
    );
}

/// Each stage reaches only what the privilege table gives it: writes
/// elsewhere fail with EROFS or EACCES, secrets are unreadable.
#[test]
fn jails_reach_only_what_the_table_allows() {
    let site = deployed();
    const ACCES: &str = "Permission denied";
    const ROFS: &str = "Read-only file system";
    for (name, script, why) in [
        // The issuer: not the zone tree, not pub/, not the configuration.
        (
            "acme",
            "echo x > @D@/data/state/dns/zones/example.test.zone",
            ACCES,
        ),
        ("acme", "echo x > @D@/data/pub/x", ACCES),
        ("acme", "mkdir @D@/data/zone", ROFS),
        ("acme", "echo x > @D@/etc/current/issue.toml", ROFS),
        // The zone compiler and the publisher: no keys, no writing certs/.
        ("dns", "cat @D@/data/keys/www/key.pem", ACCES),
        ("dns", "echo x > @D@/data/certs/x", ROFS),
        ("dns", "echo x > @D@/data/dnsextra/x", ROFS),
        ("publish", "cat @D@/data/keys/www/key.pem", ACCES),
        ("publish", "ls @D@/data/archive", ACCES),
        ("publish", "echo x > @D@/data/certs/www/cert.pem", ROFS),
        // The trigger's jail: pub/ and its own key read-only, nothing else.
        ("www", "echo x > @D@/data/pub/www/fullchain.pem", ROFS),
        ("www", "rm @D@/data/pub/www", ROFS),
        ("www", "echo x > @D@/data/keys/www/key.pem", ROFS),
        ("www", "ls @D@/data/keys", ACCES),
        ("www", "cat @D@/data/state/acme/account.json", ACCES),
    ] {
        refused(&site, name, script, why);
    }
    // And each can do its own job (so the refusals above are not an
    // accident of a broken jail).
    for (name, script) in [
        ("www", "cat @D@/data/keys/www/key.pem >/dev/null && cat @D@/data/pub/www/fullchain.pem >/dev/null"),
        ("dns", "cat @D@/data/certs/www/cert.pem >/dev/null && ls @D@/data/dnsextra >/dev/null"),
        ("publish", "touch @D@/data/pub/.probe && rm @D@/data/pub/.probe"),
        ("acme", "touch @D@/data/keys/.probe && rm @D@/data/keys/.probe"),
    ] {
        let ran = site.jail(name, &site.fill(script));
        assert_eq!(ran.code, 0, "jail {name}: {script}: {ran:?}");
    }
}

/// Fragments dropped into dnsextra/ by something that is not the issuer
/// (or shaped as anything but an ACME TXT value) never reach the served
/// zone, and the pipeline still renews through the same drop directory.
#[test]
fn a_hostile_neighbour_never_reaches_the_zone() {
    let site = deployed();
    let value = "A".repeat(43);
    let hostile = [
        (
            "evil-ns",
            "example.test. 60 IN NS ns.evil.invalid.\n".to_string(),
        ),
        (
            "evil-cname",
            "_acme-challenge.www.example.test. 60 IN CNAME evil.invalid.\n".into(),
        ),
        (
            "evil-caa",
            "example.test. 60 IN CAA 0 issue \"evil.invalid\"\n".into(),
        ),
        (
            "evil-out",
            format!("_acme-challenge.www.evil.invalid. 60 IN TXT \"{value}\"\n"),
        ),
        (
            "evil-owner",
            format!("_acme-challenge.www.example.test. 60 IN TXT \"{value}\"\n"),
        ),
    ];
    for (name, text) in &hostile {
        std::fs::write(site.path(&format!("data/dnsextra/{name}")), text).expect("drop");
    }
    // Written by the www jail's user: not the issuer.
    sh(
        site.dir.root(),
        &format!("chown {UID_WWW}:{UID_WWW} data/dnsextra/evil-*"),
    );
    // A forced renewal goes through the same drop directory, hands-off.
    let renew = site.force_renewal();
    assert_eq!(renew.code, 0, "{renew:?}\n{}", site.logs());
    let pass = site.cron();
    assert_eq!(pass.code, 0, "{pass:?}");
    // Each file was refused with one line (by the watcher in jail dns, or
    // the cron pass's build).
    let said =
        std::fs::read_to_string(site.path("data/run/dns.2.log")).unwrap_or_default() + &pass.stderr;
    for (name, _) in &hostile {
        assert!(said.contains(name), "{name} not refused: {said}");
    }
    let ask = |t: &str, n: &str| {
        sh(
            site.dir.root(),
            &format!(
                "drill -p {} @127.0.0.1 {t} {n} | grep -v '^;' | grep -w {t} || true",
                site.nsd.port()
            ),
        )
    };
    assert_eq!(
        ask("NS", "example.test").lines().count(),
        1,
        "{}",
        ask("NS", "example.test")
    );
    assert!(!ask("NS", "example.test").contains("evil"));
    assert_eq!(ask("CAA", "example.test"), "");
    assert_eq!(ask("CNAME", "_acme-challenge.www.example.test"), "");
    assert!(!ask("TXT", "_acme-challenge.www.example.test").contains(&value));
    // The renewed certificate is served, its key's record still there.
    let served = site.served().expect("served");
    assert_eq!(site.tlsa(), vec![spki_sha256(&served)]);
}

/// Seed 003: "do a full hands-off test of renewals". A forced early
/// renewal, then cron alone: published, nginx reloaded and serving the new
/// certificate, the TLSA record (same key) still valid.
#[test]
fn a_forced_renewal_reaches_nginx_hands_off() {
    let site = deployed();
    let before = site.served().expect("served");
    let renew = site.force_renewal();
    assert_eq!(renew.code, 0, "{renew:?}");
    let pass = site.cron();
    assert_eq!((pass.code, pass.stderr.as_str()), (0, ""), "{pass:?}");
    assert!(pass.stdout.contains("www: published"), "{pass:?}");
    assert!(pass.stdout.contains("www: reloaded"), "{pass:?}");
    // A graceful reload: old workers may answer a connection or two while
    // they finish (the trigger's post-flight already saw the new one).
    let mut after = site.served().expect("served");
    for _ in 0..50 {
        if after != before {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        after = site.served().expect("served");
    }
    assert_ne!(before, after, "nginx still serves the old certificate");
    assert_eq!(spki_sha256(&before), spki_sha256(&after), "the key is kept");
    assert_eq!(site.tlsa(), vec![spki_sha256(&after)]);
    let quiet = site.cron();
    assert_eq!(
        (quiet.code, quiet.stdout.as_str(), quiet.stderr.as_str()),
        (0, "", "")
    );
}

/// Seed 003: configuration comes out of source control. A commit reaches
/// nsd and nginx on the next cron pass; a broken commit is refused and
/// production keeps running on the last good release.
#[test]
fn a_commit_reaches_production_and_a_broken_one_does_not() {
    let site = deployed();
    let current = || std::fs::read_link(site.path("etc/current")).expect("current");
    let good = current();
    let https2 = certdrop_testkit::free_port();
    // A name added to the line (issuer and publisher), a record added to
    // the zone, a second service (an nginx server on another port).
    let issue = site.repo_file("issue.toml").replace(
        "domains = [\"www.example.test\"]",
        "domains = [\"www.example.test\", \"static.example.test\"]",
    );
    let publish = site.repo_file("publish.toml").replace(
        "names = [\"www.example.test\"]",
        "names = [\"www.example.test\", \"static.example.test\"]",
    );
    let primary = site.repo_file("primary") + "static A 127.0.0.1\n";
    let nginx = site.repo_file("nginx.conf").replacen(
        "    server {\n        listen 127.0.0.1:",
        &format!("    server {{\n        listen 127.0.0.1:{https2} ssl;\n        server_name static.example.test;\n        ssl_certificate @D@/data/pub/www/fullchain.pem;\n        ssl_certificate_key @D@/data/keys/www/key.pem;\n        return 200 \"static\\n\";\n    }}\n    server {{\n        listen 127.0.0.1:"),
        1,
    );
    let trigger = site.repo_file("trigger.toml")
        + &format!(
            "\n[[service]]\nname = \"static\"\ndefinition = \"nginx\"\nline = \"www\"\nnames = [\"static.example.test\"]\n\
             pidfile = \"@D@/data/state/www/nginx/nginx.pid\"\n\
             discover = {{ parser = \"nginx\", command = \"nginx -T -q -p @D@/data/state/www/nginx -e @D@/data/state/www/nginx/error.log -c @D@/etc/current/nginx.conf\" }}\n\
             preflight = \"nginx -t -q -p @D@/data/state/www/nginx -e @D@/data/state/www/nginx/error.log -c @D@/etc/current/nginx.conf\"\n\
             reload = \"kill -HUP $(cat {{pidfile}})\"\n\
             postflight = [{{ connect = \"127.0.0.1:{https2}\", sni = \"static.example.test\" }}]\n"
        );
    for (rel, text) in [
        ("issue.toml", issue),
        ("publish.toml", publish),
        ("primary", primary),
        ("nginx.conf", nginx),
    ] {
        std::fs::write(site.path("repo").join(rel), site.fill(&text)).expect("write");
    }
    site.commit("trigger.toml", &trigger, "static.example.test");
    let pass = site.cron();
    assert_eq!(pass.code, 0, "{pass:?}\n{}", site.logs());
    assert!(pass.stdout.contains("update: now on commit"), "{pass:?}");
    assert_ne!(current(), good);
    let a = sh(
        site.dir.root(),
        &format!(
            "drill -p {} @127.0.0.1 A static.example.test | grep -v '^;' | grep -w A || true",
            site.nsd.port()
        ),
    );
    assert!(a.contains("127.0.0.1"), "the record did not reach nsd: {a}");
    let static_addr = std::net::SocketAddr::from(([127, 0, 0, 1], https2));
    let target = certdrop_probe::Target {
        connect: static_addr,
        server_name: "static.example.test",
        protocol: certdrop_probe::Protocol::Tls,
    };
    let limits = certdrop_probe::Limits {
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let chain = certdrop_probe::fetch_chain(&target, &limits)
        .unwrap_or_else(|e| panic!("the new service does not answer: {e}\n{}", site.logs()));
    let (_, cert) = x509_parser::parse_x509_certificate(&chain.certs[0]).expect("cert");
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|s| {
            s.value
                .general_names
                .iter()
                .map(|n| n.to_string())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        names.iter().any(|n| n.contains("static.example.test")),
        "{names:?}"
    );
    assert_eq!(site.served().as_deref(), Some(chain.certs[0].as_slice()));
    let live = current();

    // A broken commit: refused, with the reason, every pass; production
    // stays on the last good release and keeps serving.
    let broken = site
        .repo_file("zone.toml")
        .replace("ttl = 60", "ttl = \"sixty\"");
    site.commit("zone.toml", &broken, "typo");
    for _ in 0..2 {
        let pass = site.cron();
        assert_ne!(pass.code, 0, "{pass:?}");
        assert!(
            pass.stderr.contains("zone.toml:") && pass.stderr.contains("refused; still on commit"),
            "{pass:?}"
        );
        assert_eq!(current(), live);
        assert_eq!(site.served().as_deref(), Some(chain.certs[0].as_slice()));
        assert!(site.tlsa().len() == 1);
    }
}
