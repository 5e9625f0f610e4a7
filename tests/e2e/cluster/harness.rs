//! The cluster of issue 15 on one machine, in network namespaces
//! (certdrop-testkit's netns): a signing site 192.0.2.1 (Pebble, which asks
//! the signing site's nsd for dns-01; certdrop-issue; certdrop-zone watch
//! signing with ldns; the primary nsd sending NOTIFY and serving AXFR
//! under TSIG; certdrop-publish; an rsync daemon with pub/ as a read-only
//! module) and N service sites 192.0.2.11.. (an nsd secondary that
//! requests the zone under the same key, and an nginx on :443). Every
//! server is a real one; the nsd.conf files are written here, in the shape
//! certdrop-jails' cluster rendering is to produce.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use certdrop_testkit::netns::{addr, Net, NsProc};
use certdrop_testkit::pebble::{Pebble, PebbleOpts};
use certdrop_testkit::tree::write;
use certdrop_testkit::{bin, sh, within, Ran, Run, Tree};

pub const ZONE: &str = "example.test";
pub const WWW: &str = "www.example.test";
/// The TLSA owner of the www service on every site.
pub const OWNER: &str = "_443._tcp.www.example.test";
/// The signing site's host number.
pub const SIGN: u8 = 1;
/// How long a server may take to start, or a command to finish.
const READY: Duration = Duration::from_secs(20);

/// Service site `i`'s host number (0-based): 192.0.2.11, .12, ...
pub fn site_n(i: usize) -> u8 {
    11 + u8::try_from(i).expect("fewer than 200 sites")
}

/// A server's DNS address on site `n`.
pub fn dns(n: u8) -> SocketAddr {
    SocketAddr::new(addr(n), 53)
}

/// A running cluster. Fields drop in order: the processes, then the
/// namespaces, then the tree.
pub struct Cluster {
    pub _sign: Signing,
    pub sites: Vec<Service>,
    pub net: Net,
    pub dir: Tree,
}

/// The signing site's servers, kept running while the cluster lives.
pub struct Signing {
    pub _pebble: Pebble,
    pub _nsd: NsProc,
    pub _watch: NsProc,
    pub _rsync: NsProc,
}

/// A service site's servers.
pub struct Service {
    pub n: u8,
    pub dir: PathBuf,
    pub _nsd: NsProc,
    pub nginx: Option<NsProc>,
}

impl Cluster {
    /// Namespaces, the signing site with its first certificate issued and
    /// published, `sites` secondaries serving the signed zone. nginx is not
    /// started yet ([`Cluster::start_nginx`]). `ttl`: the zone's TTL.
    pub fn new(sites: usize, ttl: u32) -> Cluster {
        let dir = Tree::with_prefix("certdrop-cluster.");
        let d = dir.root().to_path_buf();
        let ns: Vec<u8> = std::iter::once(SIGN)
            .chain((0..sites).map(site_n))
            .collect();
        let net = Net::new(&ns);
        let svc: Vec<u8> = (0..sites).map(site_n).collect();
        signing_tree(&d, &svc, ttl);
        let s = d.join("sign");
        // The signing site's servers.
        let nsd = start_nsd(&net, SIGN, &s.join("nsd"), &primary_zone_conf(&svc));
        let watch = net.spawn(
            SIGN,
            bin("certdrop-zone"),
            // watch.log is its stderr: not syslog, the daemon's default.
            &[
                "-c",
                &p(&s.join("zone.toml")),
                "-v",
                "watch",
                "--log",
                "stderr",
            ],
            &s.join("watch.log"),
        );
        let rsync = net.spawn(
            SIGN,
            "rsync",
            &[
                "--daemon",
                "--no-detach",
                &format!("--config={}", p(&s.join("rsyncd.conf"))),
            ],
            &s.join("rsyncd.out"),
        );
        let pebble = net.enter(SIGN, || {
            Pebble::start(PebbleOpts {
                dns_server: Some(dns(SIGN)),
                ..PebbleOpts::default()
            })
        });
        std::fs::copy(&pebble.ca_bundle, s.join("acme-ca.pem")).expect("CA");
        write(&s, "issue.toml", &issue_toml(&pebble.directory_url, &svc));
        let mut c = Cluster {
            _sign: Signing {
                _pebble: pebble,
                _nsd: nsd,
                _watch: watch,
                _rsync: rsync,
            },
            sites: Vec::new(),
            net,
            dir,
        };
        assert!(
            within(READY, || c.serial(SIGN).is_some()),
            "the primary does not serve the zone:\n{}",
            c.logs()
        );
        // The secondaries, each transferring the zone at start.
        for &n in &svc {
            let sd = d.join(format!("site{n}"));
            let nsd = start_nsd(&c.net, n, &sd.join("nsd"), &secondary_zone_conf());
            c.sites.push(Service {
                n,
                dir: sd,
                _nsd: nsd,
                nginx: None,
            });
        }
        let first = c.serial(SIGN);
        assert!(
            within(READY, || svc.iter().all(|&n| c.serial(n) == first)),
            "the secondaries did not transfer the zone:\n{}",
            c.logs()
        );
        c
    }

