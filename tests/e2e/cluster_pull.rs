//! The publication half of the eight-site test (issue 15).
//!
//! Every service site keeps its own key: `certdrop-trigger csr` writes a
//! signed outbox, which the signing site pulls (`certdrop-publish -c
//! pull-<site>.toml pull`, kind outbox, from the site's rsync daemon); the
//! issuer issues from the inbox CSR; each site pulls pub/ from the
//! signing site's rsync daemon (`certdrop-publish -c pull.toml pull`,
//! kind pub) and its trigger deploys to its nginx. Each step is one
//! function per site ([`pull`], [`trigger`], [`csr`], [`pull_outbox`]);
//! [`Loop`] is a site's cron: pull then trigger, every 300 ms.
//!
//! After a renewal every linked nginx serves its new certificate, DANE
//! holds on every site (sampled every 100 ms), a site cut off keeps its
//! last good certificate and catches up by itself; a tampered transfer is
//! refused at that site only; an older tree is not taken; no private key
//! is in any transferred tree.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use certdrop_testkit::netns::{addr, NsProc};
use certdrop_testkit::tree::write;
use certdrop_testkit::{bin, sh, within, Ran, Run};

use crate::cluster::harness::{
    served_leaf, spki_sha256, timed, tlsa_at_owner, Cluster, Service, SIGN, ZONE,
};
use crate::tree::step;

/// TTL of the zone's records: every linked site must serve its new
/// certificate within it of the publication (the margin a loaded CI
/// machine needs; a quiet one takes about 2 s).
const TTL: u32 = 5;
/// A site's cron period for pull + trigger in this test.
const PERIOD: &str = "0.3";

fn line(n: u8) -> String {
    format!("www-site{n}")
}

fn name(n: u8) -> String {
    format!("www.site{n}.{ZONE}")
}

fn owner(n: u8) -> String {
    format!("_443._tcp.{}", name(n))
}

/// Add `text` at the end of the signing site's file `rel` (zone sources,
/// issue.toml, publish.toml: the sites' lines).
fn append(c: &Cluster, rel: &str, text: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.sign_path(rel))
        .expect("open to append");
    f.write_all(text.as_bytes()).expect("append");
}

fn p(path: &Path) -> String {
    path.to_str().expect("utf8 path").to_owned()
}

/// `certdrop-publish -c pull.toml pull` on site `s`: its pub/ from the
/// signing site's rsync daemon.
pub fn pull(c: &Cluster, s: &Service) -> Ran {
    c.net
        .command(s.n, bin("certdrop-publish"))
        .args(["-c", &p(&s.dir.join("pull.toml")), "pull"])
        .ran_within(Duration::from_secs(60))
}

/// `certdrop-trigger -c trigger.toml run` on site `s`.
pub fn trigger(c: &Cluster, s: &Service) -> Ran {
    c.net
        .command(s.n, bin("certdrop-trigger"))
        .args(["-c", &p(&s.dir.join("trigger.toml")), "run"])
        .ran_within(Duration::from_secs(60))
}

/// `certdrop-trigger -c trigger.toml csr` on site `s`: its key (made
/// once, kept) and a signed outbox with its CSR.
pub fn csr(c: &Cluster, s: &Service) -> Ran {
    c.net
        .command(s.n, bin("certdrop-trigger"))
        .args(["-c", &p(&s.dir.join("trigger.toml")), "csr"])
        .ran_within(Duration::from_secs(60))
}

/// On the signing site: `certdrop-publish -c pull-site<n>.toml pull`,
/// site `s`'s outbox into inbox/site<n>/.
pub fn pull_outbox(c: &Cluster, s: &Service) -> Ran {
    let conf = c.sign_path(&format!("pull-site{}.toml", s.n));
    c.net
        .command(SIGN, bin("certdrop-publish"))
        .args(["-c", &p(&conf), "pull"])
        .ran_within(Duration::from_secs(60))
}

