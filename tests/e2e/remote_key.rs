//! A service on another host keeps its key (issue 15, point 3), end to
//! end through the real binaries: the service site's `certdrop-trigger
//! csr` writes a signed CSR outbox; the signing site pulls it with
//! `certdrop-publish pull` (kind outbox, rsync) into inbox/, certdrop-issue
//! issues from the CSR against Pebble (dns-01 through certdrop-zone and
//! nsd), certdrop-publish publishes; the service site pulls pub/ (kind pub,
//! rsync), and certdrop-trigger deploys to nginx with the key that never
//! left. Then the key is rolled over across the two sites: the next key's
//! CSR travels first, its TLSA record is served for 2 x TTL before the
//! certificate for it exists, and a sampler checks every 100 ms that the
//! key nginx serves has a TLSA record nsd serves. Every tree that crossed
//! between the sites is searched for private keys.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::{free_port, sh, Ran};

use crate::pipeline::{site, spki_sha256_of_pem, Site};
use crate::tree::{run, step};

const WWW: &str = "www.example.test";
/// TTL of the generated records: the next key's record must be served 2 s.
const TTL: u32 = 1;
/// Principals in the allowed_signers files.
const PUBLISHER: &str = "publish@certdrop";
const SVC: &str = "svc@certdrop";
/// Give up on the rollover after this long (it takes a few seconds).
const DEADLINE: Duration = Duration::from_secs(120);

/// The two sites: the signing site is the pipeline fixture's tree (nsd,
/// Pebble, zone watch, issue.toml); the service site lives in its `svc/`.
struct Sites {
    /// Before `sign`: fields drop in order, and nginx is stopped by the
    /// pid file in the tree `sign` removes.
    nginx: Option<Nginx>,
    sign: Site,
    https: u16,
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// An OpenSSH ed25519 key `name` in `dir` and its allowed_signers line.
fn signing_key(dir: &Path, name: &str, principal: &str) -> String {
    sh(
        dir,
        &format!("ssh-keygen -q -t ed25519 -N '' -C {principal} -f {name}"),
    );
    let public = std::fs::read_to_string(dir.join(format!("{name}.pub"))).expect("pub");
    format!("{principal} namespaces=\"certdrop-manifest@certdrop\" {public}")
}

impl Sites {
    fn new() -> Sites {
        let sign = site(
            "name = \"www\"\ndomains = [\"www.example.test\"]\ncsr = \"inbox/svc/www/csr.pem\"\n\
             rollover_wait = \"1s\"\ntlsa = [\"_443._tcp.www.example.test\"]",
            TTL,
        );
        let s = sign.dir.root();
        let v = s.join("svc");
        for d in ["keys", "outbox", "pub", "state", "inbox"] {
            let base = if d == "inbox" { s } else { &v };
            std::fs::create_dir_all(base.join(d)).expect("mkdir");
        }
        std::fs::create_dir_all(s.join("pub")).expect("pub");
        // Each site signs what it sends with its own key; each trusts only
        // the other's key, for the one kind of tree it receives.
        let publisher = signing_key(s, "publish_key", PUBLISHER);
        let svc = signing_key(&v, "outbox_key", SVC);
        std::fs::write(v.join("allowed_signers"), publisher).expect("signers");
        std::fs::write(s.join("svc_signers"), svc).expect("signers");
        std::fs::write(
            s.join("publish.toml"),
            format!(
                "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"publish_key\"\n\
                 [[line]]\nname = \"www\"\nnames = [\"{WWW}\"]\n"
            ),
        )
        .expect("publish.toml");
        let pull = |kind: &str, from: &Path, into: &str, signers: &str| {
            format!(
                "[pull]\nkind = \"{kind}\"\ntransport = [\"rsync\", \"-a\", \"--delete\", \"{}/\", \"{{staging}}/\"]\n\
                 staging = \"staging-{kind}\"\ninto = \"{into}\"\nallowed_signers = \"{signers}\"\ntimeout = \"60s\"\n",
                text(from)
            )
        };
        std::fs::write(
            s.join("pull-svc.toml"),
            pull("outbox", &v.join("outbox"), "inbox/svc", "svc_signers")
                + &format!("identity = \"{SVC}\"\n"),
        )
        .expect("pull-svc.toml");
        std::fs::write(
            v.join("pull.toml"),
            pull("pub", &s.join("pub"), "pub", "allowed_signers")
                + &format!("identity = \"{PUBLISHER}\"\n"),
        )
        .expect("pull.toml");
        let mut sites = Sites {
            nginx: None,
            sign,
            https: free_port(),
        };
        sites.trigger_config();
        sites
    }