    /// `certdrop-issue -c issue.toml ARGS` on the signing site.
    pub fn issue(&self, args: &[&str]) -> Ran {
        let conf = self.sign_path("issue.toml");
        self.net
            .command(SIGN, bin("certdrop-issue"))
            .args(["-c", &p(&conf)])
            .args(args)
            .env_remove("SSL_CERT_FILE")
            .ran_within(Duration::from_secs(120))
    }

    /// `certdrop-publish -c publish.toml run` on the signing site.
    pub fn publish(&self) -> Ran {
        let conf = self.sign_path("publish.toml");
        self.net
            .command(SIGN, bin("certdrop-publish"))
            .args(["-c", &p(&conf), "run"])
            .ran_within(READY)
    }

    /// Start every site's nginx with the line's current certificate, read
    /// where the signing site keeps it. Delivering the next one is the
    /// pull's (cluster_pull.rs), so this nginx keeps serving what it was
    /// started with.
    pub fn start_nginx(&mut self) {
        let cert = self.sign_path("certs/www/fullchain.pem");
        let key = self.sign_path("keys/www/key.pem");
        for i in 0..self.sites.len() {
            let n = self.sites[i].n;
            let nd = self.sites[i].dir.join("nginx");
            std::fs::create_dir_all(&nd).expect("nginx dir");
            write(&nd, "nginx.conf", &nginx_conf(n, &nd, &cert, &key));
            let proc = self.net.spawn(
                n,
                "nginx",
                &[
                    "-p",
                    &p(&nd),
                    "-e",
                    &p(&nd.join("error.log")),
                    "-c",
                    &p(&nd.join("nginx.conf")),
                ],
                &nd.join("nginx.out"),
            );
            self.sites[i].nginx = Some(proc);
        }
        let sites: Vec<u8> = self.sites.iter().map(|s| s.n).collect();
        for n in sites {
            assert!(
                within(READY, || self.net.enter(n, || served_spki(n).is_some())),
                "nginx on site {n} does not serve:\n{}",
                self.logs()
            );
        }
    }

    /// The SOA serial site `n`'s nsd serves (asked inside the site).
    pub fn serial(&self, n: u8) -> Option<u32> {
        self.net.enter(n, || serial_at(n))
    }

    /// The TLSA 3 1 1 digests site `n`'s nsd serves for the www service.
    pub fn tlsa(&self, n: u8) -> Option<Vec<Vec<u8>>> {
        self.net.enter(n, || tlsa_at(n))
    }

    /// A path in the signing site's tree.
    pub fn sign_path(&self, rel: &str) -> PathBuf {
        self.dir.path("sign").join(rel)
    }

