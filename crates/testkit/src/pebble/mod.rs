//! The Pebble fixture (feature `pebble`): a throwaway Pebble ACME CA with
//! pebble-challtestsrv as its DNS, a relay from a dns-01 drop directory into
//! that DNS, and a tiny webroot HTTP server for http-01. Loopback only;
//! everything stops on Drop.
//!
//! Use from a test with `use certdrop_testkit::pebble::*;`:
//!
//! ```text
//! let pebble = Pebble::start(PebbleOpts::default());   // ~0.4-0.6 s
//! let drop_dir = tempfile::tempdir().unwrap();
//! let _relay = pebble.relay_dnsextra(drop_dir.path());  // dns-01 fragments -> challtestsrv
//! let webroot = tempfile::tempdir().unwrap();
//! let _web = pebble.serve_webroot(webroot.path());      // http-01 on pebble.http_port
//! // client config: directory = pebble.directory_url, CA bundle = pebble.ca_bundle,
//! // authoritative DNS to poll = pebble.dns_addr; on failure: eprintln!("{}", pebble.logs())
//! // (also printed automatically when a Pebble is dropped during a panic).
//! ```
//!
//! To inject faults (errors, resets, stalls, lost or rewritten answers)
//! between a client and Pebble, put a [`FaultProxy`] in front of it (see
//! [`faults`]).
//!
//! challtestsrv facts this relies on: `/set-txt` APPENDS a value, `/clear-txt`
//! drops all values of a host; names are exact-match and case-sensitive and
//! must be FQDNs with the trailing dot; CNAMEs (`/set-cname`) are followed for
//! TXT/A/AAAA; answers carry no AA bit and an SOA for `challtestsrv.invalid.`.
mod ca;
mod challtestsrv;
mod dns;
pub mod faults;
mod https;
mod relay;
mod webroot;

pub use crate::ports::free_port;
pub use dns::query_txt;
pub use faults::{
    Answer, Endpoint, Fault, FaultProxy, Problem, RandomFault, RandomFaults, RetryAfter, Subproblem,
};
pub use https::https_get;
pub use relay::{parse_fragment, Relay};
pub use webroot::{serve_webroot, serve_webroot_on, WebServer};

use std::fs::{self, File};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ca::make_tls_certs;
use challtestsrv::{json_str, mgmt_post};
use https::https_get_with;

/// Path of the Pebble binary (Debian package `pebble`).
pub const PEBBLE_BIN: &str = "/usr/bin/pebble";
/// Path of the challenge test server binary (Debian package `pebble`).
pub const CHALLTESTSRV_BIN: &str = "/usr/bin/pebble-challtestsrv";

/// An ACME directory URL on a loopback port where nothing listens ("the CA is down").
pub fn ca_down_url() -> String {
    format!("https://127.0.0.1:{}/dir", free_port())
}

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- options

/// Knobs for [`Pebble::start`]; `PebbleOpts::default()` is a deterministic, fast Pebble.
#[derive(Clone, Debug)]
pub struct PebbleOpts {
    /// PEBBLE_WFE_NONCEREJECT: percent of valid nonces rejected with badNonce (Pebble's default 5; here 0).
    pub nonce_reject: u8,
    /// PEBBLE_AUTHZREUSE: percent of valid authorizations reused (Pebble's default 50; here 0).
    /// 0 still reuses 1 % of the time (Pebble makes a new one when
    /// `rand.Intn(100) > percent`): a test that counts authorization or
    /// challenge requests orders with an account or a name that has none.
    pub authz_reuse: u8,
    /// PEBBLE_VA_NOSLEEP=1: no random 0-15 s sleep before each validation (here true).
    pub va_nosleep: bool,
    /// PEBBLE_VA_ALWAYS_VALID=1: every challenge validates without being checked (here false).
    pub always_valid: bool,
    /// Pebble's `-strict` flag (here false).
    pub strict: bool,
    /// `certificateValidityPeriod` in seconds (Pebble's default: 5 years).
    pub validity_secs: Option<u64>,
    /// challtestsrv answers AAAA queries with ::1 (its default) instead of nothing (here false,
    /// so Pebble's http-01 only ever dials 127.0.0.1, where [`serve_webroot`] listens).
    pub ipv6: bool,
    /// Further environment variables for the pebble process (e.g. PEBBLE_CHAIN_LENGTH).
    pub extra_env: Vec<(String, String)>,
    /// The DNS server Pebble asks instead of challtestsrv (e.g. an nsd
    /// serving zones built by certdrop-zone).
    pub dns_server: Option<SocketAddr>,
    /// External Account Binding required, with these `(kid, base64url HMAC
    /// key)` pairs as `externalAccountMACKeys` (e.g. those of Pebble's
    /// example [`EAB_EXAMPLE_CONFIG`]); `None`: no EAB (here).
    pub eab_keys: Option<Vec<(String, String)>>,
}

