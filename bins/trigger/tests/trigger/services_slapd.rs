//! The shipped slapd definition against a real slapd (Debian 12, slapd
//! 2.5.13) configured from slapd.conf: its files found in slapd.conf, what
//! slapd does when asked to reload (SIGHUP stops it), that a certificate
//! replaced under the same file name is not served until a restart, and
//! the definition's restart on the field rule (a file newer than the pid
//! file); and a slapd from cn=config, which an ldapmodify of its TLS
//! attributes makes load the files again (the definition's documented
//! override), its files found in `slapcat -n 0` (a long name folded, one
//! that is not ASCII in base64). Checked over LDAP StartTLS by the
//! trigger's own post-flight (`protocol = "ldap"`: the test's port is no
//! 389) and by certdrop-probe.

use std::net::TcpStream;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use std::process::Command;

use certdrop_testkit::slapd::Slapd;
use certdrop_testkit::{free_port, sh, within, Run};

use crate::harness::{Tree, PUBLISHED};
use crate::services::{
    assert_serves, discover_command, discover_file, endpoints, first_run, quoted, served, shipped,
    PidFile,
};

/// How long slapd may take to stop.
const STOP: Duration = Duration::from_secs(10);

/// The shipped definition with this slapd's slapd.conf, and a restart
/// that stops it, waits until it is gone (a zombie of the test's own
/// child counts as gone) and starts it again as a daemon.
fn site(slapd: &Slapd) -> String {
    let conf = slapd.dir.join("slapd.conf");
    let restart = format!(
        "pid=$(cat {{pidfile}}); kill $pid; \
         while ps -o stat= -p $pid | grep -q '^[^Z]'; do sleep 0.05; done; \
         slapd -h ldap://127.0.0.1:{}/ -f {}",
        slapd.port,
        conf.display()
    );
    shipped(
        "slapd",
        &[
            ("discover", discover_file("slapd", &conf)),
            (
                "pidfile",
                quoted(&slapd.dir.join("slapd.pid").display().to_string()),
            ),
            (
                "preflight",
                quoted(&format!("slaptest -u -f {}", conf.display())),
            ),
            ("restart", quoted(&restart)),
            ("postflight", endpoints(&[(slapd.addr(), Some("ldap"))])),
        ],
    )
}

#[test]
fn slapd_has_no_reload_sighup_stops_it() {
    let tree = Tree::new();
    tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let slapd = Slapd::start(&tree.path("slapd"), free_port(), &cert, &key);
    kill(Pid::from_raw(slapd.pid()), Signal::SIGHUP).expect("SIGHUP");
    assert!(
        within(STOP, || TcpStream::connect(slapd.addr()).is_err()),
        "slapd still listens after SIGHUP: {}",
        slapd.log()
    );
}

#[test]
fn slapd_restart_on_a_file_newer_than_its_pid_file_serves_the_new_certificate() {
    let tree = Tree::new();
    let first = tree.issue();
    let (cert, key) = (tree.path(PUBLISHED), tree.path("keys/www.pem"));
    let slapd = Slapd::start(&tree.path("slapd"), free_port(), &cert, &key);
    let pidfile = slapd.dir.join("slapd.pid");
    // The daemon the restart starts, stopped at the end.
    let _restarted = PidFile(pidfile.clone());
    assert!(within(STOP, || pidfile.exists()), "no pid file");
    tree.config(&site(&slapd));
    // Started after the files were published: not due.
    let ran = tree.run(&["-vv", "run"]).expect(2);
    ran.stderr_has(&format!(
        "www: found {} key {}",
        cert.display(),
        key.display()
    ));
    assert_serves(slapd.addr(), Some("ldap"), &first.der, "slapd");

    // A renewal under the same file name: slapd keeps what it read at start.
    let second = tree.issue();
    assert_eq!(served(slapd.addr(), Some("ldap")), Some(first.der.clone()));
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: restarted, served: ");
    ran.stdout_has("newer than");
    assert_serves(slapd.addr(), Some("ldap"), &second.der, "slapd");
    assert_ne!(
        std::fs::read_to_string(&pidfile).expect("pid file").trim(),
        slapd.pid().to_string(),
        "a new slapd"
    );
    tree.run(&["run"]).expect(2).silent();
}

/// A directory name long enough that slapcat folds the line naming a
/// file in it (LDIF lines end at 76 bytes).
const LONG: &str = "a-directory-name-long-enough-for-slapcat-to-fold-the-line";
/// A directory name that is not ASCII: slapcat writes a value naming a
/// file in it in base64 (`name:: value`, RFC 2849).
const NOT_ASCII: &str = "zertifikät";

