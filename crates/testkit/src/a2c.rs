//! The acme2certifier fixture (features `pebble`, Linux): a second,
//! independent ACME server for the issuer's tests, besides Pebble.
//! acme2certifier 0.46.3 (Python, on PyPI) with its openssl CA handler and
//! a throwaway CA ([`crate::pki`]), served over HTTPS by gunicorn, in a
//! network namespace of its own; stopped on drop, after a panic too.
//!
//! ```text
//! let a2c = A2c::start(A2cOpts::default());          // ~1.5 s
//! let _relay = a2c.relay_dnsextra(&tree.path("dnsextra")); // dns-01 fragments -> its DNS
//! let _web = a2c.serve_webroot(&tree.path("webroot"));     // http-01 on port 80
//! // issue.toml: directory = a2c.directory_url, ca_bundle = a2c.ca_bundle,
//! // [dns] servers = [a2c.dns_addr]; run certdrop-issue with a2c.command(..)
//! // or inside a2c.enter(|| ..): 127.0.0.1 is the namespace's.
//! ```
//!
//! Installation: `scripts/install-a2c` (run by `make deps`, so by `make
//! test`) makes a virtualenv of Debian's /usr/bin/python3 at
//! `/var/cache/certdrop-test/acme2certifier` (or `$CERTDROP_A2C_VENV`)
//! with acme2certifier and gunicorn, every package pinned by
//! `scripts/a2c-requirements.txt`.
//!
//! Facts about acme2certifier 0.46.3 found by reading its code and running it
//! (TESTBED):
//! - Serving: `acme2certifier.share.acme2certifier_wsgi:application` is a
//!   plain WSGI application (its `__main__` is wsgiref on 0.0.0.0:80); any
//!   WSGI server does: here `python -m gunicorn --certfile --keyfile`
//!   (gthread worker). The configuration file is `$ACME_SRV_CONFIGFILE`
//!   (INI, `[Section]` + `key: value`); relative paths in it are resolved
//!   against `$ACME2CERTIFIER_BASE_DIR`. The directory is at `/directory`
//!   (and `/acme/directory`); URLs in it are built from the request's Host
//!   header, so clients see the host and port they asked.
//! - Database: `[DBhandler] handler: wsgi` with `dbfile:` (SQLite, created
//!   at first use). CA: `[CAhandler] handler_module:
//!   acme2certifier.cahandlers.openssl_ca_handler` with `issuing_ca_key`,
//!   `issuing_ca_cert`, `ca_cert_chain_list` (JSON list of PEM files sent
//!   after the issuing CA), `cert_save_path`, `cert_validity_days`;
//!   `issuing_ca_crl` must be set or revocation answers "Unsupported
//!   operation" (the handler writes the CRL there).
//! - DNS: every lookup (dns-01 TXT, dns-persist-01 TXT, the A/AAAA of an
//!   http-01 name) goes to `[DEFAULT] dns_server_list` (JSON list of IP
//!   addresses, dnspython, always port 53; the old `[Challenge]` place is
//!   deprecated). Without it: the system resolver. No port can be given,
//!   hence the namespace: its own loopback, where a DNS server may take
//!   port 53.
//! - http-01: the name is resolved through `dns_server_list`, then the CA
//!   fetches `http://<address>/.well-known/acme-challenge/<token>` with the
//!   Host header of the name: always port 80, no option. Loopback targets
//!   are allowed unless `[Challenge] http01_block_private_ips: True`.
//! - Validation runs when the challenge is POSTed, in a thread the request
//!   waits for (`challenge_validation_timeout`); dns-01 and dns-persist-01
//!   are tried 5 times, `dns_validation_pause_timer` (0.5 s) apart, then
//!   the challenge is invalid. TXT values are read as the *first string*
//!   of each TXT record only (`rrecord.strings[0]`): a value split over
//!   several strings is seen cut.
//! - dns-persist-01 (experimental): `[Challenge] dns_persist_01_support:
//!   True` adds a `dns-persist-01` challenge to every dns identifier's
//!   authorization, beside http-01, dns-01 and tls-alpn-01. The challenge
//!   object has no token; it carries `issuer-domain-names` (the list
//!   `[Directory] caaidentities`, also published as the directory's
//!   `meta.caaIdentities`) and `accounturi` (`https://<host>/acme/acct/<id>`).
//!   The CA reads TXT at `_validation-persist.<name>` (wildcard: of the
//!   base name), each record's first string, strips spaces and `"`, splits
//!   at `;`: the first part is the issuer (compared lower-cased with the
//!   list, no trailing-dot folding), then `key=value` parameters (keys
//!   lower-cased; a part without `=` or a repeated key makes the record
//!   malformed). `accounturi` must equal the account URL exactly;
//!   `persistUntil` must be decimal seconds since the epoch, not in the
//!   past; a wildcard identifier needs `policy=wildcard` (case-insensitive)
//!   and `[Challenge] dns_persist_allow_policy_wildcard: True`. A record
//!   for another issuer is skipped; when no record matches and one was
//!   malformed, the error is `malformed`, else `unauthorized`.
//!   `[Challenge] dns_persist_jit_validation: True` checks the record when
//!   the authorization is fetched: if it matches, the authorization is
//!   `valid` at once, with no challenges listed.
//! - The directory carries `renewalInfo` (ARI), a `newAuthz` URL that
//!   answers 404, and a random key (as Let's Encrypt does). ARI windows
//!   open at 85 % of the lifetime (`[Renewalinfo] renewalthreshold_pctg`);
//!   `renewal_force: True` opens every window now. There is no `replaces`:
//!   a newOrder carrying it is taken and the field left out of the order,
//!   where RFC 9773 says a server that accepts it MUST reflect it
//!   (instant-acme then refuses the order; certdrop-issue orders again
//!   without it, leaving the first order pending).
//! - Accounts: newAccount without `contact` is refused (`malformed`,
//!   "Contact information is missing") unless `[Account]
//!   contact_check_disable: True`. Account URLs are
//!   `https://<host>/acme/acct/<12 characters>`; keyChange and
//!   deactivation work.
//! - Authorizations: every challenge of one authorization has the same
//!   token; a wildcard's authorization offers dns-01 alone.
//! - Revocation: by the account (kid) only. A revocation signed by the
//!   certificate's key (`jwk`, RFC 8555 section 7.6) is taken only when
//!   that key is an account's: otherwise `accountDoesNotExist`. A second
//!   revocation answers `alreadyRevoked`.
//! - gunicorn 27 opens a control socket at `~/.gunicorn/gunicorn.ctl`,
//!   one path for every instance: started with `--no-control-socket`.
//!
//! In the namespace (one site of [`Net`], site 1): acme2certifier on
//! 127.0.0.1:[`PORT`], pebble-challtestsrv as the DNS on 127.0.0.1:53 (off
//! with [`A2cOpts::challtestsrv`] false, for a test that runs nsd there:
//! [`A2c::nsd`]),
//! and the webroot server of [`A2c::serve_webroot`] on 127.0.0.1:80.
//! Whatever runs in [`A2c::enter`] or from [`A2c::command`] sees them.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns::{Net, NsProc};
use crate::pebble::{https_get, query_txt, serve_webroot, Relay, WebServer, CHALLTESTSRV_BIN};
use crate::pki::Pki;
use crate::run::Run;
use crate::wait::within;

