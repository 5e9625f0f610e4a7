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
    // lego answers http-01 itself, on the port of the site's web server.
    site.web = None;
    Command::new("lego")
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
        .args([
            "--http",
            "--http.port",
            &format!("127.0.0.1:{}", site.pebble.http_port),
        ])
        .args(["-d", "lego.example.test", "run"])
        .ran()
        .expect(0);
    site.web = Some(site.pebble.serve_webroot(&site.path("webroot")));
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
