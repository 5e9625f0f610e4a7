//! A throwaway PKI made by openssl, as a test's certificates: a root
//! (`ca.pem`, CN=Test Root) and an intermediate (`int.pem`, CN=Test
//! Intermediate), ECDSA P-256, made on first use in the PKI's directory;
//! leaves the intermediate signs for given names, for a number of days
//! (`openssl x509`, any serial) or between two dates (`openssl ca`, past
//! dates too); and store lines laid out as certdrop-issue writes them
//! (cert.pem, chain.pem, fullchain.pem, pubkey.pem). openssl, not rcgen,
//! because the binaries must read what the reference tool makes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::Run;

/// The whole PKI as one script with commands, so each step is one `sh`:
/// `ca` (root, intermediate and the `openssl ca` database, once), `key
/// FILE TYPE`, `x509 KEY CN SAN SERIAL DAYS OUT`, `ca-sign KEY CN SAN START
/// END OUT`. Output is kept for the failure message, not printed.
const SCRIPT: &str = r#"set -eu
ca() {
    [ -f int.pem ] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days 30 -subj "/CN=Test Root"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout int.key -out int.csr -subj "/CN=Test Intermediate"
    printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >int.ext
    openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -set_serial 1 \
        -out int.pem -days 30 -extfile int.ext
    mkdir -p ca.d; : >ca.d/index.txt; echo 01 >ca.d/serial
    printf '[ca]\ndefault_ca=d\n[d]\ndir=ca.d\ndatabase=ca.d/index.txt\nnew_certs_dir=ca.d\nserial=ca.d/serial\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=none\n[p]\ncommonName=supplied\n' >ca.d/ca.cnf
}
key() {
    [ -f "$1" ] && return 0
    case $2 in
    p256) openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out "$1" ;;
    p384) openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-384 -out "$1" ;;
    rsa2048) openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:2048 -out "$1" ;;
    esac
}
csr() {
    ca
    openssl req -new -key "$1" -out leaf.csr -subj "/CN=$2"
    printf 'subjectAltName=%s\n' "$3" >leaf.ext
}
cmd=$1; shift
case $cmd in
ca) ca ;;
key) key "$@" ;;
x509)
    csr "$1" "$2" "$3"
    if [ "$4" = - ]; then serial=-CAcreateserial; else serial="-set_serial $4"; fi
    openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key $serial \
        -days "$5" -extfile leaf.ext -out "$6" ;;
ca-sign)
    csr "$1" "$2" "$3"
    openssl ca -batch -notext -config ca.d/ca.cnf -cert int.pem -keyfile int.key \
        -in leaf.csr -out "$6" -startdate "$4" -enddate "$5" -extfile leaf.ext ;;
esac
"#;

/// A private key's type.
#[derive(Clone, Copy, Debug)]
pub enum KeyType {
    /// ECDSA P-256 (the default).
    P256,
    /// ECDSA P-384.
    P384,
    /// RSA 2048.
    Rsa2048,
}

/// An openssl CA in a directory.
pub struct Pki {
    /// Where ca.pem, int.pem, their keys and the CA database live.
    pub dir: PathBuf,
}

impl Pki {
    /// A PKI in `dir` (made if missing); the CA itself is made on first use.
    pub fn new(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).expect("pki dir");
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    #[track_caller]
    fn script(&self, args: &[&str]) {
        Command::new("sh")
            .args(["-c", SCRIPT, "pki"])
            .args(args)
            .current_dir(&self.dir)
            .ran()
            .expect(0);
    }

    /// Make the root and the intermediate now (else on the first leaf).
    pub fn ca(&self) -> &Pki {
        self.script(&["ca"]);
        self
    }