/// Pebble's example configuration that turns on External Account Binding
/// (RFC 8555 §7.3.4), shipped by Debian's package.
pub const EAB_EXAMPLE_CONFIG: &str =
    "/usr/share/doc/pebble/examples/pebble-config-external-account-bindings.json";

impl Default for PebbleOpts {
    fn default() -> Self {
        PebbleOpts {
            nonce_reject: 0,
            authz_reuse: 0,
            va_nosleep: true,
            always_valid: false,
            strict: false,
            ipv6: false,
            validity_secs: None,
            extra_env: Vec::new(),
            dns_server: None,
            eab_keys: None,
        }
    }
}

// ---------------------------------------------------------------- Pebble

/// A running Pebble + pebble-challtestsrv pair on loopback ports; both are killed and reaped on Drop.
pub struct Pebble {
    /// ACME directory URL, `https://127.0.0.1:PORT/dir`.
    pub directory_url: String,
    /// PEM of the throwaway CA that signed Pebble's HTTPS certificate: what a client must trust for the ACME endpoint.
    pub ca_bundle: PathBuf,
    /// challtestsrv's DNS server (UDP and TCP): Pebble's resolver and the "authoritative server" to poll.
    pub dns_addr: SocketAddr,
    /// Port Pebble's VA connects to for http-01 (on 127.0.0.1); run [`serve_webroot`] there.
    pub http_port: u16,
    /// Port Pebble's VA connects to for tls-alpn-01 (nothing listens there).
    pub tls_port: u16,
    /// Pebble's management API base, `https://127.0.0.1:PORT` (same TLS cert as the ACME endpoint).
    pub management_url: String,
    /// challtestsrv's management API base, `http://127.0.0.1:PORT` (plain HTTP, POST JSON).
    pub challtestsrv_url: String,
    /// Temporary directory holding config, certs and logs (removed on Drop).
    pub dir: PathBuf,
    /// Pebble's stdout+stderr.
    pub pebble_log: PathBuf,
    /// challtestsrv's stdout+stderr.
    pub challtestsrv_log: PathBuf,
    /// How long start() took until both servers answered.
    pub startup: Duration,
    acme_addr: SocketAddr,
    mgmt_addr: SocketAddr,
    cts_addr: SocketAddr,
    roots: Arc<rustls::RootCertStore>,
    pebble: Child,
    challtestsrv: Child,
    // Last: dropped after the processes are dead.
    _tmp: tempfile::TempDir,
}

impl Pebble {
    /// Start Pebble and challtestsrv with `opts`; panics (with the logs) if they don't come up.
    pub fn start(opts: PebbleOpts) -> Pebble {
        let mut last_err = String::new();
        // A port picked by free_port() can in principle be taken by another
        // process before our child binds it: retry with fresh ports.
        for _attempt in 0..3 {
            match Self::try_start(&opts) {
                Ok(p) => return p,
                Err(e) => last_err = e,
            }
        }
        panic!("Pebble::start failed:\n{last_err}");
    }