#[test]
fn slapd_from_cn_config_reloads_on_an_ldapmodify_of_its_tls_files() {
    let tree = Tree::new();
    let first = tree.issue();
    // The key under a long name, the certificate installed under one that
    // is not ASCII, as the site names them.
    let key = tree.path(&format!("srv/{LONG}/key.pem"));
    let cert = tree.path(&format!("srv/{NOT_ASCII}/cert.pem"));
    for file in [&key, &cert] {
        std::fs::create_dir_all(file.parent().expect("dir")).expect("srv dir");
    }
    std::fs::copy(tree.path("keys/www.pem"), &key).expect("key");
    std::fs::copy(tree.path(PUBLISHED), &cert).expect("first cert");

    // cn=config made by slaptest from a slapd.conf whose config database
    // root may manage over ldapi (SASL EXTERNAL), run in the foreground.
    let dir = tree.path("slapd-cn");
    std::fs::create_dir_all(dir.join("cfg")).expect("slapd dir");
    let d = dir.display();
    tree.write(
        "slapd-cn/slapd.conf",
        &format!(
            "include /etc/ldap/schema/core.schema\npidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n\
             TLSCertificateFile {}\nTLSCertificateKeyFile {}\ndatabase config\n\
             access to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth \
             manage by * none\n",
            cert.display(),
            key.display()
        ),
    );
    sh(
        tree.root(),
        &format!("slaptest -Q -f {d}/slapd.conf -F {d}/cfg"),
    );
    let ldapi = format!("ldapi://{}", format!("{d}/ldapi").replace('/', "%2F"));
    let port = free_port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let slapd = Command::new("slapd")
        .args(["-d", "0", "-F"])
        .arg(dir.join("cfg"))
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/ {ldapi}"))
        .logged(&dir.join("slapd.log"));
    assert!(
        within(STOP, || TcpStream::connect(addr).is_ok()),
        "slapd did not start: {}",
        tree.read_text("slapd-cn/slapd.log")
    );
    // The LDIF as slapcat writes it: the name that is not ASCII in base64.
    // (folded: its continuation lines start with a space).
    let ldif = sh(tree.root(), &format!("slapcat -n 0 -F {d}/cfg"));
    let encoded: Vec<&str> = ldif
        .lines()
        .skip_while(|l| !l.starts_with("olcTLSCertificateFile:: "))
        .enumerate()
        .take_while(|(i, l)| *i == 0 || l.starts_with(' '))
        .map(|(_, l)| l)
        .collect();
    assert!(
        !encoded.is_empty(),
        "slapcat writes the certificate file in base64: {ldif}"
    );
    let encoded = encoded.join("\n");
    assert!(
        ldif.contains(&format!(
            "olcTLSCertificateKeyFile: {}",
            &tree.root().display()
        )),
        "the key file in plain text: {ldif}"
    );
    tree.write(
        "slapd-cn/tls.ldif",
        &format!(
            "dn: cn=config\nchangetype: modify\nreplace: olcTLSCertificateFile\n\
             {encoded}\n-\nreplace: olcTLSCertificateKeyFile\n\
             olcTLSCertificateKeyFile: {}\n-\n",
            key.display()
        ),
    );
    let reload = format!("ldapmodify -Q -Y EXTERNAL -H {ldapi} -f {d}/tls.ldif");
    tree.config(&shipped(
        "slapd",
        &[
            (
                "discover",
                discover_command("slapd", &format!("slapcat -n 0 -F {d}/cfg")),
            ),
            ("pidfile", quoted(&format!("{d}/slapd.pid"))),
            ("preflight", quoted(&format!("slaptest -Q -u -F {d}/cfg"))),
            ("reload", quoted(&reload)),
            ("rule", quoted("content-changed")),
            ("postflight", endpoints(&[(addr, Some("ldap"))])),
            (
                "install",
                format!(
                    "[{{ from = \"fullchain.pem\", to = {} }}]",
                    quoted(&cert.display().to_string())
                ),
            ),
        ],
    ));
    // slapcat folds the long name and encodes the other: both are found
    // whole.
    first_run(
        &tree,
        (&cert, &key),
        (addr, Some("ldap")),
        &first.der,
        "slapd",
    );

    // A renewal installed under the same name: served after the ldapmodify.
    let second = tree.issue();
    let ran = tree.run(&["run"]).expect(0);
    ran.stdout_starts("www: reloaded, served: new files to install");
    assert_serves(addr, Some("ldap"), &second.der, "slapd");
    assert_eq!(
        tree.read_text("slapd-cn/slapd.pid").trim(),
        slapd.pid().to_string(),
        "the same slapd"
    );
    tree.run(&["run"]).expect(2).silent();
}
