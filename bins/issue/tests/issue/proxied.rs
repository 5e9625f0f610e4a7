//! The test site behind the fault proxy, shared by the fault tests
//! (faults.rs) and the fault matrix (matrix.rs): one http-01 line `www`
//! whose client talks to Pebble through a [`FaultProxy`], with the CA's
//! counters of orders and certificates at hand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::site::Site;
use certdrop_testkit::pebble::FaultProxy;
use certdrop_testkit::{Ran, Run};

/// Put a fault proxy in front of `site`'s Pebble and write the site's
/// configuration with the proxy's directory URL (nothing else differs)
/// as `proxied.toml`.
pub fn behind_proxy(site: &Site) -> (FaultProxy, PathBuf) {
    let proxy = FaultProxy::start(&site.pebble);
    let text = site
        .config_text()
        .replace(&site.pebble.directory_url, &proxy.directory_url);
    let config = site.path("proxied.toml");
    std::fs::write(&config, text).expect("write config");
    (proxy, config)
}

/// A site with one http-01 line `www` whose client talks to Pebble
/// through a fault proxy (only the directory URL differs).
pub struct Proxied {
    // The proxy first: it closes its connections before Pebble stops.
    pub proxy: FaultProxy,
    pub site: Site,
    pub config: PathBuf,
}

impl Proxied {
    /// Start Pebble, its proxy and the site; write `proxied.toml`.
    pub fn new() -> Proxied {
        let mut site = Site::start();
        site.http_line("www", "");
        let (proxy, config) = behind_proxy(&site);
        Proxied {
            proxy,
            site,
            config,
        }
    }

    /// The binary with `args` after `-c proxied.toml`.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_for(&self.config, args)
    }

    /// The binary with `args` after `-c config` (a configuration of this
    /// site's, e.g. with another line).
    pub fn command_for(&self, config: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certdrop-issue"));
        cmd.arg("-c")
            .arg(config)
            .args(args)
            .env_remove("SSL_CERT_FILE")
            .env_remove("CERTDROP_ISSUE_CONFIG");
        cmd
    }

    /// `run`, which must end within `limit` (a hang fails the test).
    pub fn run_within(&self, limit: Duration) -> Ran {
        self.command(&["run"]).ended_within(limit)
    }

    /// `run`, bounded by the longest a faulted run should take here.
    pub fn run(&self) -> Ran {
        self.run_within(Duration::from_secs(120))
    }

    /// Orders created, certificates issued and certificates downloaded at
    /// the CA so far.
    pub fn counts(&self) -> (u32, u32, usize) {
        let p = &self.proxy;
        (
            p.orders_created(),
            p.certificates_issued(),
            p.certificates_downloaded(),
        )
    }

    /// One order and one certificate at the CA, downloaded and stored.
    pub fn issued_once(&self) {
        assert_eq!(
            self.counts(),
            (1, 1, 1),
            "orders, certificates issued, downloaded (relay errors: {:?})",
            self.proxy.errors()
        );
        assert!(self.site.path("certs/www/fullchain.pem").is_file());
        self.site.openssl_verify("www");
    }

    /// The order in progress `state/www.json` keeps, if any.
    pub fn kept_order(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.site.path("state/www.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).expect("state is JSON");
        v.get("order").map(|o| o.to_string())
    }
}