    /// SHA-256 of the SPKI of the PEM public key at `rel` on the signing site.
    pub fn spki_of(&self, rel: &str) -> Vec<u8> {
        let pem = std::fs::read(self.sign_path(rel)).expect("pubkey.pem");
        let der = certdrop_core::certinfo::pem_blocks(&pem, "PUBLIC KEY")
            .expect("pem")
            .remove(0);
        certdrop_core::certinfo::spki_sha256(&der).to_vec()
    }

    /// The last lines of every log, for failure messages.
    pub fn logs(&self) -> String {
        sh(
            self.dir.root(),
            "for f in sign/*.log sign/nsd/nsd.log site*/nsd/nsd.log site*/nginx/error.log site*/loop.log; do \
             [ -s \"$f\" ] && { echo \"== $f\"; tail -n 8 \"$f\"; }; done; true",
        )
    }
}

/// Wait until `f` holds, polling; when it did: how long it took.
pub fn timed(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    within(limit, &mut f).then(|| t0.elapsed())
}

/// The serial served at 192.0.2.`n`:53 (from inside a namespace that
/// reaches it).
pub fn serial_at(n: u8) -> Option<u32> {
    certdrop_dns::query_soa_serial(dns(n), ZONE, Duration::from_secs(1))
        .ok()
        .flatten()
}

/// The TLSA 3 1 1 digests served at 192.0.2.`n`:53, sorted; None when it
/// does not answer.
pub fn tlsa_at(n: u8) -> Option<Vec<Vec<u8>>> {
    tlsa_at_owner(n, OWNER)
}

/// As [`tlsa_at`], for the TLSA owner `owner`.
pub fn tlsa_at_owner(n: u8, owner: &str) -> Option<Vec<Vec<u8>>> {
    let recs = certdrop_dns::query_tlsa(dns(n), owner, Duration::from_secs(1)).ok()?;
    let mut set: Vec<Vec<u8>> = recs
        .into_iter()
        .filter(|t| (t.usage, t.selector, t.matching) == (3, 1, 1))
        .map(|t| t.data)
        .collect();
    set.sort();
    Some(set)
}

/// SHA-256 of the SPKI of the leaf nginx serves at 192.0.2.`n`:443.
pub fn served_spki(n: u8) -> Option<Vec<u8>> {
    spki_sha256(&served_leaf(n, WWW)?)
}

/// The leaf (DER) served at 192.0.2.`n`:443 for `sni`.
pub fn served_leaf(n: u8, sni: &str) -> Option<Vec<u8>> {
    let target = certdrop_probe::Target {
        connect: SocketAddr::new(addr(n), 443),
        server_name: sni,
        protocol: certdrop_probe::Protocol::Tls,
    };
    let limits = certdrop_probe::Limits {
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    certdrop_probe::fetch_chain(&target, &limits)
        .ok()?
        .certs
        .into_iter()
        .next()
}

/// SHA-256 of the SubjectPublicKeyInfo of a DER certificate (TLSA 3 1 1).
pub fn spki_sha256(der: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw).to_vec())
}

fn p(path: &Path) -> String {
    path.to_str().expect("utf8 path").to_owned()
}