/// A site's cron: pull, then the trigger, every [`PERIOD`] seconds, in the
/// site's namespace (the process group is killed on drop).
pub struct Loop {
    _proc: NsProc,
}

/// nginx, which a site's trigger starts as a daemon (out of any process
/// group of ours), stopped by its pid file on drop.
pub struct NginxPid(PathBuf);

impl Drop for NginxPid {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = std::process::Command::new("kill").arg(pid.trim()).output();
        }
    }
}

impl Loop {
    pub fn start(c: &Cluster, s: &Service) -> Loop {
        let script = format!(
            "while :; do {pb} -c {d}/pull.toml pull; {tr} -c {d}/trigger.toml run; sleep {PERIOD}; done",
            pb = p(&bin("certdrop-publish")),
            tr = p(&bin("certdrop-trigger")),
            d = p(&s.dir)
        );
        Loop {
            _proc: c
                .net
                .spawn(s.n, "sh", &["-c", &script], &s.dir.join("loop.log")),
        }
    }
}

/// Configure the publication on both ends: per site its line (zone
/// records, TLSA map, issuer line from its inbox CSR, publish line), its
/// outbox signing key and rsync daemon, trigger.toml with [outbox] and
/// [[csr]], pull.toml (kind pub); on the signing site one pull-site<n>.toml
/// (kind outbox) per site and the sites' allowed signers.
fn configure(c: &Cluster) {
    let s = c.sign_path("");
    let mut outbox_signers = String::new();
    for site in &c.sites {
        let (n, d) = (site.n, &site.dir);
        append(c, "primary", &format!("www.site{n} A {}\n", addr(n)));
        append(
            c,
            "tlsa.map",
            &format!("{}  {}  3 1 1\n", owner(n), line(n)),
        );
        append(
            c,
            "issue.toml",
            &format!(
                "[[line]]\nname = \"{l}\"\ndomains = [\"{nm}\"]\nchallenge = \"dns-01\"\n\
                 csr = \"{s}/inbox/site{n}/{l}/csr.pem\"\ntlsa = [\"{o}\"]\nrollover_wait = \"1s\"\n",
                l = line(n),
                nm = name(n),
                s = p(&s),
                o = owner(n)
            ),
        );
        append(
            c,
            "publish.toml",
            &format!(
                "[[line]]\nname = \"{}\"\nnames = [\"{}\"]\n",
                line(n),
                name(n)
            ),
        );
        for sub in ["outbox", "keys", "pub", "staging", "state", "nginx"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        sh(
            d,
            "chmod 700 keys && ssh-keygen -q -t ed25519 -N '' -C outbox -f outbox_ed25519",
        );
        let pubkey = std::fs::read_to_string(d.join("outbox_ed25519.pub")).expect("pub");
        let key2: Vec<&str> = pubkey.split_whitespace().take(2).collect();
        outbox_signers.push_str(&format!(
            "site{n}@outbox namespaces=\"certdrop-manifest@certdrop\" {}\n",
            key2.join(" ")
        ));
        write(
            d,
            "rsyncd.conf",
            &format!(
                "pid file = {0}/rsyncd.pid\nlog file = {0}/rsyncd.log\naddress = {1}\nport = 873\n\
                 use chroot = no\nuid = root\ngid = root\n[outbox]\npath = {0}/outbox\nread only = yes\n",
                p(d),
                addr(n)
            ),
        );
        std::fs::copy(s.join("allowed_signers"), d.join("allowed_signers")).expect("signers");
        let source = format!("rsync://{}/pub/", addr(SIGN));
        write(
            d,
            "pull.toml",
            &pull_toml(&["rsync", "-a", "--delete", &source, "{staging}/"]),
        );
        write(d, "nginx/nginx.conf", &nginx_conf(n, d));
        write(d, "trigger.toml", &trigger_toml(n, d));
        write(
            &s,
            &format!("pull-site{n}.toml"),
            &format!(
                "[pull]\nkind = \"outbox\"\n\
                 transport = [\"rsync\", \"-a\", \"--delete\", \"rsync://{}/outbox/\", \"{{staging}}/\"]\n\
                 staging = \"staging/site{n}\"\ninto = \"inbox/site{n}\"\n\
                 allowed_signers = \"outbox_signers\"\nidentity = \"site{n}@outbox\"\ntimeout = \"20s\"\n",
                addr(n)
            ),
        );
    }
    write(&s, "outbox_signers", &outbox_signers);
}

/// A site's pull.toml (kind pub) with `transport`.
fn pull_toml(transport: &[&str]) -> String {
    let t: Vec<String> = transport.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "[pull]\nkind = \"pub\"\ntransport = [{}]\nstaging = \"staging\"\ninto = \"pub\"\n\
         allowed_signers = \"allowed_signers\"\nidentity = \"publish@sign\"\ntimeout = \"20s\"\n",
        t.join(", ")
    )
}