    fn svc(&self, rel: &str) -> PathBuf {
        self.sign.path("svc").join(rel)
    }

    /// trigger.toml of the service site: its outbox and key line, and the
    /// nginx service once nginx runs.
    fn trigger_config(&mut self) {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy-triggers");
        let mut conf = format!(
            "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"{}\"]\n\
             allowed_signers = \"allowed_signers\"\nsigner = \"{PUBLISHER}\"\npostflight_wait = \"10s\"\n\
             [outbox]\ndir = \"outbox\"\nkeys = \"keys\"\nsigning_key = \"outbox_key\"\n\
             [[csr]]\nline = \"www\"\nnames = [\"{WWW}\"]\nkey = \"ecdsa-p256\"\nmax_key_age = \"1h\"\n",
            text(&shipped)
        );
        if let Some(nginx) = &self.nginx {
            conf += &format!(
                "[[service]]\nname = \"www\"\nline = \"www\"\nnames = [\"{WWW}\"]\n\
                 files = [{{ cert = \"{}\", key = \"{}\" }}]\n\
                 pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"kill -HUP $(cat {{pidfile}})\"\n\
                 rule = \"content-changed\"\npostflight = [{{ connect = \"{}\", sni = \"{WWW}\" }}]\n",
                text(&self.svc("pub/www/fullchain.pem")),
                text(&self.svc("keys/www/key.pem")),
                text(&nginx.pidfile()),
                nginx.test_command(),
                nginx.addr()
            );
        }
        std::fs::write(self.svc("trigger.toml"), conf).expect("trigger.toml");
    }

    fn trigger(&self, args: &[&str]) -> Ran {
        let c = self.svc("trigger.toml");
        let mut all = vec!["-c", text(&c)];
        all.extend_from_slice(args);
        run("certdrop-trigger", &all)
    }

    fn publish(&self, config: &Path, verb: &str) -> Ran {
        run("certdrop-publish", &["-c", text(config), verb])
    }

    /// One cron pass over both sites, in the order cron would run them;
    /// each step either acted (0) or had nothing to do (2).
    fn pass(&self) {
        step("svc csr", self.trigger(&["csr"]));
        step(
            "sign pull outbox",
            self.publish(&self.sign.path("pull-svc.toml"), "pull"),
        );
        step("sign issue", self.sign.issue(&["run"]));
        step(
            "sign publish",
            self.publish(&self.sign.path("publish.toml"), "run"),
        );
        step("svc pull", self.publish(&self.svc("pull.toml"), "pull"));
        if self.nginx.is_some() {
            step("svc trigger", self.trigger(&["run"]));
        }
    }

    /// SHA-256 of the SPKI nginx serves, if it answers.
    fn served(&self) -> Option<String> {
        let target = certdrop_probe::Target {
            connect: std::net::SocketAddr::from(([127, 0, 0, 1], self.https)),
            server_name: WWW,
            protocol: certdrop_probe::Protocol::Tls,
        };
        let limits = certdrop_probe::Limits {
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        let der = certdrop_probe::fetch_chain(&target, &limits)
            .ok()?
            .certs
            .into_iter()
            .next()?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
        Some(certdrop_core::certinfo::hex(
            &certdrop_core::certinfo::spki_sha256(cert.tbs_certificate.subject_pki.raw),
        ))
    }

    /// The TLSA 3 1 1 digests nsd serves for the line.
    fn tlsa(&self) -> Vec<String> {
        crate::pipeline::served_tlsa(&self.sign.nsd)
            .into_iter()
            .filter_map(|r| r.strip_prefix("311").map(str::to_owned))
            .collect()
    }

    /// SHA-256 of a private key file's SPKI, by openssl.
    fn key_spki(&self, key: &str) -> String {
        sh(
            &self.svc(""),
            &format!("openssl pkey -in {key} -pubout -outform DER | sha256sum"),
        )
        .split_whitespace()
        .next()
        .expect("digest")
        .to_owned()
    }
}

/// Every regular file under `dir`, recursively (links not followed).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let t = e.file_type().expect("type");
        if t.is_dir() {
            out.extend(files(&e.path()));
        } else if t.is_file() {
            out.push(e.path());
        }
    }
    out
}

/// No file of a tree that crossed between the sites holds a private key.
fn no_private_key(dir: &Path) {
    let all = files(dir);
    assert!(!all.is_empty(), "{} is empty", dir.display());
    for f in all {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains("PRIVATE KEY"),
            "{} holds a private key",
            f.display()
        );
    }
}

