//! certdrop-jails cluster as a user runs it: the shipped eight-site sample
//! renders (and is jail-templates/example-cluster/), nsd accepts every
//! nsd.conf part, every crontab line is one cron runs, and each refusal is
//! one line naming the cluster file's line.

use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::{Run, Tree};

mod refusals;

use refusals::refused;

/// The crontab(5) time check that `render` applies to site.toml.
#[allow(dead_code)]
#[path = "../../src/schedule.rs"]
mod schedule;

fn templates() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../jail-templates")
}

fn sample() -> String {
    std::fs::read_to_string(templates().join("cluster.toml.sample")).expect("sample")
}

/// Exit code, stdout and stderr of certdrop-jails `args`, run in `dir`.
fn jails(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let ran = Command::new(env!("CARGO_BIN_EXE_certdrop-jails"))
        .current_dir(dir)
        .args(args)
        .ran();
    (ran.code, ran.stdout, ran.stderr)
}

/// `certdrop-jails cluster cluster.toml -o out` in `c`.
fn render(c: &Tree) -> (i32, String, String) {
    jails(c.root(), &["cluster", "cluster.toml", "-o", "out"])
}

/// A tree holding `text` as cluster.toml and the sample's public keys.
fn cluster(text: &str) -> Tree {
    let dir = Tree::new();
    dir.write("cluster.toml", text);
    for e in std::fs::read_dir(templates().join("cluster-keys")).expect("keys") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        dir.write(
            &format!("cluster-keys/{name}"),
            &std::fs::read_to_string(e.path()).expect("key"),
        );
    }
    dir
}

/// The sample cut down to the signing site and site1.
fn mini() -> String {
    let s = sample();
    let cut = s.find("\n[[site]]\nname = \"site2\"").expect("site2");
    let jails = s.find("\n# The signing host's jails").expect("jail sets");
    format!("{}{}", &s[..cut], &s[jails..])
}

/// `text` with `old` (present) replaced once by `new`.
#[track_caller]
fn with(text: &str, old: &str, new: &str) -> String {
    assert!(text.contains(old), "has {old}");
    text.replacen(old, new, 1)
}

/// The 1-based line of the first `needle` in `text`.
#[track_caller]
fn line(text: &str, needle: &str) -> usize {
    let at = text.find(needle).expect(needle);
    text[..at].matches('\n').count() + 1
}

