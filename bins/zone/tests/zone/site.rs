//! A zone-building tree for tests: sources, drop directories, keys, a
//! zone.toml, and a wrapper that runs the binary (the runner, the temp
//! tree, nsd and the PKI are certdrop-testkit's).

use std::ops::Deref;
use std::path::PathBuf;
use std::process::Command;

pub use certdrop_testkit::pki::spki_sha256 as openssl_spki_sha256;
pub use certdrop_testkit::tree::read_text as read;
pub use certdrop_testkit::Ran;
use certdrop_testkit::Run;

/// Run certdrop-zone with `args`.
pub fn run(args: &[&str]) -> Ran {
    zone().args(args).ran()
}

/// The certdrop-zone command.
pub fn zone() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certdrop-zone"))
}

/// The rows nsd answers for `rtype name` once `cond` holds of them (or
/// the last answer after 10 s, for the test's assertion to show). After
/// a reload, nsd's old server processes may still answer a query or two
/// from the old zone although the new serial was already seen, and a
/// query may time out on a busy machine: a test asks until it sees.
pub fn answered(
    nsd: &certdrop_testkit::nsd::Nsd,
    rtype: &str,
    name: &str,
    dnssec: bool,
    cond: impl Fn(&[(String, String, String)]) -> bool,
) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    certdrop_testkit::within(std::time::Duration::from_secs(10), || {
        rows = nsd.ask(rtype, name, dnssec);
        cond(&rows)
    });
    rows
}

/// A valid dns-01 value.
pub const V1: &str = "xKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";
/// Another one.
pub const V2: &str = "yKyfkr_Vt1jySkWEasJE_mI7IEkKQ-CnJIrVTqcldVA";

/// A test tree with the directories zone.toml names.
pub struct Tree(certdrop_testkit::Tree);

impl Deref for Tree {
    type Target = certdrop_testkit::Tree;
    fn deref(&self) -> &certdrop_testkit::Tree {
        &self.0
    }
}

impl Tree {
    pub fn new() -> Tree {
        Tree(certdrop_testkit::Tree::with_dirs(&[
            "soa",
            "primary",
            "dnsextra",
            "certs",
            "phonehome",
            "keys",
            "zones",
            "build",
        ]))
    }

    /// soa/ZONE and primary/ZONE for a small zone served at 127.0.0.1.
    pub fn sources(&self, zone: &str) {
        self.write(
            &format!("soa/{zone}"),
            &format!(
                "$TTL 300\n@ IN SOA ns1.{zone}. hostmaster.{zone}. ( 1 3600 900 1209600 60 )\n"
            ),
        );
        self.write(
            &format!("primary/{zone}"),
            "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nmail A 127.0.0.1\n",
        );
    }

    /// ldns-keygen a KSK and a ZSK for `zone`; returns their basenames.
    pub fn keys(&self, zone: &str) -> Vec<PathBuf> {
        let mut names = Vec::new();
        for ksk in [true, false] {
            let mut cmd = Command::new("ldns-keygen");
            cmd.current_dir(self.path("keys"))
                .args(["-a", "ECDSAP256SHA256"]);
            if ksk {
                cmd.arg("-k");
            }
            let ran = cmd.arg(zone).ran().expect(0);
            names.push(self.path(&format!("keys/{}", ran.stdout.trim())));
        }
        names
    }

    /// A fragment file in dnsextra/.
    pub fn fragment(&self, file: &str, text: &str) -> PathBuf {
        self.write(&format!("dnsextra/{file}"), text)
    }

    /// zone.toml with one zone; `extra` is appended inside the [[zone]].
    pub fn config(&self, zone: &str, reload: &str, zone_extra: &str) -> PathBuf {
        self.write(
            "zone.toml",
            &format!(
                "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\nphonehome = \"phonehome\"\n\
                 reload = {reload}\n\n[[zone]]\nname = \"{zone}\"\nsoa = \"soa/{zone}\"\nprimary = \"primary/{zone}\"\n{zone_extra}\n"
            ),
        )
    }

    /// Run certdrop-zone -c zone.toml `args`.
    pub fn run(&self, args: &[&str]) -> Ran {
        zone()
            .arg("-c")
            .arg(self.path("zone.toml"))
            .args(args)
            .ran()
    }
}

/// The `keys = [...]` line of a [[zone]] for the key basenames `keys`.
pub fn keys_toml(keys: &[PathBuf]) -> String {
    let quoted: Vec<String> = keys
        .iter()
        .map(|k| format!("\"{}\"", k.display()))
        .collect();
    format!("keys = [{}]\n", quoted.join(", "))
}