/// Where scripts/install-a2c puts the virtualenv unless
/// `$CERTDROP_A2C_VENV` says otherwise.
pub const VENV: &str = "/var/cache/certdrop-test/acme2certifier";
/// acme2certifier's HTTPS port on the namespace's loopback.
pub const PORT: u16 = 14000;
/// pebble-challtestsrv's management port on the namespace's loopback.
const CTS_PORT: u16 = 8055;
/// The namespace's one site.
const SITE: u8 = 1;
const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// gunicorn imports acme2certifier in its worker: a second or two when
/// idle, more on a busy machine.
const READY: Duration = Duration::from_secs(60);

/// The virtualenv acme2certifier runs from; panics, saying how to make
/// it, if it is missing.
pub fn venv() -> PathBuf {
    let dir =
        std::env::var_os("CERTDROP_A2C_VENV").map_or_else(|| PathBuf::from(VENV), PathBuf::from);
    assert!(
        dir.join("certdrop-requirements.txt").exists(),
        "{}: no acme2certifier virtualenv: run `make deps` (scripts/install-a2c)",
        dir.display()
    );
    dir
}

/// Knobs for [`A2c::start`].
#[derive(Clone, Debug)]
pub struct A2cOpts {
    /// Run pebble-challtestsrv as the namespace's DNS on 127.0.0.1:53
    /// (default); false leaves the port to the test (nsd).
    pub challtestsrv: bool,
    /// Offer dns-persist-01 with these issuer-domain-names
    /// (`[Directory] caaidentities`); None: not offered (default).
    pub persist_issuers: Option<Vec<String>>,
    /// `dns_persist_allow_policy_wildcard` (default false).
    pub persist_wildcard: bool,
    /// `dns_persist_jit_validation` (default false).
    pub persist_jit: bool,
    /// `cert_validity_days` of the issued certificates (default 30).
    pub validity_days: u32,
    /// `[Renewalinfo] renewal_force`: every certificate's ARI window is
    /// open now (default false: it opens at 85 % of the lifetime).
    pub renewal_force: bool,
    /// External Account Binding required, with these `(kid, base64url
    /// HMAC key)` pairs (`[EABhandler]`, its CSV file handler); None: no
    /// EAB (default).
    pub eab_keys: Option<Vec<(String, String)>>,
}