    /// One start attempt; on failure everything is cleaned up and the error carries the logs.
    pub fn try_start(opts: &PebbleOpts) -> Result<Pebble, String> {
        let t0 = Instant::now();
        let tmp = tempfile::Builder::new()
            .prefix("pebble-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        let dir = tmp.path().to_path_buf();

        // Throwaway CA and Pebble's HTTPS certificate.
        let tls = make_tls_certs().map_err(|e| format!("rcgen: {e}"))?;
        let ca_bundle = dir.join("ca.pem");
        let cert_path = dir.join("cert.pem");
        let key_path = dir.join("key.pem");
        let w =
            |p: &Path, s: &str| fs::write(p, s).map_err(|e| format!("write {}: {e}", p.display()));
        w(&ca_bundle, &tls.ca_pem)?;
        w(&cert_path, &tls.cert_pem)?;
        w(&key_path, &tls.key_pem)?;

        let acme_port = free_port();
        let mgmt_port = free_port();
        let http_port = free_port();
        let tls_port = free_port();
        let dns_port = free_port();
        let cts_port = free_port();

        let config = format!(
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{acme_port}", "managementListenAddress": "127.0.0.1:{mgmt_port}", "certificate": {cert}, "privateKey": {key}, "httpPort": {http_port}, "tlsPort": {tls_port}, "ocspResponderURL": ""{eab}{validity}}}}}"#,
            eab = match &opts.eab_keys {
                None => r#", "externalAccountBindingRequired": false"#.to_owned(),
                Some(keys) => format!(
                    r#", "externalAccountBindingRequired": true, "externalAccountMACKeys": {{{}}}"#,
                    keys.iter()
                        .map(|(kid, key)| format!("{}: {}", json_str(kid), json_str(key)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            validity = opts
                .validity_secs
                .map(|v| format!(r#", "certificateValidityPeriod": {v}"#))
                .unwrap_or_default(),
            cert = json_str(&cert_path.to_string_lossy()),
            key = json_str(&key_path.to_string_lossy()),
        );
        let config_path = dir.join("pebble-config.json");
        w(&config_path, &config)?;

        let pebble_log = dir.join("pebble.log");
        let challtestsrv_log = dir.join("challtestsrv.log");
        let dns_addr = SocketAddr::new(LOCALHOST, dns_port);

        let mut cts_cmd = Command::new(CHALLTESTSRV_BIN);
        cts_cmd
            .args(["-dns01", &dns_addr.to_string()])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{cts_port}")])
            .args(["-defaultIPv4", "127.0.0.1"])
            .args(["-defaultIPv6", if opts.ipv6 { "::1" } else { "" }])
            .current_dir(&dir);
        let challtestsrv = spawn_logged(cts_cmd, &challtestsrv_log)?;
        // From here on the children are owned by a guard until the Pebble exists.
        let mut guard = ChildGuard(vec![challtestsrv]);

        let mut pb_cmd = Command::new(PEBBLE_BIN);
        pb_cmd
            .arg("-config")
            .arg(&config_path)
            .args([
                "-dnsserver",
                &opts.dns_server.unwrap_or(dns_addr).to_string(),
            ])
            .current_dir(&dir)
            .env("PEBBLE_WFE_NONCEREJECT", opts.nonce_reject.to_string())
            .env("PEBBLE_AUTHZREUSE", opts.authz_reuse.to_string());
        if opts.strict {
            pb_cmd.arg("-strict");
        }
        if opts.va_nosleep {
            pb_cmd.env("PEBBLE_VA_NOSLEEP", "1");
        }
        if opts.always_valid {
            pb_cmd.env("PEBBLE_VA_ALWAYS_VALID", "1");
        }
        for (k, v) in &opts.extra_env {
            pb_cmd.env(k, v);
        }
        guard.0.push(spawn_logged(pb_cmd, &pebble_log)?);

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(tls.ca_der)
            .map_err(|e| format!("root store: {e}"))?;
        let roots = Arc::new(roots);
        let acme_addr = SocketAddr::new(LOCALHOST, acme_port);
        let mgmt_addr = SocketAddr::new(LOCALHOST, mgmt_port);
        let cts_addr = SocketAddr::new(LOCALHOST, cts_port);

        // Wait until both answer: challtestsrv's management API (it starts after
        // its DNS listener) and a TXT query, then Pebble's directory.
        let deadline = t0 + READY_TIMEOUT;
        let fail = |what: &str, guard: &mut ChildGuard| -> String {
            guard.kill_all();
            format!(
                "{what}\n{}",
                format_logs(&[("pebble", &pebble_log), ("challtestsrv", &challtestsrv_log)])
            )
        };
        let mut sleep = Duration::from_millis(5);
        loop {
            if let Some(msg) = guard.exited() {
                return Err(fail(&msg, &mut guard));
            }
            let cts_ok = query_txt(dns_addr, "harness-ready.invalid.").is_ok()
                && mgmt_post(
                    cts_addr,
                    "/clear-txt",
                    r#"{"host":"harness-ready.invalid."}"#,
                )
                .is_ok();
            if cts_ok {
                if let Ok((200, body)) = https_get_with(&roots, acme_addr, "/dir") {
                    if String::from_utf8_lossy(&body).contains("newOrder") {
                        break;
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(fail(
                    "timed out waiting for pebble/challtestsrv",
                    &mut guard,
                ));
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(100));
        }

        let pebble = guard.0.pop().expect("pebble was spawned last");
        let challtestsrv = guard.0.pop().expect("challtestsrv was spawned first");
        Ok(Pebble {
            directory_url: format!("https://{acme_addr}/dir"),
            ca_bundle,
            dns_addr,
            http_port,
            tls_port,
            management_url: format!("https://{mgmt_addr}"),
            challtestsrv_url: format!("http://{cts_addr}"),
            dir,
            pebble_log,
            challtestsrv_log,
            startup: t0.elapsed(),
            acme_addr,
            mgmt_addr,
            cts_addr,
            roots,
            pebble,
            challtestsrv,
            _tmp: tmp,
        })
    }

    /// Both processes' logs so far, labelled (print it when a test fails).
    pub fn logs(&self) -> String {
        format_logs(&[
            ("pebble", &self.pebble_log),
            ("challtestsrv", &self.challtestsrv_log),
        ])
    }

    /// HTTPS GET of `path` on the ACME listener, trusting only `ca_bundle`: (status, body).
    pub fn acme_get(&self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        https_get_with(&self.roots, self.acme_addr, path)
    }

    /// HTTPS GET of `path` on Pebble's management API: (status, body).
    pub fn management_get(&self, path: &str) -> io::Result<(u16, Vec<u8>)> {
        https_get_with(&self.roots, self.mgmt_addr, path)
    }

    fn management_pem(&self, path: &str) -> String {
        match self.management_get(path) {
            Ok((200, body)) => String::from_utf8(body).expect("PEM is UTF-8"),
            other => panic!("GET {}{path}: {other:?}", self.management_url),
        }
    }

    /// PEM of the issuing root of this Pebble run (`/roots/0`; regenerated at every start).
    pub fn root_pem(&self) -> String {
        self.management_pem("/roots/0")
    }

    /// PEM of the issuing intermediate of this Pebble run (`/intermediates/0`).
    pub fn intermediate_pem(&self) -> String {
        self.management_pem("/intermediates/0")
    }

    /// Root followed by intermediate, PEM (e.g. for `openssl verify -CAfile`).
    pub fn roots_pem(&self) -> String {
        let mut s = self.root_pem();
        if !s.ends_with('\n') {
            s.push('\n');
        }
        s.push_str(&self.intermediate_pem());
        s
    }

    /// Start relaying the dns-01 drop directory `dir` into challtestsrv (see [`Relay`]).
    pub fn relay_dnsextra(&self, dir: &Path) -> Relay {
        Relay::start(dir, self.cts_addr)
    }

    /// Start the http-01 webroot server for `dir` on [`Pebble::http_port`].
    pub fn serve_webroot(&self, dir: &Path) -> WebServer {
        serve_webroot(dir, self.http_port)
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- Pebble harness logs ({}) ----\n{}",
                self.dir.display(),
                self.logs()
            );
        }
        for c in [&mut self.pebble, &mut self.challtestsrv] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Kills and reaps children unless disarmed (popped) - for the start-up path.
struct ChildGuard(Vec<Child>);

impl ChildGuard {
    fn exited(&mut self) -> Option<String> {
        for c in &mut self.0 {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(format!("process {} exited early: {st}", c.id()));
            }
        }
        None
    }
    fn kill_all(&mut self) {
        for mut c in self.0.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn spawn_logged(mut cmd: Command, log: &Path) -> Result<Child, String> {
    let out = File::create(log).map_err(|e| format!("create {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))
}

fn format_logs(logs: &[(&str, &Path)]) -> String {
    let mut s = String::new();
    for (name, path) in logs {
        let text = fs::read_to_string(path).unwrap_or_else(|e| format!("<{e}>"));
        // Keep it readable: the last 300 lines.
        let lines: Vec<&str> = text.lines().collect();
        let skip = lines.len().saturating_sub(300);
        s.push_str(&format!("==== {name} ({}) ====\n", path.display()));
        if skip > 0 {
            s.push_str(&format!("[... {skip} lines omitted ...]\n"));
        }
        for l in &lines[skip..] {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}