#[test]
fn the_key_stays_on_its_site_and_rolls_over_with_dane_intact() {
    let mut sites = Sites::new();
    // First certificate: CSR out, certificate back.
    sites.pass();
    assert!(
        sites.sign.path("certs/www/fullchain.pem").exists(),
        "no certificate issued"
    );
    assert!(sites.svc("pub/www/fullchain.pem").exists(), "not pulled");
    let port = sites.https;
    let nginx = Nginx::daemon(
        &sites.svc("nginx"),
        &[Server::new(
            port,
            WWW,
            &sites.svc("pub/www/fullchain.pem"),
            &sites.svc("keys/www/key.pem"),
        )],
    );
    sites.nginx = Some(nginx);
    sites.trigger_config();
    sites.pass();
    let a = sites.key_spki("keys/www/key.pem");
    assert_eq!(
        sites.served().as_deref(),
        Some(a.as_str()),
        "nginx serves A"
    );
    assert_eq!(
        spki_sha256_of_pem(&std::fs::read(sites.sign.path("certs/www/pubkey.pem")).expect("pub")),
        a,
        "issued for the service site's key"
    );
    let t0 = Instant::now();
    while sites.tlsa() != vec![a.clone()] {
        assert!(t0.elapsed() < DEADLINE, "TLSA for A: {:?}", sites.tlsa());
        std::thread::sleep(Duration::from_millis(100));
    }

    // The key ages past max_key_age: the service site stages a next key.
    std::fs::File::open(sites.svc("keys/www/key.pem"))
        .and_then(|f| f.set_modified(SystemTime::now() - Duration::from_secs(7200)))
        .expect("age the key");
    let stop = AtomicBool::new(false);
    let (samples, b) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut v = Vec::new();
            loop {
                let last = stop.load(Ordering::Relaxed);
                // TLSA first: a correct rollover can never look wrong by
                // the order of the two questions.
                let tlsa = sites.tlsa();
                let served = sites.served();
                v.push((served, tlsa));
                if last {
                    return v;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let drive = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sites.pass();
            let b = sites.key_spki("keys/www/next/key.pem");
            assert_ne!(a, b);
            let started = Instant::now();
            while sites.served().as_deref() != Some(b.as_str()) {
                assert!(
                    started.elapsed() < DEADLINE,
                    "B not served after {DEADLINE:?}: {}",
                    sites.sign.issue(&["status"]).stdout
                );
                sites.pass();
                std::thread::sleep(Duration::from_millis(200));
            }
            // The site publishes its outbox without the next key; the
            // issuer then has nothing to do for the line.
            sites.pass();
            b
        }));
        stop.store(true, Ordering::Relaxed);
        let samples = sampler.join().expect("sampler");
        match drive {
            Ok(b) => (samples, b),
            Err(e) => {
                eprintln!("samples: {samples:?}");
                std::panic::resume_unwind(e)
            }
        }
    });
    let bad: Vec<_> = samples
        .iter()
        .filter(|(served, tlsa)| !served.as_ref().is_some_and(|s| tlsa.contains(s)))
        .collect();
    assert!(
        bad.is_empty(),
        "DANE failed in {} samples: {bad:?}",
        bad.len()
    );
    assert!(
        samples
            .iter()
            .any(|(s, t)| s.as_deref() == Some(&a) && t.contains(&b)),
        "never saw A served with B's record already there: {samples:?}"
    );
    assert!(samples.len() >= 20, "only {} samples", samples.len());
    eprintln!(
        "rollover across two sites: {} samples, A served with A+B records in {}",
        samples.len(),
        samples
            .iter()
            .filter(|(s, t)| s.as_deref() == Some(&a) && t.contains(&b))
            .count()
    );
    assert_eq!(sites.key_spki("keys/www/key.pem"), b, "B promoted");
    assert!(!sites.svc("keys/www/next").exists() || files(&sites.svc("keys/www/next")).is_empty());
    let manifest = std::fs::read_to_string(sites.svc("outbox/www/manifest")).expect("manifest");
    assert!(manifest.contains("\nnext-spki -\n"), "{manifest}");
    assert!(
        !sites.sign.path("certs/www/next").exists(),
        "the issuer dropped next/"
    );
    assert_eq!(sites.sign.issue(&["run"]).code, 2, "nothing left to do");

    // Nothing secret travelled, and the issuer never had the line's key.
    for tree in [
        sites.svc("outbox"),
        sites.sign.path("staging-outbox"),
        sites.sign.path("inbox"),
        sites.sign.path("pub"),
        sites.svc("staging-pub"),
        sites.svc("pub"),
    ] {
        no_private_key(&tree);
    }
    assert!(
        !sites.sign.path("keys/www").exists(),
        "the issuer holds a line key"
    );
}