impl Default for A2cOpts {
    fn default() -> Self {
        A2cOpts {
            challtestsrv: true,
            persist_issuers: None,
            persist_wildcard: false,
            persist_jit: false,
            validity_days: 30,
            renewal_force: false,
            eab_keys: None,
        }
    }
}

/// A running acme2certifier in a namespace of its own; everything stops
/// and the namespace goes on drop.
pub struct A2c {
    /// The ACME directory, `https://127.0.0.1:PORT/directory` (in the namespace).
    pub directory_url: String,
    /// The root that signed the HTTPS certificate: the issuer's `ca_bundle`.
    pub ca_bundle: PathBuf,
    /// The root of the CA that issues (the openssl handler's).
    pub issuing_root: PathBuf,
    /// The intermediate that signs the issued certificates.
    pub issuing_ca: PathBuf,
    /// The CRL the handler writes at a revocation.
    pub crl: PathBuf,
    /// The DNS server acme2certifier asks: 127.0.0.1:53 in the namespace.
    pub dns_addr: SocketAddr,
    /// The temporary directory: configuration, database, CA, logs.
    pub dir: PathBuf,
    /// gunicorn's and acme2certifier's output.
    pub log: PathBuf,
    /// How long start() took until the directory answered.
    pub startup: Duration,
    server: Option<NsProc>,
    challtestsrv: Option<NsProc>,
    // Dropped after the processes: the namespace, then the directory.
    net: Net,
    _tmp: tempfile::TempDir,
}