fn trigger_toml(n: u8, d: &Path) -> String {
    let nd = p(&d.join("nginx"));
    let nginx = format!("nginx -p {nd} -e {nd}/error.log -c {nd}/nginx.conf");
    format!(
        "pub = \"pub\"\nstate = \"state\"\ndefinitions = [\"{share}\"]\nallowed_signers = \"allowed_signers\"\n\
         signer = \"publish@sign\"\npostflight_wait = \"10s\"\n\
         [outbox]\ndir = \"outbox\"\nkeys = \"keys\"\nsigning_key = \"outbox_ed25519\"\n\
         [[csr]]\nline = \"{l}\"\nnames = [\"{nm}\"]\nkey = \"ecdsa-p256\"\nmax_key_age = \"1h\"\n\
         [[service]]\nname = \"www\"\ndefinition = \"nginx\"\nline = \"{l}\"\nnames = [\"{nm}\"]\n\
         pidfile = \"{nd}/nginx.pid\"\n\
         discover = {{ parser = \"nginx\", command = \"nginx -T -q -p {nd} -e {nd}/error.log -c {nd}/nginx.conf\" }}\n\
         preflight = \"nginx -t -q -p {nd} -e {nd}/error.log -c {nd}/nginx.conf\"\n\
         reload = \"if kill -0 $(cat {{pidfile}}) 2>/dev/null; then kill -HUP $(cat {{pidfile}}); else {nginx}; fi\"\n\
         postflight = [{{ connect = \"{a}:443\", sni = \"{nm}\" }}]\n",
        share = p(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy-triggers")),
        l = line(n),
        nm = name(n),
        a = addr(n)
    )
}

/// nginx as a daemon (the trigger reloads it by its pid file), serving the
/// site's line from its own pub/ and its own key.
fn nginx_conf(n: u8, d: &Path) -> String {
    let nd = p(&d.join("nginx"));
    format!(
        "user root;\nworker_processes 1;\npid {nd}/nginx.pid;\nerror_log {nd}/error.log;\nevents {{}}\n\
         http {{\n  access_log off;\n  server {{ listen {a}:443 ssl; server_name {nm}; \
         ssl_certificate {d}/pub/{l}/fullchain.pem; ssl_certificate_key {d}/keys/{l}/key.pem; return 204; }}\n}}\n",
        a = addr(n),
        nm = name(n),
        d = p(d),
        l = line(n)
    )
}

/// Whether site `n` serves a leaf that its own secondary's TLSA set
/// matches; the leaf (DER) when it does.
fn dane_ok(n: u8) -> Option<Vec<u8>> {
    let leaf = served_leaf(n, &name(n))?;
    let spki = spki_sha256(&leaf)?;
    tlsa_at_owner(n, &owner(n))?.contains(&spki).then_some(leaf)
}

/// SHA-256 of a private key file's SubjectPublicKeyInfo, by openssl.
fn key_spki(key: &Path) -> Vec<u8> {
    let hex = sh(
        key.parent().expect("dir"),
        &format!(
            "openssl pkey -in {} -pubout -outform DER | sha256sum",
            p(key)
        ),
    );
    let hex = hex.split_whitespace().next().expect("digest");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Roll site `r`'s key over while its pull + trigger loop runs: age its
/// key past max_key_age, then drive the site's `csr` and the signing
/// site's outbox pull, issuer and publisher (each acting or having
/// nothing to do) until its nginx serves a certificate for the next key.
/// Returns how long that took.
fn rollover(c: &Cluster, r: &Service) -> Duration {
    let key = r.dir.join(format!("keys/{}/key.pem", line(r.n)));
    std::fs::File::open(&key)
        .and_then(|f| f.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200)))
        .expect("age the key");
    csr(c, r).expect(0);
    let next = key_spki(&r.dir.join(format!("keys/{}/next/key.pem", line(r.n))));
    let t0 = Instant::now();
    let served_next = || {
        c.net
            .enter(r.n, || served_leaf(r.n, &name(r.n)))
            .and_then(|leaf| spki_sha256(&leaf))
            .is_some_and(|s| s == next)
    };
    while !served_next() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "site {} does not serve its next key: {}\n{}",
            r.n,
            c.issue(&["status"]).stdout,
            c.logs()
        );
        step("pull outbox", pull_outbox(c, r));
        step("issue", c.issue(&["run"]));
        step("publish", c.publish());
        std::thread::sleep(Duration::from_millis(200));
    }
    let took = t0.elapsed();
    // The site made the next key current; its outbox says so, and the
    // issuer has nothing left to do for the line.
    assert_eq!(key_spki(&key), next, "the next key is the current one");
    csr(c, r).expect(0);
    step("pull outbox", pull_outbox(c, r));
    c.issue(&["run"]).expect(2);
    took
}