    /// The root certificate (PEM file).
    pub fn root(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The intermediate certificate (PEM file): every leaf's chain.
    pub fn int(&self) -> PathBuf {
        self.dir.join("int.pem")
    }

    /// A P-256 private key at `file`, made unless it exists.
    pub fn key(&self, file: &Path) -> PathBuf {
        self.key_of(file, KeyType::P256)
    }

    /// A private key of type `kind` at `file`, made unless it exists.
    pub fn key_of(&self, file: &Path, kind: KeyType) -> PathBuf {
        let kind = match kind {
            KeyType::P256 => "p256",
            KeyType::P384 => "p384",
            KeyType::Rsa2048 => "rsa2048",
        };
        self.script(&["key", &path(file), kind]);
        file.to_path_buf()
    }

    /// A leaf for `names` (CN the first) with `key`, signed by the
    /// intermediate with `serial` (None: a random one), valid from now for
    /// `days` (negative: expired), written to `out` (PEM).
    pub fn leaf(&self, key: &Path, names: &[&str], serial: Option<u32>, days: i32, out: &Path) {
        let serial = serial.map_or("-".to_owned(), |s| s.to_string());
        let days = days.to_string();
        self.script(&[
            "x509",
            &path(key),
            names[0],
            &san(names),
            &serial,
            &days,
            &path(out),
        ]);
    }

    /// A leaf for `names` with `key`, valid from `start` to `end`
    /// (`openssl ca` dates, YYYYMMDDHHMMSSZ), written to `out` (PEM).
    pub fn leaf_between(&self, key: &Path, names: &[&str], start: &str, end: &str, out: &Path) {
        self.script(&[
            "ca-sign",
            &path(key),
            names[0],
            &san(names),
            start,
            end,
            &path(out),
        ]);
    }

    /// A certificate line `certs/<line>/` as certdrop-issue lays it out,
    /// for `names` with `key` (made if missing), valid for 30 days:
    /// cert.pem, chain.pem (the intermediate), fullchain.pem, pubkey.pem.
    pub fn line(&self, certs: &Path, line: &str, key: &Path, names: &[&str]) -> PathBuf {
        let dir = certs.join(line);
        std::fs::create_dir_all(&dir).expect("line dir");
        self.key(key);
        self.leaf(key, names, None, 30, &dir.join("cert.pem"));
        let cert = std::fs::read(dir.join("cert.pem")).expect("cert.pem");
        let int = std::fs::read(self.int()).expect("int.pem");
        std::fs::write(dir.join("chain.pem"), &int).expect("chain.pem");
        std::fs::write(dir.join("fullchain.pem"), [cert, int].concat()).expect("fullchain.pem");
        std::fs::write(dir.join("pubkey.pem"), public_key(key)).expect("pubkey.pem");
        dir
    }
}

/// A self-signed certificate line `certs/<line>/` for `names`, valid for
/// 30 days, with a new P-256 key at `key` (no CA needed): cert.pem and
/// fullchain.pem the same certificate, chain.pem empty, pubkey.pem.
pub fn self_signed_line(certs: &Path, line: &str, key: &Path, names: &[&str]) -> PathBuf {
    let dir = certs.join(line);
    std::fs::create_dir_all(&dir).expect("line dir");
    Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .args(["-subj", &format!("/CN={}", names[0])])
        .args(["-addext", &format!("subjectAltName={}", san(names))])
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .ran()
        .expect(0);
    std::fs::copy(dir.join("cert.pem"), dir.join("fullchain.pem")).expect("fullchain.pem");
    std::fs::write(dir.join("chain.pem"), "").expect("chain.pem");
    std::fs::write(dir.join("pubkey.pem"), public_key(key)).expect("pubkey.pem");
    dir
}

/// The public key PEM of a private key file (`openssl pkey -pubout`).
pub fn public_key(key: &Path) -> String {
    openssl(&["pkey", "-pubout", "-in"], key)
}

/// `openssl ARGS FILE`: its stdout; it must succeed.
#[track_caller]
pub fn openssl(args: &[&str], file: &Path) -> String {
    Command::new("openssl")
        .args(args)
        .arg(file)
        .ran()
        .expect(0)
        .stdout
}

/// SHA-256 of a certificate's SubjectPublicKeyInfo, hex, by the openssl
/// pipeline (the data of TLSA 3 1 1).
pub fn spki_sha256(cert: &Path) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum",
            cert.display()
        ))
        .output()
        .expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

fn san(names: &[&str]) -> String {
    // An IP address is an iPAddress SAN (RFC 8738), anything else a dNSName.
    let v: Vec<String> = names
        .iter()
        .map(|n| match n.parse::<std::net::IpAddr>() {
            Ok(_) => format!("IP:{n}"),
            Err(_) => format!("DNS:{n}"),
        })
        .collect();
    v.join(",")
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}