impl A2c {
    /// Start acme2certifier (and challtestsrv) with `opts`; panics with the
    /// logs if the directory does not answer.
    pub fn start(opts: A2cOpts) -> A2c {
        let t0 = Instant::now();
        let venv = venv();
        let tmp = tempfile::Builder::new()
            .prefix("a2c-")
            .tempdir()
            .expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let tls = Pki::new(&dir.join("tls"));
        let tls_key = tls.key(&dir.join("tls/server.key"));
        tls.leaf(
            &tls_key,
            &["localhost", "127.0.0.1"],
            None,
            30,
            &dir.join("tls/leaf.pem"),
        );
        let leaf = fs::read(dir.join("tls/leaf.pem")).expect("leaf.pem");
        let int = fs::read(tls.int()).expect("int.pem");
        fs::write(dir.join("tls/server.pem"), [leaf, int].concat()).expect("server.pem");
        let ca = Pki::new(&dir.join("ca"));
        ca.ca();
        fs::create_dir_all(dir.join("issued")).expect("issued dir");
        let conf = dir.join("acme_srv.cfg");
        fs::write(&conf, config(&dir, &opts)).expect("acme_srv.cfg");
        if let Some(keys) = &opts.eab_keys {
            let rows: String = keys.iter().map(|(k, m)| format!("{k},{m}\n")).collect();
            fs::write(dir.join("eab.csv"), format!("eab_kid,eab_mac\n{rows}")).expect("eab.csv");
        }

        let net = Net::new(&[SITE]);
        let log = dir.join("a2c.log");
        let mut a2c = A2c {
            directory_url: format!("https://127.0.0.1:{PORT}/directory"),
            ca_bundle: tls.root(),
            issuing_root: ca.root(),
            issuing_ca: ca.int(),
            crl: dir.join("ca/crl.pem"),
            dns_addr: SocketAddr::new(LOCALHOST, 53),
            dir: dir.clone(),
            log: log.clone(),
            startup: Duration::ZERO,
            server: None,
            challtestsrv: None,
            net,
            _tmp: tmp,
        };
        if opts.challtestsrv {
            a2c.start_challtestsrv();
        }
        let mut server = a2c.command(venv.join("bin/python"));
        server
            .args(["-m", "gunicorn", "--bind", &format!("127.0.0.1:{PORT}")])
            .arg("--certfile")
            .arg(dir.join("tls/server.pem"))
            .arg("--keyfile")
            .arg(&tls_key)
            // One process, threads for the issuer's parallel requests:
            // SQLite and acme2certifier's in-process state stay one.
            .args([
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
            ])
            .args([
                "--timeout",
                "120",
                "--error-logfile",
                "-",
                "--log-level",
                "info",
            ])
            // gunicorn 27's control socket is ~/.gunicorn/gunicorn.ctl,
            // one path for every instance: parallel tests would share it.
            .arg("--no-control-socket")
            .arg("acme2certifier.share.acme2certifier_wsgi:application")
            .current_dir(&dir)
            .env("ACME_SRV_CONFIGFILE", &conf)
            .env("ACME2CERTIFIER_BASE_DIR", &dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("PYTHONPATH")
            .env_remove("SSL_CERT_FILE")
            .env_remove("REQUESTS_CA_BUNDLE");
        a2c.server = Some(spawn_logged(server, &log));

        let ready = within(READY, || {
            let exited = a2c.server.as_mut().is_some_and(|s| !s.running());
            exited || a2c.enter(|| directory_answers(&a2c.directory_url, &a2c.ca_bundle))
        });
        let running = a2c.server.as_mut().is_some_and(NsProc::running);
        if !(ready && running) {
            panic!(
                "acme2certifier did not answer at {} (exited: {}):\n{}",
                a2c.directory_url,
                !running,
                a2c.logs()
            );
        }
        a2c.startup = t0.elapsed();
        a2c
    }

    fn start_challtestsrv(&mut self) {
        let log = self.dir.join("challtestsrv.log");
        let mut cts = self.command(CHALLTESTSRV_BIN);
        cts.args(["-dns01", &self.dns_addr.to_string()])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .args(["-management", &format!("127.0.0.1:{CTS_PORT}")])
            // Every name resolves to the namespace's loopback, where
            // serve_webroot answers http-01; no AAAA, so nothing dials ::1.
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .current_dir(&self.dir);
        self.challtestsrv = Some(spawn_logged(cts, &log));
        let dns = self.dns_addr;
        let up = within(Duration::from_secs(30), || {
            self.enter(|| query_txt(dns, "harness-ready.invalid.").is_ok())
        });
        assert!(up, "pebble-challtestsrv did not answer:\n{}", self.logs());
    }

    /// The network namespace's name (`ip netns`), removed on drop.
    pub fn namespace(&self) -> String {
        self.net.ns(SITE)
    }

    /// `ip netns exec <namespace> program`: add arguments and run it.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.net.command(SITE, program)
    }

    /// nsd on 127.0.0.1:53 of the namespace (the DNS acme2certifier asks
    /// when started without its challtestsrv), its state in `dir`, serving
    /// `zones` from the zone directory `zone_dir`.
    pub fn nsd(&self, dir: &Path, zone_dir: &Path, zones: &[&str]) -> crate::nsd::Nsd {
        let extra = crate::nsd::Extra {
            port: Some(53),
            ..crate::nsd::Extra::default()
        };
        self.enter(|| crate::nsd::Nsd::start_with(dir, zone_dir, zones, &extra))
    }

    /// Run `f` on a thread inside the namespace: its sockets, and the
    /// processes and threads it starts, are the namespace's.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.net.enter(SITE, f)
    }

    /// Relay the dns-01 drop directory `dir` into challtestsrv (see
    /// [`Relay`]); needs [`A2cOpts::challtestsrv`].
    pub fn relay_dnsextra(&self, dir: &Path) -> Relay {
        assert!(self.challtestsrv.is_some(), "no challtestsrv to relay into");
        self.enter(|| Relay::start(dir, SocketAddr::new(LOCALHOST, CTS_PORT)))
    }

    /// Serve the http-01 webroot `dir` on port 80 of the namespace.
    pub fn serve_webroot(&self, dir: &Path) -> WebServer {
        self.enter(|| serve_webroot(dir, 80))
    }

    /// HTTPS GET of `path` on acme2certifier, trusting only [`A2c::ca_bundle`]: (status, body).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
        let url = format!("https://127.0.0.1:{PORT}{path}");
        self.enter(|| https_get(&url, &self.ca_bundle))
    }

    /// The authorization acme2certifier makes for `name` in a new order of
    /// a new account, as the JSON it sends: asked by an independent client
    /// (certbot's `acme` library, in the virtualenv as acme2certifier's
    /// dependency), for what the CA offers before any client of ours has
    /// a say.
    pub fn new_authorization(&self, name: &str) -> String {
        let ran = self
            .command(venv().join("bin/python"))
            .args(["-c", AUTHZ_PY, &self.directory_url])
            .arg(&self.ca_bundle)
            .arg(name)
            .env_remove("PYTHONPATH")
            .ran();
        assert_eq!(ran.code, 0, "new authorization for {name}: {}", ran.stderr);
        ran.stdout
    }

    /// The logs so far (acme2certifier's, challtestsrv's), last 300 lines each.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        for name in ["a2c.log", "challtestsrv.log"] {
            let path = self.dir.join(name);
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let lines: Vec<&str> = text.lines().collect();
            let skip = lines.len().saturating_sub(300);
            s.push_str(&format!("==== {} ====\n", path.display()));
            for l in &lines[skip..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

impl Drop for A2c {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- acme2certifier harness logs ----\n{}", self.logs());
        }
        // The processes before the namespace (field order does the rest).
        self.server.take();
        self.challtestsrv.take();
    }
}

