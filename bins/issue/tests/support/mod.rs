//! Integration-test harness: a throwaway Pebble ACME CA with pebble-challtestsrv
//! as its DNS, a relay from a dns-01 drop directory into that DNS, and a tiny
//! webroot HTTP server for http-01. Loopback only; everything stops on Drop.
//!
//! Use from a test file with `mod support;` and `use support::*;`:
//!
//! ```ignore
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
//! challtestsrv facts this relies on: `/set-txt` APPENDS a value, `/clear-txt`
//! drops all values of a host; names are exact-match and case-sensitive and
//! must be FQDNs with the trailing dot; CNAMEs (`/set-cname`) are followed for
//! TXT/A/AAAA; answers carry no AA bit and an SOA for `challtestsrv.invalid.`.
#![allow(dead_code, unused_imports)]

mod dns;
mod relay;
mod webroot;

pub use dns::query_txt;
pub use relay::{parse_fragment, Relay};
pub use webroot::{serve_webroot, WebServer};

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Path of the Pebble binary (Debian package `pebble`).
pub const PEBBLE_BIN: &str = "/usr/bin/pebble";
/// Path of the challenge test server binary (Debian package `pebble`).
pub const CHALLTESTSRV_BIN: &str = "/usr/bin/pebble-challtestsrv";

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- ports

static NEXT_PORT: AtomicU32 = AtomicU32::new(0);

/// A loopback port that is free now (TCP and UDP on 127.0.0.1) and that no other
/// call in this process will return again (process-wide counter + bind check).
pub fn free_port() -> u16 {
    // 10000..30000 stays below Linux's ephemeral range (32768..), so outgoing
    // connections never sit on our ports; the pid-derived start keeps several
    // test binaries running at once (nextest) apart.
    const LO: u32 = 10_000;
    const SPAN: u32 = 20_000;
    let base = std::process::id().wrapping_mul(7919) % SPAN;
    loop {
        let n = NEXT_PORT.fetch_add(1, Ordering::SeqCst);
        assert!(n < SPAN, "free_port: ran out of loopback ports");
        let port = (LO + (base + n) % SPAN) as u16;
        if port_is_free(port) {
            return port;
        }
    }
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((LOCALHOST, port)).is_ok() && UdpSocket::bind((LOCALHOST, port)).is_ok()
}

/// An ACME directory URL on a loopback port where nothing listens ("the CA is down").
pub fn ca_down_url() -> String {
    format!("https://127.0.0.1:{}/dir", free_port())
}

// ---------------------------------------------------------------- options