#[test]
fn the_sample_renders_a_directory_per_host_once() {
    let dir = Tree::new();
    let out = dir.path("out");
    let out = out.to_str().expect("utf8");
    let (code, stdout, stderr) =
        jails(&templates(), &["cluster", "cluster.toml.sample", "-o", out]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(
        stdout.starts_with("rendered cluster 'example' (9 hosts) into "),
        "{stdout}"
    );
    // Eight service hosts and the signing host.
    let mut hosts = dir.listing("out");
    hosts.sort();
    let mut want: Vec<String> = (1..=8).map(|i| format!("site{i}")).collect();
    want.insert(0, "sign".into());
    assert_eq!(hosts, want);
    for i in 1..=8 {
        for f in [
            "jail.conf",
            "fstab.www",
            "crontab.publish",
            "install.sh",
            "linux/jail-www",
            "nsd.xfr.conf",
            "pull.toml",
            "trigger.outbox.toml",
            "allowed_signers.pub",
        ] {
            assert!(
                dir.path(&format!("out/site{i}/{f}")).is_file(),
                "site{i}/{f}"
            );
        }
        assert!(dir.path(&format!("out/sign/pull-site{i}.toml")).is_file());
        assert!(dir
            .path(&format!("out/sign/allowed_signers.site{i}"))
            .is_file());
    }
    for f in [
        "nsd.xfr.conf",
        "zone.xfr.toml",
        "issue.lines.toml",
        "publish.lines.toml",
    ] {
        assert!(dir.path(&format!("out/sign/{f}")).is_file(), "sign/{f}");
    }
    // Only the publication key may sign pub/; each site's own key only
    // its outbox.
    let signers = dir.read_text("out/site3/allowed_signers.pub");
    assert!(
        signers
            .contains("\npublish@example namespaces=\"certdrop-manifest@certdrop\" ssh-ed25519 "),
        "{signers}"
    );
    let signers = dir.read_text("out/sign/allowed_signers.site3");
    let key =
        std::fs::read_to_string(templates().join("cluster-keys/site3_ed25519.pub")).expect("key");
    let key: Vec<&str> = key.split_whitespace().take(2).collect();
    assert!(
        signers.ends_with(&format!(
            "\noutbox@site3 namespaces=\"certdrop-manifest@certdrop\" {}\n",
            key.join(" ")
        )),
        "{signers}"
    );
    let issue = dir.read_text("out/sign/issue.lines.toml");
    assert!(issue.contains("name = \"www-site3\"\ndomains = [\"www.site3.example.test\"]\ncsr = \"/var/db/certdrop/inbox/site3/www-site3/csr.pem\""), "{issue}");
    // The same again changes nothing; -n writes nothing.
    let (code, stdout, stderr) =
        jails(&templates(), &["cluster", "cluster.toml.sample", "-o", out]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (2, "", ""));
    let fresh = dir.path("fresh");
    let (code, stdout, _) = jails(
        &templates(),
        &[
            "-n",
            "cluster",
            "cluster.toml.sample",
            "-o",
            fresh.to_str().expect("utf8"),
        ],
    );
    assert_eq!(code, 0);
    assert!(
        stdout.lines().count() > 100 && stdout.starts_with("would write "),
        "{stdout}"
    );
    assert!(!fresh.exists());
}

/// jail-templates/example-cluster/ is what the sample renders to:
/// re-render with CERTDROP_BLESS=1 after a change.
#[test]
fn the_example_cluster_is_what_the_sample_renders_to() {
    let example = templates().join("example-cluster");
    let dir = Tree::new();
    let out = if std::env::var_os("CERTDROP_BLESS").is_some() {
        example.clone()
    } else {
        dir.path("out")
    };
    let (code, _, stderr) = jails(
        &templates(),
        &[
            "cluster",
            "cluster.toml.sample",
            "-o",
            out.to_str().expect("utf8"),
        ],
    );
    assert!(code == 0 || code == 2, "{stderr}");
    let rendered = files(&out);
    assert_eq!(
        rendered,
        files(&example),
        "example-cluster/ has the same files (CERTDROP_BLESS=1)"
    );
    for f in &rendered {
        assert_eq!(
            std::fs::read_to_string(out.join(f)).expect("rendered"),
            std::fs::read_to_string(example.join(f)).unwrap_or_default(),
            "jail-templates/example-cluster/{f} is stale (CERTDROP_BLESS=1)"
        );
    }
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let rel = p.strip_prefix(dir).expect("under dir");
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn nsd_checkconf_accepts_every_nsd_conf_part() {
    let dir = Tree::new();
    // The key clause certdrop-zone tsig-key writes.
    let key = dir.write(
        "xfr.key",
        "key:\n\tname: \"xfr\"\n\talgorithm: hmac-sha256\n\tsecret: \"K2tf3TRjvQkVCmJF3/Z9vA5zTj7KfVdM0WIF1sYH0c4=\"\n",
    );
    let text = with(
        &sample(),
        "file = \"/usr/local/etc/certdrop/tsig/xfr.key\"",
        &format!("file = \"{}\"", key.display()),
    );
    let c = cluster(&text);
    let out = c.path("out");
    let (code, _, stderr) = jails(
        c.root(),
        &["cluster", "cluster.toml", "-o", out.to_str().expect("utf8")],
    );
    assert_eq!(code, 0, "{stderr}");
    let mut parts = 0;
    for host in c.listing("out") {
        let part = out.join(&host).join("nsd.xfr.conf");
        let conf = dir.write(
            &format!("{host}.conf"),
            &format!(
                "server:\n\tzonesdir: \"{}\"\n\tusername: \"\"\n\tdatabase: \"\"\ninclude: \"{}\"\n",
                dir.root().display(),
                part.display()
            ),
        );
        let ran = Command::new("nsd-checkconf").arg(&conf).ran();
        assert_eq!(
            (ran.code, ran.stderr.as_str()),
            (0, ""),
            "{host}: {}",
            ran.stdout
        );
        parts += 1;
        let text = std::fs::read_to_string(&part).expect("part");
        if host == "sign" {
            assert!(
                text.contains("\tnotify: 192.0.2.18 xfr\n\tprovide-xfr: 192.0.2.18 xfr\n"),
                "{text}"
            );
        } else {
            assert!(
                text.contains("\tallow-notify: 192.0.2.1 xfr\n\trequest-xfr: 192.0.2.1 xfr\n"),
                "{text}"
            );
        }
    }
    assert_eq!(parts, 9, "the primary and eight secondaries");
}

#[test]
fn every_crontab_line_is_one_cron_runs() {
    let dir = Tree::new();
    let out = dir.path("out");
    let (code, _, stderr) = jails(
        &templates(),
        &[
            "cluster",
            "cluster.toml.sample",
            "-o",
            out.to_str().expect("utf8"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let (mut entries, mut pulls, mut csrs) = (0, 0, 0);
    for host in dir.listing("out") {
        for f in dir.listing(&format!("out/{host}")) {
            if !f.starts_with("crontab.") {
                continue;
            }
            let text = dir.read_text(&format!("out/{host}/{f}"));
            for l in text.lines() {
                if l.is_empty()
                    || l.starts_with('#')
                    || l.split('\t').next().is_some_and(|w| w.contains('='))
                {
                    continue;
                }
                let (when, run) = l.split_once('\t').expect("time TAB command");
                assert_eq!(schedule::check(when), Ok(()), "{host}/{f}: {l}");
                assert!(!run.is_empty() && !run.contains('{'), "{host}/{f}: {l}");
                entries += 1;
                pulls += usize::from(run.ends_with(" pull"));
                csrs += usize::from(run.ends_with(" csr"));
            }
        }
    }
    // Eight pub pulls, eight outbox pulls on the signing host, eight csr runs.
    assert_eq!((pulls, csrs), (16, 8));
    assert!(entries > 24, "{entries}");
}

#[test]
fn a_site_that_leaves_takes_its_files_with_it() {
    let c = cluster(&mini());
    let (code, stdout, stderr) = render(&c);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert_eq!(c.listing("out").len(), 2);
    assert!(c.path("out/sign/pull-site1.toml").is_file());
    // site1 no longer a secondary, its service gone: no outbox pull, no
    // allowed signer for it, no nsd.conf parts.
    let fewer = with(&mini(), "secondary = true", "secondary = false");
    let cut = fewer.find("[[service]]").expect("service");
    let end = cut + fewer[cut..].find("\n\n").expect("blank line");
    let fewer = format!("{}{}", &fewer[..cut], &fewer[end + 2..]);
    c.write("cluster.toml", &fewer);
    let (code, _, stderr) = render(&c);
    assert_eq!(code, 0, "{stderr}");
    for gone in [
        "sign/pull-site1.toml",
        "sign/allowed_signers.site1",
        "sign/nsd.xfr.conf",
        "sign/zone.xfr.toml",
        "sign/issue.lines.toml",
        "site1/nsd.xfr.conf",
        "site1/trigger.outbox.toml",
    ] {
        assert!(!c.path(&format!("out/{gone}")).exists(), "{gone}");
    }
    assert!(c.path("out/site1/pull.toml").is_file(), "still pulls pub/");
}

#[test]
fn a_dns_port_reaches_nsd_and_zone_toml() {
    let m = with(&mini(), "zones = [", "dns_port = 5353\nzones = [");
    let c = cluster(&m);
    let (code, _, stderr) = render(&c);
    assert_eq!(code, 0, "{stderr}");
    let primary = c.read_text("out/sign/nsd.xfr.conf");
    assert!(primary.contains("\tnotify: 192.0.2.11@5353 xfr\n\tprovide-xfr: 192.0.2.11@5353 xfr\n\tnotify: 2001:db8::11@5353 xfr\n"), "{primary}");
    let zone = c.read_text("out/sign/zone.xfr.toml");
    assert!(
        zone.contains("name = \"site1\"\naddress = \"192.0.2.11:5353\"\n"),
        "{zone}"
    );
    let secondary = c.read_text("out/site1/nsd.xfr.conf");
    assert!(
        secondary.contains("\trequest-xfr: 2001:db8::1@5353 xfr\n"),
        "{secondary}"
    );
}

#[test]
fn a_service_on_the_issuers_host_keeps_the_issuers_key_grant() {
    let m = with(
        &mini(),
        "# Every service host's jails.",
        "[[jails.signing]]\nname = \"www\"\nstages = [\"web\", \"trigger\"]\nuser = \"www\"\nuid = 805\nmounts = { pub = \"ro\" }\nkeys = [\"www-sign\"]\n\n# Every service host's jails.",
    );
    let m = with(
        &m,
        "[[service]]",
        "[[service]]\nline = \"www-sign\"\nhost = \"sign\"\nnames = [\"www.example.test\"]\n\n[[service]]",
    );
    let c = cluster(&m);
    let (code, _, stderr) = render(&c);
    assert_eq!((code, stderr.as_str()), (0, ""));
    let issue = c.read_text("out/sign/issue.lines.toml");
    assert!(
        issue.contains("[[line]]\nname = \"www-sign\"\ndomains = [\"www.example.test\"]\nkey_group = \"805\"\n"),
        "{issue}"
    );
    // Its key is the issuer's: no csr part on the signing host, and the
    // trigger there verifies pub/ with the publication key.
    assert!(!c.path("out/sign/trigger.outbox.toml").exists());
    assert!(c.path("out/sign/allowed_signers.pub").is_file());
}

#[test]
fn tlsa_owners_reach_the_issuer_and_the_zone_map_or_are_refused() {
    let c = cluster(&mini());
    let (code, _, stderr) = render(&c);
    assert_eq!(code, 0, "{stderr}");
    let lines = c.read_text("out/sign/issue.lines.toml");
    assert!(
        lines.contains("tlsa = [\"_443._tcp.www.site1.example.test\"]"),
        "{lines}"
    );
    let map = c.read_text("out/sign/tlsa.lines.map");
    assert!(
        map.ends_with("\n_443._tcp.www.site1.example.test  www-site1  3 1 1\n"),
        "{map}"
    );
    let bad = with(
        &mini(),
        "tlsa = [\"_443._tcp.www.site1.example.test\"]",
        "tlsa = [\"www.site1.example.test\"]",
    );
    refused(
        &bad,
        &format!(
            "{}: service 'www-site1': tlsa: 'www.site1.example.test': expected _<port>._<tcp|udp|sctp>.<host>, e.g. _443._tcp.www.example.org",
            line(&bad, "tlsa = [\"www.site1")
        ),
    );
}