/// A new account (with a contact: acme2certifier refuses an account
/// without one), a new order for one name, and each authorization's JSON
/// (POST-as-GET) on stdout. Arguments: directory URL, CA bundle, name.
const AUTHZ_PY: &str = r#"
import sys
import josepy as jose
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from acme import client, crypto_util, messages
url, bundle, name = sys.argv[1:4]
key = ec.generate_private_key(ec.SECP256R1())
net = client.ClientNetwork(jose.JWKEC(key=key), alg=jose.ES256, verify_ssl=bundle,
                           user_agent="certdrop-testkit")
acme = client.ClientV2(client.ClientV2.get_directory(url, net), net)
acme.new_account(messages.NewRegistration.from_data(
    email="ops@example.test", terms_of_service_agreed=True))
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption())
order = acme.new_order(crypto_util.make_csr(pem, [name]))
for authz in order.authorizations:
    print(acme._post_as_get(authz.uri).text)
"#;

/// acme_srv.cfg for a run in `dir`.
fn config(dir: &Path, opts: &A2cOpts) -> String {
    let d = dir.display();
    let mut persist = String::new();
    let mut directory = String::new();
    let eab = if opts.eab_keys.is_some() {
        format!(
            "[EABhandler]\neab_handler_module: acme2certifier.eabhandlers.file_handler\nkey_file: {d}/eab.csv\n\n"
        )
    } else {
        String::new()
    };
    if let Some(issuers) = &opts.persist_issuers {
        let list: Vec<String> = issuers.iter().map(|i| format!("\"{i}\"")).collect();
        persist = format!(
            "dns_persist_01_support: True\ndns_persist_allow_policy_wildcard: {}\ndns_persist_jit_validation: {}\n",
            py_bool(opts.persist_wildcard),
            py_bool(opts.persist_jit)
        );
        directory = format!("caaidentities: [{}]\n", list.join(", "));
    }
    format!(
        "[DEFAULT]\ndebug: False\ndns_server_list: [\"127.0.0.1\"]\n\n\
         [Nonce]\nnonce_check_disable: False\n\n\
         [Challenge]\nchallenge_validation_timeout: 20\n{persist}\n\
         [Directory]\n{directory}\n\
         [Renewalinfo]\nrenewal_force: {}\n\n\
         {eab}[DBhandler]\nhandler: wsgi\ndbfile: {d}/acme_srv.db\n\n\
         [CAhandler]\nhandler_module: acme2certifier.cahandlers.openssl_ca_handler\n\
         issuing_ca_key: {d}/ca/int.key\nissuing_ca_cert: {d}/ca/int.pem\n\
         ca_cert_chain_list: [\"{d}/ca/ca.pem\"]\nissuing_ca_crl: {d}/ca/crl.pem\n\
         cert_save_path: {d}/issued\ncert_validity_days: {}\n",
        py_bool(opts.renewal_force),
        opts.validity_days
    )
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn directory_answers(url: &str, ca: &Path) -> bool {
    matches!(https_get(url, ca), Ok((200, body)) if String::from_utf8_lossy(&body).contains("newOrder"))
}

/// Start `cmd` in a process group of its own, output to `log`.
fn spawn_logged(mut cmd: Command, log: &Path) -> NsProc {
    use std::os::unix::process::CommandExt;
    let out = File::create(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup log"))
        .stderr(out)
        .spawn()
        .unwrap_or_else(|e| panic!("start {cmd:?}: {e}"));
    NsProc(child)
}