/// Knobs for [`Pebble::start`]; `PebbleOpts::default()` is a deterministic, fast Pebble.
#[derive(Clone, Debug)]
pub struct PebbleOpts {
    /// PEBBLE_WFE_NONCEREJECT: percent of valid nonces rejected with badNonce (Pebble's default 5; here 0).
    pub nonce_reject: u8,
    /// PEBBLE_AUTHZREUSE: percent of valid authorizations reused (Pebble's default 50; here 0).
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
}

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
            r#"{{"pebble": {{"listenAddress": "127.0.0.1:{acme_port}", "managementListenAddress": "127.0.0.1:{mgmt_port}", "certificate": {cert}, "privateKey": {key}, "httpPort": {http_port}, "tlsPort": {tls_port}, "ocspResponderURL": "", "externalAccountBindingRequired": false{validity}}}}}"#,
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
            .args(["-dnsserver", &dns_addr.to_string()])
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

        let pebble = guard.0.pop().unwrap();
        let challtestsrv = guard.0.pop().unwrap();
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

    /// POST a JSON body to challtestsrv's management API (e.g. `"/set-txt"`); Err unless 200.
    pub fn challtestsrv_post(&self, path: &str, json: &str) -> io::Result<()> {
        mgmt_post(self.cts_addr, path, json)
    }

    /// Add a TXT value for `host` (FQDN, trailing dot added if missing); challtestsrv APPENDS.
    pub fn set_txt(&self, host: &str, value: &str) {
        let body = format!(
            r#"{{"host":{},"value":{}}}"#,
            json_str(&fqdn(host)),
            json_str(value)
        );
        self.challtestsrv_post("/set-txt", &body)
            .expect("challtestsrv /set-txt");
    }

    /// Remove all TXT values of `host`.
    pub fn clear_txt(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-txt", &body)
            .expect("challtestsrv /clear-txt");
    }

    /// Make `host` a CNAME to `target` (challtestsrv follows it for TXT/A/AAAA queries, so Pebble's dns-01 does too).
    pub fn set_cname(&self, host: &str, target: &str) {
        let body = format!(
            r#"{{"host":{},"target":{}}}"#,
            json_str(&fqdn(host)),
            json_str(&fqdn(target))
        );
        self.challtestsrv_post("/set-cname", &body)
            .expect("challtestsrv /set-cname");
    }

    /// Remove the CNAME of `host`.
    pub fn clear_cname(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-cname", &body)
            .expect("challtestsrv /clear-cname");
    }

    /// Answer A (for an IPv4 `addr`) or AAAA (IPv6) queries for `host` with `addr` instead of the default.
    pub fn add_a(&self, host: &str, addr: IpAddr) {
        let path = if addr.is_ipv4() {
            "/add-a"
        } else {
            "/add-aaaa"
        };
        let body = format!(
            r#"{{"host":{},"addresses":[{}]}}"#,
            json_str(&fqdn(host)),
            json_str(&addr.to_string())
        );
        self.challtestsrv_post(path, &body)
            .expect("challtestsrv /add-a");
    }

    /// Remove the A and AAAA overrides of `host` (back to the defaults).
    pub fn clear_a(&self, host: &str) {
        let body = format!(r#"{{"host":{}}}"#, json_str(&fqdn(host)));
        self.challtestsrv_post("/clear-a", &body)
            .expect("challtestsrv /clear-a");
        self.challtestsrv_post("/clear-aaaa", &body)
            .expect("challtestsrv /clear-aaaa");
    }

    /// TXT values challtestsrv serves for `name` right now (CNAMEs followed).
    pub fn txt(&self, name: &str) -> Vec<String> {
        query_txt(self.dns_addr, &fqdn(name)).expect("DNS query to challtestsrv")
    }

    /// Poll challtestsrv until TXT `name` includes `value`; false after `timeout`.
    pub fn wait_txt(&self, name: &str, value: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if query_txt(self.dns_addr, &fqdn(name)).is_ok_and(|v| v.iter().any(|x| x == value)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
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

// ---------------------------------------------------------------- certificates

struct TlsCerts {
    ca_pem: String,
    ca_der: rustls_pki_types::CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn make_tls_certs() -> Result<TlsCerts, rcgen::Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "certdrop test harness CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    // CertificateParams::new turns "127.0.0.1" into an IP SAN.
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = params.signed_by(&key, &issuer)?;
    Ok(TlsCerts {
        ca_pem: ca_cert.pem(),
        ca_der: ca_cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

// ---------------------------------------------------------------- tiny HTTP(S) clients

/// HTTPS GET of `url` (`https://IP:PORT/path`, loopback only) trusting only the PEM certificates in `ca_pem_file`: (status, body).
pub fn https_get(url: &str, ca_pem_file: &Path) -> io::Result<(u16, Vec<u8>)> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an https URL"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "https_get needs IP:PORT"))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_pem_file).map_err(io::Error::other)? {
        roots
            .add(c.map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
    }
    https_get_with(&roots, addr, path)
}

fn https_get_with(
    roots: &rustls::RootCertStore,
    addr: SocketAddr,
    path: &str,
) -> io::Result<(u16, Vec<u8>)> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let name = rustls_pki_types::ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).map_err(io::Error::other)?;
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    sock.set_read_timeout(Some(Duration::from_secs(10)))?;
    sock.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tls.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    match tls.read_to_end(&mut buf) {
        Ok(_) => {}
        // A peer that closes without close_notify: keep what we got.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !buf.is_empty() => {}
        Err(e) => return Err(e),
    }
    parse_http_response(&buf)
}

fn parse_http_response(buf: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad HTTP response");
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| bad())?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, buf[end + 4..].to_vec()))
}

/// POST `json` to challtestsrv's plain-HTTP management API; Ok only on 200.
fn mgmt_post(addr: SocketAddr, path: &str, json: &str) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let req = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let (status, body) = parse_http_response(&buf)?;
    if status == 200 {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "challtestsrv POST {path}: {status} {}",
            String::from_utf8_lossy(&body)
        )))
    }
}

/// `name` with a trailing dot.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// A JSON string literal for `s`.
fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}
