//! `account import`: the account keys of other ACME clients, made by the
//! clients themselves where Debian has them (lego, certbot, dehydrated,
//! uacme), taken over by certdrop-issue against a real Pebble (everything
//! here is the real CA's). A DER CSR is read like a PEM one.

use std::path::{Path, PathBuf};
use std::process::Command;

use certdrop_testkit::Run;

use crate::site::Site;

const EMAIL: &str = "ops@example.test";

/// The one file under `dir` (any depth) whose name ends with `suffix`.
fn find(dir: &Path, suffix: &str) -> PathBuf {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                found.push(p);
            }
        }
    }
    assert_eq!(
        found.len(),
        1,
        "{suffix} under {}: {found:?}",
        dir.display()
    );
    found.remove(0)
}

/// Import `key` (the site has no account yet), then show and use it:
/// returns the account URL.
fn import(site: &Site, key: &Path, format: &str) -> (String, String) {
    assert!(!site.path("state/account.json").exists());
    let key = key.to_str().expect("utf-8 path");
    let ran = site
        .run(&["account", "import", key, "--format", format])
        .expect(0);
    ran.stdout_has("account imported: ");
    let show = site.run(&["account", "show", "--json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).expect("json");
    site.run(&["issue", "--force", "www"]).expect(0);
    (v["account"].as_str().expect("url").to_owned(), ran.stdout)
}

#[test]
fn lego() {
    let mut site = Site::start();
    site.http_line("www", "");
    let lego = site.path("lego");
    // lego registers, stores the account, then orders: an order Pebble
    // refuses at once (a wildcard not leftmost) keeps the test quick.
    let ran = Command::new("lego")
        .env("LEGO_CA_CERTIFICATES", site.path("acme-ca.pem"))
        .args([
            "--server",
            &site.pebble.directory_url,
            "--accept-tos",
            "--email",
            EMAIL,
        ])
        .arg("--path")
        .arg(&lego)
        .args(["--http", "-d", "www.*.example.test", "run"])
        .ran()
        .expect(1);
    assert!(
        ran.stderr.contains("rejectedIdentifier") || ran.stderr.contains("malformed"),
        "{}",
        ran.stderr
    );
    // lego's ECDSA P-256 key in SEC1 PEM, and the URL it registered.
    let key = find(&lego.join("accounts"), ".key");
    let account: serde_json::Value =
        serde_json::from_slice(&std::fs::read(find(&lego, "account.json")).expect("read"))
            .expect("json");
    // lego 4.9 leaves its account key readable by others: refused as such.
    let ran = site
        .run(&["account", "import", key.to_str().expect("utf-8")])
        .expect(65);
    ran.stderr_has("refused: private key is readable or writable by group or others");
    chmod600(&key);
    let (url, out) = import(&site, &key, "pem");
    assert_eq!(url, account["registration"]["uri"].as_str().expect("uri"));
    assert!(!out.contains("replaced"), "a P-256 key is kept: {out}");
}

fn chmod600(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[test]
fn certbot() {
    let mut site = Site::start();
    site.http_line("www", "");
    let dir = site.path("certbot");
    Command::new("certbot")
        .env("REQUESTS_CA_BUNDLE", site.path("acme-ca.pem"))
        .args([
            "register",
            "-n",
            "--agree-tos",
            "--no-eff-email",
            "-m",
            EMAIL,
        ])
        .args(["--server", &site.pebble.directory_url])
        .arg("--config-dir")
        .arg(dir.join("config"))
        .arg("--work-dir")
        .arg(dir.join("work"))
        .arg("--logs-dir")
        .arg(dir.join("logs"))
        .ran()
        .expect(0);
    // certbot's RSA key as a JWK, and the URL it registered.
    let key = find(&dir, "private_key.json");
    let regr: serde_json::Value =
        serde_json::from_slice(&std::fs::read(find(&dir, "regr.json")).expect("read"))
            .expect("json");
    let (url, out) = import(&site, &key, "auto");
    assert_eq!(url, regr["uri"].as_str().expect("uri"));
    out_has(&out, "its RSA 2048 key replaced by a new ECDSA P-256 key");
}

fn out_has(out: &str, what: &str) {
    assert!(out.contains(what), "{what}: {out}");
}

/// Register with dehydrated (its account key in PKCS#8 PEM, RSA 2048 here
/// instead of its default 4096, to keep the test quick); an existing
/// `account_key` is registered as it is. Returns the key's path.
fn register_with_dehydrated(site: &Site, account_key: Option<&Path>) -> PathBuf {
    let base = site.path("dehydrated");
    std::fs::create_dir_all(&base).expect("mkdir");
    let config = base.join("config");
    let text = format!(
        "BASEDIR={base}\nCA={ca}\nCURL_OPTS=\"--cacert {bundle}\"\nKEYSIZE=2048\nCONTACT_EMAIL={EMAIL}\n",
        base = base.display(),
        ca = site.pebble.directory_url,
        bundle = site.path("acme-ca.pem").display(),
    );
    std::fs::write(&config, text).expect("write config");
    let mut register = Command::new("dehydrated");
    register
        .arg("-f")
        .arg(&config)
        .args(["--register", "--accept-terms"]);
    let key = match account_key {
        // Its `--account-key` registers a given key (a copy: dehydrated
        // writes its registration beside it).
        Some(key) => {
            let copy = base.join("given_key.pem");
            std::fs::copy(key, &copy).expect("copy key");
            register.arg("--privkey").arg(&copy);
            Some(copy)
        }
        None => None,
    };
    let ran = register.ran().expect(0);
    ran.stdout_has("+ Registering account key with ACME server...");
    key.unwrap_or_else(|| find(&base.join("accounts"), "account_key.pem"))
}

#[test]
fn dehydrated() {
    let mut site = Site::start();
    site.http_line("www", "");
    let key = register_with_dehydrated(&site, None);
    let (_, out) = import(&site, &key, "pem");
    out_has(&out, "its RSA 2048 key replaced by a new ECDSA P-256 key");
}

/// uacme trusts only the system's CA bundle, so it cannot talk to Pebble:
/// it makes its key (PKCS#1 PEM, 0400) and then fails to reach a "CA"
/// that is challtestsrv's plain-HTTP management port; dehydrated registers
/// that key with Pebble; certdrop imports uacme's own file.
#[test]
fn uacme() {
    let mut site = Site::start();
    site.http_line("www", "");
    let conf = site.path("uacme");
    Command::new("uacme")
        .arg("-c")
        .arg(&conf)
        .args(["-a", &format!("{}/dir", site.pebble.challtestsrv_url)])
        .args(["-y", "new", EMAIL])
        .ran()
        .expect(2);
    let key = conf.join("private/key.pem");
    let pem = std::fs::read_to_string(&key).expect("uacme's key");
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
    let registered = register_with_dehydrated(&site, Some(&key));
    assert_eq!(std::fs::read_to_string(registered).expect("read"), pem);
    let (_, out) = import(&site, &key, "auto");
    out_has(&out, "its RSA 2048 key replaced by a new ECDSA P-256 key");
}

/// acme.sh is not in Debian: an account certdrop registered has its key
/// rewritten by hand the way acme.sh writes its `account.key` (`openssl
/// ecparam -genkey -noout`: SEC1 PEM), set aside, and imported back.
#[test]
fn acme_sh() {
    let mut site = Site::start();
    site.http_line("www", "");
    site.run(&["run"]).expect(0);
    let creds: serde_json::Value =
        serde_json::from_slice(&site.read("state/account.json")).expect("json");
    use base64::Engine;
    let pkcs8 = base64::prelude::BASE64_URL_SAFE_NO_PAD
        .decode(creds["key_pkcs8"].as_str().expect("key"))
        .expect("base64url");
    let pk8 = site.path("pkcs8.der");
    std::fs::write(&pk8, pkcs8).expect("write");
    let key = site.path("account.key");
    Command::new("openssl")
        .args(["ec", "-inform", "DER", "-in"])
        .arg(&pk8)
        .arg("-out")
        .arg(&key)
        .ran()
        .expect(0);
    chmod600(&key);
    let pem = std::fs::read_to_string(&key).expect("read");
    assert!(pem.starts_with("-----BEGIN EC PRIVATE KEY-----"), "{pem}");
    std::fs::rename(
        site.path("state/account.json"),
        site.path("account.json.old"),
    )
    .expect("set aside");
    // A key the CA knows no account for: the CA's accountDoesNotExist.
    let stranger = site.path("stranger.key");
    Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&stranger)
        .ran()
        .expect(0);
    chmod600(&stranger);
    let ran = site
        .run(&["account", "import", stranger.to_str().expect("utf-8")])
        .expect(78);
    ran.stderr_has("has no account for this key");
    assert!(!site.path("state/account.json").exists());

    let (url, _) = import(&site, &key, "auto");
    assert_eq!(url, creds["id"].as_str().expect("id"));
    // One account per credentials file: a second import is refused.
    let again = site.run(&["account", "import", key.to_str().expect("utf-8")]);
    again.expect(73).stderr_has("an account is stored already");
}

/// A CSR in DER (`openssl req -outform DER`) serves a line like a PEM one.
#[test]
fn der_csr() {
    let mut site = Site::start();
    let key = site.path("own.key");
    let csr = site.path("own.csr.der");
    Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=der.example.test", "-outform", "DER"])
        .args(["-addext", "subjectAltName=DNS:der.example.test"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .ran()
        .expect(0);
    site.line(&format!(
        "name = \"der\"\ndomains = [\"der.example.test\"]\ncsr = \"{}\"",
        csr.display()
    ));
    site.run(&["run"]).expect(0);
    assert_eq!(
        crate::site::openssl_pubkey_of_cert(&site.path("certs/der/cert.pem")),
        crate::site::openssl(&["pkey", "-pubout", "-in"], &key)
    );
}

/// An old client's key copied to `keys/<line>/key.pem` (as certdrop(7)'s
/// move says) signs the line's first certificate: TLSA `3 1 1` survives.
#[test]
fn an_old_clients_key_signs_the_first_certificate() {
    let mut site = Site::start();
    site.http_line("www", "");
    let old = site.path("old.key");
    Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(&old)
        .ran()
        .expect(0);
    let dir = site.path("keys/www");
    std::fs::create_dir_all(&dir).expect("mkdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let key = dir.join("key.pem");
    Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-in"])
        .arg(&old)
        .arg("-out")
        .arg(&key)
        .ran()
        .expect(0);
    chmod600(&key);
    site.run(&["run"]).expect(0);
    assert_eq!(
        site.cert_pubkey("www"),
        crate::site::openssl(&["pkey", "-pubout", "-in"], &old)
    );
}