/// The signing site's tree: zone sources and signing keys, the TSIG key,
/// zone.toml, publish.toml with its signing key and allowed_signers,
/// rsyncd.conf.
fn signing_tree(d: &Path, sites: &[u8], ttl: u32) {
    let s = d.join("sign");
    for sub in [
        "dnsextra", "certs", "keys", "zones", "build", "pub", "zonekeys", "tsig", "nsd",
    ] {
        std::fs::create_dir_all(s.join(sub)).expect("mkdir");
    }
    // SOA refresh 2 s, retry 1 s: a secondary that missed a NOTIFY asks
    // again by itself within seconds (the cut-off site's catch-up).
    write(
        &s,
        "soa",
        &format!("$TTL {ttl}\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 2 1 1209600 {ttl} )\n"),
    );
    let mut primary = format!("@ NS ns1\nns1 A {}\n", addr(SIGN));
    for &n in sites {
        primary.push_str(&format!(
            "@ NS ns{n}\nns{n} A {}\nwww A {}\n",
            addr(n),
            addr(n)
        ));
    }
    write(&s, "primary", &primary);
    write(&s, "tlsa.map", &format!("{OWNER}  www  3 1 1\n"));
    let keygen = |ksk: bool| {
        let name = sh(
            &s.join("zonekeys"),
            &format!(
                "ldns-keygen -a ECDSAP256SHA256 {} {ZONE}",
                if ksk { "-k" } else { "" }
            ),
        );
        p(&s.join("zonekeys").join(name.trim()))
    };
    let (ksk, zsk) = (keygen(true), keygen(false));
    // The TSIG key in the spec's key-clause format, 0600.
    let secret = sh(&s, "openssl rand -base64 32");
    write(
        &s,
        "tsig/xfr.key",
        &format!(
            "key:\n\tname: \"xfr\"\n\talgorithm: hmac-sha256\n\tsecret: \"{}\"\n",
            secret.trim()
        ),
    );
    sh(&s, "chmod 600 tsig/xfr.key");
    write(
        &s,
        "zone.toml",
        &format!(
            "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\n\
             reload = [\"nsd-control\", \"-c\", \"{}\", \"reload\", \"{{zone}}\"]\nserver = \"{}\"\n\
             [[zone]]\nname = \"{ZONE}\"\nsoa = \"soa\"\nprimary = \"primary\"\ntlsa_map = \"tlsa.map\"\n\
             keys = [\"{ksk}\", \"{zsk}\"]\nttl = {ttl}\n",
            p(&s.join("nsd/nsd.conf")),
            dns(SIGN)
        ),
    );
    sh(
        &s,
        "ssh-keygen -q -t ed25519 -N '' -C publish@sign -f manifest_ed25519 && \
         printf 'publish@sign namespaces=\"certdrop-manifest@certdrop\" %s\\n' \
           \"$(cut -d' ' -f1,2 manifest_ed25519.pub)\" > allowed_signers",
    );
    write(
        &s,
        "publish.toml",
        "certs = \"certs\"\npub = \"pub\"\nsigning_key = \"manifest_ed25519\"\n\
         [[line]]\nname = \"www\"\nnames = [\"www.example.test\"]\n",
    );
    // pub/ as a read-only module; the daemon runs as root here, so it is
    // told not to chroot or switch users (what a jail gives in production).
    write(
        &s,
        "rsyncd.conf",
        &format!(
            "pid file = {0}/rsyncd.pid\nlog file = {0}/rsyncd.log\naddress = {1}\nport = 873\n\
             use chroot = no\nuid = root\ngid = root\n\
             [pub]\npath = {0}/pub\nread only = yes\nlist = yes\n",
            p(&s),
            addr(SIGN)
        ),
    );
}

/// issue.toml of the signing site: Pebble, dns-01 through dnsextra/, the
/// propagation check asking the primary and every secondary, and a line
/// whose key is rolled over once it is a second old (the renewal the
/// test watches: it changes the TLSA set).
fn issue_toml(directory: &str, sites: &[u8]) -> String {
    let servers: Vec<String> = std::iter::once(SIGN)
        .chain(sites.iter().copied())
        .map(|n| format!("\"{}\"", dns(n)))
        .collect();
    format!(
        "directory = \"{directory}\"\nagree_terms = true\naccount = \"state/account.json\"\nca_bundle = \"acme-ca.pem\"\n\
         [store]\ncerts = \"certs\"\nkeys = \"keys\"\narchive = \"archive\"\nstate = \"state\"\n\
         [drop]\ndnsextra = \"dnsextra\"\n[dns]\nservers = [{}]\ntimeout = \"30s\"\ninterval = \"1s\"\n\
         [renew]\nvalidation_timeout = \"60s\"\n\
         [[line]]\nname = \"www\"\ndomains = [\"{WWW}\"]\nchallenge = \"dns-01\"\ntlsa = [\"{OWNER}\"]\n\
         max_key_age = \"1s\"\nrollover_wait = \"1s\"\n",
        servers.join(", ")
    )
}

