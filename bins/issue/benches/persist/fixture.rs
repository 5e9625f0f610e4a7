//! The benchmark's site: acme2certifier in its network namespace offering
//! dns-persist-01, nsd on port 53 there (the server acme2certifier
//! resolves from), `certdrop-zone watch` building the zone from
//! `[[zone.persist]]` and dnsextra/, and an issue.toml whose lines all
//! name www.example.test — the test suite's persist_zone set-up
//! (bins/issue/tests/a2c/persist_zone.rs) with the release binaries.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use certdrop_testkit::a2c::{A2c, A2cOpts};
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::pebble::query_txt;
use certdrop_testkit::tree::write;
use certdrop_testkit::{within, Proc, Run, Tree};

pub const ZONE: &str = "example.test";
pub const NAME: &str = "www.example.test";
/// The issuer-domain-name acme2certifier names (`caaIdentities`).
pub const ISSUER: &str = "ca.example";
/// The standing record's owner.
pub const OWNER: &str = "_validation-persist.www.example.test.";
/// The dns-01 record's owner.
pub const ACME_OWNER: &str = "_acme-challenge.www.example.test.";

/// One certificate line of issue.toml (all for [`NAME`]).
pub struct Line {
    pub name: &'static str,
    /// `persist = false`: dns-01 through dnsextra/ although the record
    /// is served.
    pub persist: bool,
}

/// A running site; everything stops (watch, nsd, acme2certifier and its
/// namespace) and the tree goes on drop, in field order.
pub struct Fixture {
    _watch: Proc,
    _nsd: Nsd,
    pub dir: Tree,
    pub a2c: A2c,
    pub issue: PathBuf,
}

impl Fixture {
    /// Start everything, make the account and a first certificate for
    /// every line, and return once nsd serves the record naming the
    /// account.
    pub fn start(jit: bool, issue: &Path, zone: &Path, lines: &[Line]) -> Fixture {
        let a2c = A2c::start(A2cOpts {
            challtestsrv: false,
            persist_issuers: Some(vec![ISSUER.to_owned()]),
            persist_jit: jit,
            ..A2cOpts::default()
        });
        let dir = Tree::with_prefix("certdrop-persist-bench.");
        dir.mkdirs(&["dnsextra", "certs", "phonehome", "zones", "build"]);
        let d = dir.root();
        std::fs::copy(&a2c.ca_bundle, d.join("acme-ca.pem")).expect("copy CA");
        write(
            d,
            "soa",
            &format!("$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 900 1209600 1 )\n"),
        );
        write(d, "primary", "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\n");
        let nsd = a2c.nsd(&d.join("nsd"), &d.join("zones"), &[ZONE]);
        write(
            d,
            "zone.toml",
            &format!(
                "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\n\
                 phonehome = \"phonehome\"\nreload = {}\n[[zone]]\nname = \"{ZONE}\"\nsoa = \"soa\"\n\
                 primary = \"primary\"\nsigner = \"none\"\nttl = 60\n\
                 [[zone.persist]]\nissuer = [\"{ISSUER}\"]\naccount = \"default\"\nnames = [\"www\"]\n",
                nsd.reload_command()
            ),
        );
        let watch = Command::new(zone)
            .arg("-c")
            .arg(d.join("zone.toml"))
            .args(["-v", "watch", "--log", "stderr"])
            .logged(&d.join("watch.log"));
        let served = a2c.enter(|| nsd.wait_serial_change(ZONE, None));
        assert!(
            served.is_some(),
            "zone not served: {}",
            read(&d.join("watch.log"))
        );
        write(d, "issue.toml", &config(&a2c, lines));
        let fixture = Fixture {
            _watch: watch,
            _nsd: nsd,
            dir,
            a2c,
            issue: issue.to_path_buf(),
        };
        // The account, its published file, a first certificate per line
        // (over whichever challenge the zone was ready for).
        let ran = fixture.run(&["run"]);
        assert_eq!(ran.code, 0, "first run: {}", ran.stderr);
        let account: serde_json::Value =
            serde_json::from_slice(&fixture.dir.read("certs/.accounts/default.json"))
                .expect("account file");
        let uri = account["account"].as_str().expect("account URI");
        let want = format!("{ISSUER}; accounturi={uri}");
        let dns = fixture.a2c.dns_addr;
        let ok = fixture.a2c.enter(|| {
            within(Duration::from_secs(30), || {
                query_txt(dns, OWNER).is_ok_and(|got| got == [want.clone()])
            })
        });
        assert!(ok, "record not served: {}", fixture.watch_log());
        fixture
    }

    /// Run the issuer with `args` after `-c issue.toml`, in the namespace.
    pub fn run(&self, args: &[&str]) -> certdrop_testkit::Ran {
        let config = self.dir.path("issue.toml");
        self.a2c.enter(|| {
            Command::new(&self.issue)
                .arg("-c")
                .arg(&config)
                .args(args)
                .env_remove("SSL_CERT_FILE")
                .env_remove("CERTDROP_ISSUE_CONFIG")
                .ran()
        })
    }

    /// Wait until the zone is back at rest after a dns-01 renewal: no
    /// fragment left, nsd serving no dns-01 TXT record.
    pub fn settle(&self) -> bool {
        let dns = self.a2c.dns_addr;
        let dnsextra = self.dir.path("dnsextra");
        self.a2c.enter(|| {
            within(Duration::from_secs(30), || {
                let empty = std::fs::read_dir(&dnsextra).is_ok_and(|mut d| d.next().is_none());
                empty && query_txt(dns, ACME_OWNER).is_ok_and(|v| v.is_empty())
            })
        })
    }

    pub fn watch_log(&self) -> String {
        read(&self.dir.path("watch.log"))
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// issue.toml: the production defaults of `[dns]` (interval, first
/// query) but a timeout long enough for a busy machine.
fn config(a2c: &A2c, lines: &[Line]) -> String {
    let mut text = format!(
        "directory = \"{}\"\ncontact = [\"mailto:ops@example.test\"]\nagree_terms = true\n\
         account = \"state/account.json\"\nca_bundle = \"acme-ca.pem\"\n\
         [store]\ncerts = \"certs\"\nkeys = \"keys\"\nstate = \"state\"\narchive = \"archive\"\nkeep = 3\n\n\
         [drop]\ndnsextra = \"dnsextra\"\n\n[dns]\nservers = [\"{}\"]\ntimeout = \"20s\"\n\n\
         [renew]\nvalidation_timeout = \"60s\"\n\n",
        a2c.directory_url, a2c.dns_addr
    );
    for l in lines {
        text.push_str(&format!(
            "[[line]]\nname = \"{}\"\ndomains = [\"{NAME}\"]\npersist = {}\n\n",
            l.name, l.persist
        ));
    }
    text
}