/// Every file under `dir` holding a private key (none if it is missing).
fn private_keys_under(dir: &Path) -> Vec<String> {
    if !dir.is_dir() {
        return Vec::new();
    }
    let out = sh(
        dir,
        "grep -rlI -e 'PRIVATE KEY' -e 'OPENSSH PRIVATE' . 2>/dev/null; true",
    );
    out.lines()
        .map(|l| format!("{}/{l}", dir.display()))
        .collect()
}

#[test]
fn publication_is_pulled_verified_and_deployed_on_every_site() {
    let c = Cluster::new(crate::cluster::site_count(), TTL);
    configure(&c);
    let rsyncd: Vec<NsProc> = c
        .sites
        .iter()
        .map(|s| {
            c.net.spawn(
                s.n,
                "rsync",
                &[
                    "--daemon",
                    "--no-detach",
                    &format!("--config={}", p(&s.dir.join("rsyncd.conf"))),
                ],
                &s.dir.join("rsyncd.out"),
            )
        })
        .collect();
    // Keys stay where they are used: each site makes its key and CSR, the
    // signing site pulls the outboxes and issues from the CSRs.
    for s in &c.sites {
        csr(&c, s).expect(0);
    }
    for s in &c.sites {
        pull_outbox(&c, s).expect(0);
    }
    c.issue(&["run"]).expect(0);
    c.publish().expect(0);
    // The first delivery by hand, step by step: each site pulls (its pub/
    // switched: 0) and its trigger deploys (0), its nginx started by it.
    let mut nginx = Vec::new();
    for s in &c.sites {
        pull(&c, s).expect(0);
        nginx.push(NginxPid(s.dir.join("nginx/nginx.pid")));
        trigger(&c, s).expect(0);
    }
    for s in &c.sites {
        assert!(
            within(Duration::from_secs(60), || c
                .net
                .enter(s.n, || dane_ok(s.n))
                .is_some()),
            "site {} does not serve a DANE-valid certificate:\n{}",
            s.n,
            c.logs()
        );
    }
    // Nothing secret crossed: no private key in any transferred tree.
    let mut leaked = private_keys_under(&c.sign_path("inbox"));
    leaked.extend(private_keys_under(&c.sign_path("staging")));
    leaked.extend(private_keys_under(&c.sign_path("pub")));
    for s in &c.sites {
        leaked.extend(private_keys_under(&s.dir.join("outbox")));
        leaked.extend(private_keys_under(&s.dir.join("staging")));
        leaked.extend(private_keys_under(&s.dir.join("pub")));
    }
    assert!(
        leaked.is_empty(),
        "private keys in transferred trees: {leaked:?}"
    );

    // From here on each site's cron: pull, then the trigger.
    let loops: Vec<Loop> = c.sites.iter().map(|s| Loop::start(&c, s)).collect();
    // The renewal, with the last site cut off.
    let all: Vec<u8> = c.sites.iter().map(|s| s.n).collect();
    let before: Vec<Vec<u8>> = all
        .iter()
        .map(|&n| c.net.enter(n, || served_leaf(n, &name(n))).expect("served"))
        .collect();
    // With one site (the benchmark's smallest run) none is cut off.
    let cut = (all.len() > 1).then(|| *all.last().expect("sites"));
    let link = |n: u8| {
        let site = c.sites.iter().find(|s| s.n == n).expect("site");
        std::fs::read_link(site.dir.join(format!("pub/{}", line(n)))).expect("pub/<line>")
    };
    let links_before: Vec<PathBuf> = all.iter().map(|&n| link(n)).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let samplers: Vec<_> = all
        .iter()
        .map(|&n| {
            let (stop, path) = (stop.clone(), c.net.path(n));
            std::thread::spawn(move || {
                certdrop_testkit::netns::join(&path);
                let mut bad = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if dane_ok(n).is_none() {
                        bad.push(format!("site {n}"));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                bad
            })
        })
        .collect();
    let t0 = Instant::now();
    let lines: Vec<String> = all.iter().map(|&n| line(n)).collect();
    let mut args = vec!["issue", "--force"];
    args.extend(lines.iter().map(String::as_str));
    c.issue(&args).expect(0);
    let issued = t0.elapsed();
    // The last site is cut off once the certificates exist: during their
    // delivery. (Cut off during the dns-01 challenges, it would hold the
    // issuer back until its propagation timeout, by design: a challenge
    // is answered only when every authoritative server serves the value;
    // the issuer's own tests show that refusal.)
    if let Some(cut) = cut {
        c.net.link_down(cut);
    }
    let publishing = Instant::now();
    c.publish().expect(0);
    let published = Instant::now();
    let linked: Vec<(usize, u8)> = all
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, n)| Some(n) != cut)
        .collect();
    // Per linked site, when its pub/ switched (its pull) and when its
    // nginx served the new leaf (its trigger: checks, reload, post-flight).
    let mut pulled: Vec<Option<Duration>> = vec![None; linked.len()];
    let mut served: Vec<Option<Duration>> = vec![None; linked.len()];
    let delivered = within(Duration::from_secs(60), || {
        for (k, &(i, n)) in linked.iter().enumerate() {
            if pulled[k].is_none() && link(n) != links_before[i] {
                pulled[k] = Some(published.elapsed());
            }
            if served[k].is_none()
                && c.net
                    .enter(n, || served_leaf(n, &name(n)))
                    .is_some_and(|leaf| leaf != before[i])
            {
                served[k] = Some(published.elapsed());
            }
        }
        served.iter().all(Option::is_some)
    });
    assert!(
        delivered,
        "not every linked nginx serves its new certificate:\n{}",
        c.logs()
    );
    let last = |v: &[Option<Duration>]| v.iter().flatten().max().copied().unwrap_or_default();
    let (pull_done, converged) = (last(&pulled), last(&served));
    // The cut-off site still serves its last good certificate, then
    // catches up by itself once its link returns.
    let catchup = cut.map(|cut| {
        let i_cut = all.len() - 1;
        assert_eq!(
            c.net.enter(cut, || served_leaf(cut, &name(cut))),
            Some(before[i_cut].clone())
        );
        c.net.link_up(cut);
        timed(Duration::from_secs(60), || {
            c.net
                .enter(cut, || served_leaf(cut, &name(cut)))
                .is_some_and(|leaf| leaf != before[i_cut])
        })
        .unwrap_or_else(|| panic!("site {cut} did not catch up:\n{}", c.logs()))
    });
    // A site's key is rolled over, its key never leaving it: the next
    // key's CSR travels first, its TLSA record reaches every secondary
    // and is served 2 x TTL before the certificate for it exists; the
    // samplers keep checking every site meanwhile.
    let rolled = rollover(&c, &c.sites[0]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bad: Vec<String> = samplers
        .into_iter()
        .flat_map(|t| t.join().expect("sampler"))
        .collect();
    eprintln!(
        "site {} rolled over to a new key in {rolled:?}",
        c.sites[0].n
    );
    println!(
        "cluster-pub-stages sites={} issue_ms={} publish_ms={} pull_ms={} trigger_ms={} delivered_ms={} catchup_ms={}",
        all.len(),
        issued.as_millis(),
        (published - publishing).as_millis(),
        pull_done.as_millis(),
        converged.saturating_sub(pull_done).as_millis(),
        converged.as_millis(),
        catchup.map_or("-".to_owned(), |d| d.as_millis().to_string())
    );
    assert!(bad.is_empty(), "DANE failed: {bad:?}");
    assert!(
        converged <= Duration::from_secs(u64::from(TTL)),
        "the last linked site served its new certificate {converged:?} after the publication, more than one TTL ({TTL} s)"
    );
    drop(loops);
    if c.sites.len() < 2 {
        return;
    }

    // A tampered transfer is refused at that site only; its pub/ stays.
    let (victim, other) = (&c.sites[0], &c.sites[1]);
    let link = |s: &Service| {
        std::fs::read_link(s.dir.join(format!("pub/{}", line(s.n)))).expect("pub/<line>")
    };
    let good = link(victim);
    write(
        &victim.dir,
        "tamper.sh",
        "rsync -a --delete \"$1\" \"$2\" && for f in \"$2\"/.v/*/fullchain.pem; do printf x >> \"$f\"; done\n",
    );
    let script = p(&victim.dir.join("tamper.sh"));
    write(
        &victim.dir,
        "pull.toml",
        &pull_toml(&[
            "sh",
            &script,
            &format!("rsync://{}/pub/", addr(SIGN)),
            "{staging}/",
        ]),
    );
    // The older tree the other site will be offered: pub/ as it is now.
    let old_tree = c.dir.path("old-pub");
    sh(
        c.dir.root(),
        &format!("cp -a {}/. {}", p(&c.sign_path("pub")), p(&old_tree)),
    );
    c.issue(&["issue", "--force", &line(victim.n), &line(other.n)])
        .expect(0);
    c.publish().expect(0);
    pull(&c, victim).expect(65);
    assert_eq!(link(victim), good, "a tampered tree was switched in");
    pull(&c, other).expect(0);
    // A site offered an older tree keeps the newer one it holds.
    let held = link(other);
    write(
        &other.dir,
        "pull.toml",
        &pull_toml(&[
            "rsync",
            "-a",
            "--delete",
            &format!("{}/", p(&old_tree)),
            "{staging}/",
        ]),
    );
    pull(&c, other).expect(65);
    assert_eq!(link(other), held, "an older tree was switched in");
    drop(nginx);
    drop(rsyncd);
}