/// The primary's zone clause: NOTIFY to and AXFR for every secondary,
/// under the TSIG key.
fn primary_zone_conf(sites: &[u8]) -> String {
    let mut z = format!("zone:\n  name: {ZONE}\n  zonefile: \"{ZONE}.zone\"\n");
    for &n in sites {
        z.push_str(&format!(
            "  notify: {} xfr\n  provide-xfr: {} xfr\n",
            addr(n),
            addr(n)
        ));
    }
    z
}

/// A secondary's zone clause: NOTIFY accepted from the primary, AXFR
/// requested from it, under the key; refresh and retry capped so that a
/// site that was cut off asks again within seconds.
fn secondary_zone_conf() -> String {
    format!(
        "zone:\n  name: {ZONE}\n  zonefile: \"{ZONE}.zone\"\n  allow-notify: {0} xfr\n  request-xfr: AXFR {0} xfr\n  \
         max-refresh-time: 2\n  min-refresh-time: 1\n  max-retry-time: 1\n  min-retry-time: 1\n",
        addr(SIGN)
    )
}

/// nsd in site `n` on 192.0.2.n:53, its files in `dir`, the zone clause
/// `zone`, the cluster's TSIG key included; ready when nsd-control answers.
fn start_nsd(net: &Net, n: u8, dir: &Path, zone: &str) -> NsProc {
    std::fs::create_dir_all(dir.join("zones")).expect("nsd dir");
    let d = p(dir);
    let key = p(&dir.join("../../sign/tsig/xfr.key"));
    // The signing site's nsd reads the zones certdrop-zone installs.
    let zonesdir = if n == SIGN {
        format!("{d}/../zones")
    } else {
        format!("{d}/zones")
    };
    // nsd's default throttles a secondary's reloads to one a second
    // (xfrd-reload-timeout: 1); the benchmark also measures without it.
    let throttle = std::env::var("CERTDROP_CLUSTER_XFRD_RELOAD_TIMEOUT")
        .map(|t| format!("  xfrd-reload-timeout: {t}\n"))
        .unwrap_or_default();
    let conf = format!(
        "server:\n  port: 53\n  ip-address: {}\n  username: \"\"\n  database: \"\"\n  zonesdir: \"{zonesdir}\"\n  \
         pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  xfrdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
         logfile: \"{d}/nsd.log\"\n  verbosity: 2\n  rrl-ratelimit: 0\n{throttle}\
         remote-control:\n  control-enable: yes\n  control-interface: \"{d}/nsd.sock\"\n\
         include: \"{key}\"\n{zone}",
        addr(n)
    );
    write(dir, "nsd.conf", &conf);
    let check = Command::new("nsd-checkconf")
        .arg(dir.join("nsd.conf"))
        .ran();
    assert_eq!(
        check.code, 0,
        "nsd.conf of site {n}: {}{}",
        check.stdout, check.stderr
    );
    let mut proc = net.spawn(
        n,
        "nsd",
        &["-d", "-c", &format!("{d}/nsd.conf")],
        &dir.join("nsd.out"),
    );
    let up = within(READY, || {
        !proc.running()
            || Command::new("nsd-control")
                .args(["-c", &format!("{d}/nsd.conf"), "status"])
                .ran()
                .code
                == 0
    });
    assert!(
        up && proc.running(),
        "nsd on site {n} did not start: {}",
        std::fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
    );
    proc
}

/// nginx on 192.0.2.n:443 serving `cert`/`key` for www, in the foreground.
fn nginx_conf(n: u8, dir: &Path, cert: &Path, key: &Path) -> String {
    format!(
        "daemon off;\nmaster_process off;\npid {0}/nginx.pid;\nerror_log {0}/error.log;\n\
         events {{}}\nhttp {{\n  access_log off;\n  \
         server {{ listen {1}:443 ssl; server_name {WWW}; \
         ssl_certificate {2}; ssl_certificate_key {3}; return 204; }}\n}}\n",
        p(dir),
        addr(n),
        p(cert),
        p(key)
    )
}
