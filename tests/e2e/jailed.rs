//! The demo site (demo/site/) as a test fixture: five jails rendered for
//! Linux by certdrop-jails — each stage as its own user in its own mount
//! namespace — a git repository holding the configuration, Pebble asking
//! the nsd of jail dns, nginx in jail www. `cron()` is one cron pass.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdrop_testkit::pebble::{Pebble, PebbleOpts};
pub use certdrop_testkit::sh;
use certdrop_testkit::{bin, free_port, Ran, Run, Tree};

pub const ZONE: &str = "example.test";
pub const WWW: &str = "www.example.test";
pub const UID_ACME: u32 = 8101;
pub const UID_DNS: u32 = 8102;
pub const UID_PUBLISH: u32 = 8103;
pub const UID_WWW: u32 = 8105;

/// Knobs of one site.
pub struct Opts {
    /// Extra keys of the issuer's line `www` (TOML).
    pub line: String,
    /// TTL of the zone's records.
    pub ttl: u32,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            line: String::new(),
            ttl: 60,
        }
    }
}

/// A running jailed site.
pub struct Site {
    pub dir: Tree,
    pub pebble: Pebble,
    pub nsd: SocketAddr,
    pub https: SocketAddr,
    vars: Vec<(String, String)>,
}

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

impl Site {
    /// Set up the repository, render and install the site, start Pebble;
    /// nothing runs yet (the first cron pass deploys the configuration).
    pub fn new(opts: Opts) -> Site {
        let dir = Tree::with_prefix("certdrop-jailed.");
        let d = dir.root().to_path_buf();
        let d = d.as_path();
        // The jails' users must reach data/ and etc/ below it.
        sh(d, "chmod 755 .");
        let nsd_port = free_port();
        let https_port = free_port();
        let pebble = Pebble::start(PebbleOpts {
            dns_server: Some(SocketAddr::from(([127, 0, 0, 1], nsd_port))),
            ..PebbleOpts::default()
        });
        let bindir = bin("certdrop-jails")
            .parent()
            .expect("bindir")
            .to_path_buf();
        // Zone signing keys: the dns jail's own secrets.
        std::fs::create_dir_all(d.join("data/state/dns/keys")).expect("keys dir");
        let keygen = |ksk: bool| {
            sh(
                &d.join("data/state/dns/keys"),
                &format!(
                    "ldns-keygen -a ECDSAP256SHA256 {} {ZONE}",
                    if ksk { "-k" } else { "" }
                ),
            )
            .trim()
            .to_string()
        };
        let ksk = keygen(true);
        let zsk = keygen(false);
        let vars: Vec<(String, String)> = [
            ("@D@", d.display().to_string()),
            ("@BIN@", bindir.display().to_string()),
            ("@ACME@", pebble.directory_url.clone()),
            ("@NSD_PORT@", nsd_port.to_string()),
            ("@HTTPS_PORT@", https_port.to_string()),
            ("@HTTP_PORT@", pebble.http_port.to_string()),
            (
                "@SHARE@",
                top().join("deploy-triggers").display().to_string(),
            ),
            ("@KSK@", ksk),
            ("@ZSK@", zsk),
            ("@TTL@", opts.ttl.to_string()),
            ("@LINE@", opts.line.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let site = Site {
            dir,
            pebble,
            nsd: SocketAddr::from(([127, 0, 0, 1], nsd_port)),
            https: SocketAddr::from(([127, 0, 0, 1], https_port)),
            vars,
        };
        // The configuration repository: demo/site/ filled in, Pebble's CA,
        // the publisher's allowed signer, one host key.
        let repo = d.join("repo");
        std::fs::create_dir_all(repo.join("hostkeys").join(WWW)).expect("repo");
        for e in std::fs::read_dir(top().join("demo/site")).expect("demo/site") {
            let e = e.expect("entry");
            let text = std::fs::read_to_string(e.path()).expect("read");
            std::fs::write(repo.join(e.file_name()), site.fill(&text)).expect("write");
        }
        std::fs::copy(&site.pebble.ca_bundle, repo.join("acme-ca.pem")).expect("CA");
        std::fs::create_dir_all(d.join("data/state/publish")).expect("publish state");
        sh(
            d,
            "ssh-keygen -q -t ed25519 -N '' -C publish@certdrop -f data/state/publish/manifest_ed25519 && \
             printf 'publish@certdrop namespaces=\"certdrop-manifest@certdrop\" %s\\n' \
               \"$(cut -d' ' -f1,2 data/state/publish/manifest_ed25519.pub)\" > repo/allowed_signers && \
             ssh-keygen -q -t ed25519 -N '' -f hostkey && mv hostkey.pub repo/hostkeys/www.example.test/ssh_host_ed25519_key.pub",
        );
        sh(
            &repo,
            "git init -q -b main . && git add -A && git -c user.name=ops -c user.email=ops@example.test commit -qm 'the demo site'",
        );
        // Render from the repository's site.toml and install the
        // directories; the first `update` (in the cron pass) deploys it.
        site.jails_render(&repo.join("site.toml")).expect(0);
        sh(d, "site/linux/install");
        // Secrets created above belong to their jails.
        sh(
            d,
            &format!(
                "chown -R {UID_DNS}:{UID_DNS} data/state/dns && chown -R {UID_PUBLISH}:{UID_PUBLISH} data/state/publish"
            ),
        );
        site
    }

    /// Replace the placeholders of demo/site/.
    pub fn fill(&self, text: &str) -> String {
        let mut t = text.to_string();
        for (k, v) in &self.vars {
            t = t.replace(k, v);
        }
        t
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path(rel)
    }

    /// `certdrop-jails render SITE -o site/`.
    pub fn jails_render(&self, site: &Path) -> Ran {
        Command::new(bin("certdrop-jails"))
            .args(["render", site.to_str().expect("utf8"), "-o"])
            .arg(self.path("site"))
            .ran()
    }

    /// One cron pass: `site/linux/cron`.
    pub fn cron(&self) -> Ran {
        Command::new(self.path("site/linux/cron")).ran()
    }

    /// `script` run by /bin/sh in jail `name`.
    pub fn jail(&self, name: &str, script: &str) -> Ran {
        Command::new(self.path(&format!("site/linux/jail-{name}")))
            .args(["/bin/sh", "-c", script])
            .ran()
    }

    /// A forced renewal of line www, run in jail acme as an operator would.
    pub fn force_renewal(&self) -> Ran {
        self.jail(
            "acme",
            &self.fill("certdrop-issue -c @D@/etc/current/issue.toml issue www --force"),
        )
    }

    /// Write `rel` in the repository and commit it.
    pub fn commit(&self, rel: &str, text: &str, message: &str) {
        let repo = self.path("repo");
        std::fs::write(repo.join(rel), self.fill(text)).expect("write");
        sh(
            &repo,
            &format!(
                "git add -A && git -c user.name=ops -c user.email=ops@example.test commit -qm '{message}'"
            ),
        );
    }

    /// The repository's copy of `rel`.
    pub fn repo_file(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path("repo").join(rel)).expect("repo file")
    }

    /// TLSA records nsd serves for the www service.
    pub fn tlsa(&self) -> Vec<Vec<u8>> {
        let owner = format!("_{}._tcp.{WWW}", self.https.port());
        certdrop_dns::query_tlsa(self.nsd, &owner, Duration::from_secs(2))
            .map(|v| v.into_iter().map(|t| t.data).collect())
            .unwrap_or_default()
    }

    /// The leaf certificate nginx serves (DER), if it answers.
    pub fn served(&self) -> Option<Vec<u8>> {
        let target = certdrop_probe::Target {
            connect: self.https,
            server_name: WWW,
            protocol: certdrop_probe::Protocol::Tls,
        };
        let limits = certdrop_probe::Limits {
            timeout: Duration::from_secs(2),
            ..Default::default()
        };
        certdrop_probe::fetch_chain(&target, &limits)
            .ok()
            .and_then(|c| c.certs.into_iter().next())
    }

    /// What the daemons logged, for failure messages.
    pub fn logs(&self) -> String {
        sh(
            self.dir.root(),
            "for f in data/run/*.log data/state/dns/nsd.log data/state/www/nginx/error.log; do \
             [ -f \"$f\" ] && { echo \"== $f\"; tail -n 20 \"$f\"; }; done; true",
        )
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = Command::new(self.path("site/linux/stop")).output();
        let pid = self.path("data/state/www/nginx/nginx.pid");
        if let Ok(p) = std::fs::read_to_string(pid) {
            let _ = Command::new("kill").arg(p.trim()).output();
        }
    }
}

/// SHA-256 of the SubjectPublicKeyInfo of a DER certificate (TLSA 3 1 1).
pub fn spki_sha256(der: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let (_, cert) = x509_parser::parse_x509_certificate(der).expect("certificate");
    sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw).to_vec()
}
