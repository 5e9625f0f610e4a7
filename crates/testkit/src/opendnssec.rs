//! OpenDNSSEC 2.1 (ods-enforcerd + ods-signerd) with SoftHSM2 as the key
//! store, all in a directory of the test's tree, stopped on drop.
//!
//! What OpenDNSSEC does not let a configuration move, and how it is moved
//! here: ods-enforcer-db-setup reads /etc/opendnssec/conf.xml whatever it
//! is told, and the enforcer tells the signer about new keys by running
//! `/usr/sbin/ods-signer update ZONE`, which talks to the default socket
//! /run/opendnssec/engine.sock. So each of the three runs in a private
//! mount namespace (unshare(1)) where `DIR/etc` is bound over
//! /etc/opendnssec and `DIR/run` over /run/opendnssec: the defaults then
//! point into the test's tree, nothing outside it is touched, and two
//! tests do not see each other. Outside, the clients are given the
//! sockets' real paths (`-s DIR/run/...sock`). SoftHSM2 reads its
//! configuration from `SOFTHSM2_CONF` (token directory in the tree).
//!
//! The KASP policy `test` has second-scale times (TTLs 2 s, propagation
//! and safety margins 1 s), ECDSA P-256 keys, NSEC and
//! `<Serial>keep</Serial>`, so that a ZSK rollover asked for with
//! `ods-enforcer key rollover` reaches "the new ZSK signs" within seconds
//! of real time, without `time leap` (the old key's removal, days later
//! by its signatures' validity, is not waited for).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::wait::{wait_for, within};

/// How long the daemons may take to start, or the enforcer to make keys.
const READY: Duration = Duration::from_secs(30);
/// The token's user PIN (also in conf.xml).
const PIN: &str = "1234";

/// One key as `ods-enforcer key list --verbose` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `KSK` or `ZSK`.
    pub keytype: String,
    /// `publish`, `ready`, `active`, `retire`...
    pub state: String,
    /// The key tag.
    pub tag: u16,
}

/// A running OpenDNSSEC signing one zone.
pub struct Ods {
    /// Its directory (conf in `etc/`, sockets in `run/`, logs).
    pub dir: PathBuf,
    /// The zone.
    pub zone: String,
    /// The file the zone's File input adapter reads.
    pub unsigned: PathBuf,
    /// The file its File output adapter writes.
    pub signed: PathBuf,
    /// The zone's signer configuration, rewritten by the enforcer.
    pub signconf: PathBuf,
    /// ods-signerd's socket (`ods-signer -s`).
    pub signer_socket: PathBuf,
    /// ods-enforcerd's socket (`ods-enforcer -s`).
    pub enforcer_socket: PathBuf,
    softhsm_conf: PathBuf,
    enforcer: Option<Child>,
    signer: Option<Child>,
}

impl Ods {
    /// Set up SoftHSM, the configuration and the database in `dir`, start
    /// both daemons, import the policy, add `zone` and wait until its keys
    /// exist and the signer knows it. Panics with the daemons' logs.
    pub fn start(dir: &Path, zone: &str) -> Ods {
        for d in [
            "etc", "run", "tokens", "enforcer", "signer", "signconf", "unsigned", "signed",
        ] {
            std::fs::create_dir_all(dir.join(d)).expect("ods dirs");
        }
        let d = dir.display();
        let softhsm_conf = dir.join("softhsm2.conf");
        std::fs::write(
            &softhsm_conf,
            format!(
                "directories.tokendir = {d}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            ),
        )
        .expect("softhsm2.conf");
        let mut ods = Ods {
            dir: dir.to_path_buf(),
            zone: zone.to_owned(),
            unsigned: dir.join("unsigned").join(zone),
            signed: dir.join("signed").join(zone),
            signconf: dir.join("signconf").join(format!("{zone}.xml")),
            signer_socket: dir.join("run/engine.sock"),
            enforcer_socket: dir.join("run/enforcer.sock"),
            softhsm_conf,
            enforcer: None,
            signer: None,
        };
        let init = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &ods.softhsm_conf)
            .args(["--init-token", "--free", "--label", "OpenDNSSEC"])
            .args(["--pin", PIN, "--so-pin", "5678"])
            .output()
            .expect("softhsm2-util (softhsm2)");
        assert!(init.status.success(), "softhsm2-util: {init:?}");
        std::fs::write(dir.join("etc/conf.xml"), conf_xml(dir)).expect("conf.xml");
        std::fs::write(dir.join("etc/kasp.xml"), KASP).expect("kasp.xml");
        std::fs::write(dir.join("etc/zonelist.xml"), zonelist_xml(&ods)).expect("zonelist.xml");
        // -f: yes to "this deletes the database" (there is none yet).
        let setup = ods.in_namespace("ods-enforcer-db-setup", &["-f"]).output();
        let setup = setup.expect("ods-enforcer-db-setup (opendnssec)");
        assert!(setup.status.success(), "ods-enforcer-db-setup: {setup:?}");
        ods.start_enforcer();
        ods.start_signer();
        ods.enforcer_ok(&["policy", "import"]);
        let (s, u, o) = (&ods.signconf, &ods.unsigned, &ods.signed);
        ods.enforcer_ok(&[
            "zone",
            "add",
            "--zone",
            zone,
            "--policy",
            "test",
            "--signerconf",
            &s.display().to_string(),
            "--input",
            &u.display().to_string(),
            "--output",
            &o.display().to_string(),
        ]);
        let keyed = within(READY, || {
            let keys = ods.keys();
            keys.iter().any(|k| k.keytype == "KSK") && keys.iter().any(|k| k.keytype == "ZSK")
        });
        assert!(
            keyed,
            "no keys for {zone}: {:?}\n{}",
            ods.keys(),
            ods.logs()
        );
        let known = within(READY, || {
            ods.signconf.exists() && ods.signer(&["zones"]).1.contains(zone)
        });
        assert!(known, "the signer does not know {zone}:\n{}", ods.logs());
        ods
    }

    /// `program args` in a private mount namespace where the tree's `etc`
    /// and `run` are OpenDNSSEC's fixed /etc/opendnssec and /run/opendnssec.
    fn in_namespace(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("unshare");
        // Unprivileged, a user namespace of our own gives the right to mount.
        if !nix::unistd::geteuid().is_root() {
            cmd.arg("-r");
        }
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                "mount --bind \"$1/etc\" /etc/opendnssec && mount --bind \"$1/run\" /run/opendnssec \
                 && shift && exec \"$@\"",
            )
            .arg("sh")
            .arg(&self.dir)
            .arg(program)
            .args(args)
            .env("SOFTHSM2_CONF", &self.softhsm_conf)
            .stdin(Stdio::null());
        cmd
    }

    fn daemon(&self, program: &str, log: &str) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(log))
            .expect("daemon log");
        // -d: in the foreground, our child (killed on drop); sh and
        // unshare exec it, so the child's pid is the daemon's.
        self.in_namespace(program, &["-d", "-v"])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    fn start_enforcer(&mut self) {
        self.enforcer = Some(self.daemon("ods-enforcerd", "enforcerd.log"));
        let up = within(READY, || self.enforcer(&["help"]).0);
        assert!(up, "ods-enforcerd did not start:\n{}", self.logs());
    }

    /// Start the signer daemon (again, after [`Ods::stop_signer`]).
    pub fn start_signer(&mut self) {
        self.signer = Some(self.daemon("ods-signerd", "signerd.log"));
        // Up, and the zone loaded again from the enforcer's zone list
        // (before that, `ods-signer sign` says the zone is not found).
        let up = within(READY, || {
            self.signer(&["running"]).0
                && (!self.signconf.exists() || self.signer(&["zones"]).1.contains(&self.zone))
        });
        assert!(up, "ods-signerd did not start:\n{}", self.logs());
    }

    /// Kill the signer daemon (a test of what a build does without it).
    pub fn stop_signer(&mut self) {
        if let Some(mut c) = self.signer.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its socket stays behind, as after a crash. Its pid file goes:
        // the signer refuses to start while the pid in it runs, and a
        // busy machine may have given that pid to another process.
        let _ = std::fs::remove_file(self.dir.join("run/signerd.pid"));
    }

    /// `ods-enforcer -s SOCK ARGS`: whether it succeeded, and its output.
    pub fn enforcer(&self, args: &[&str]) -> (bool, String) {
        client("ods-enforcer", &self.enforcer_socket, args)
    }

    /// `ods-signer -s SOCK ARGS`: whether it succeeded, and its output.
    pub fn signer(&self, args: &[&str]) -> (bool, String) {
        client("ods-signer", &self.signer_socket, args)
    }

    /// `ods-enforcer ARGS`, which must succeed; its output.
    #[track_caller]
    pub fn enforcer_ok(&self, args: &[&str]) -> String {
        let (ok, text) = self.enforcer(args);
        assert!(ok, "ods-enforcer {args:?}: {text}\n{}", self.logs());
        text
    }

    /// Ask the enforcer to roll the zone's ZSK now.
    pub fn rollover_zsk(&self) {
        self.enforcer_ok(&["key", "rollover", "--zone", &self.zone, "--keytype", "ZSK"]);
    }

    /// The zone's keys as the enforcer lists them.
    pub fn keys(&self) -> Vec<Key> {
        let (_, text) = self.enforcer(&["key", "list", "--verbose", "--zone", &self.zone]);
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                if f.first() != Some(&self.zone.as_str()) {
                    return None;
                }
                Some(Key {
                    keytype: f.get(1)?.to_string(),
                    state: f.get(2)?.to_string(),
                    tag: f.last()?.parse().ok()?,
                })
            })
            .collect()
    }

    /// The DNSKEY records of the KSKs in the signer's output, as a
    /// `trust-anchors` clause for delv (`-a FILE`).
    pub fn trust_anchors(&self) -> String {
        let text = std::fs::read_to_string(&self.signed).expect("signed zone");
        let mut out = String::from("trust-anchors {\n");
        for l in text.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() >= 8 && f[3] == "DNSKEY" && f[4] == "257" {
                let key: String = f[7..]
                    .iter()
                    .take_while(|w| !w.starts_with(';'))
                    .copied()
                    .collect();
                out.push_str(&format!(
                    "  {} static-key {} {} {} \"{key}\";\n",
                    f[0], f[4], f[5], f[6]
                ));
            }
        }
        out.push_str("};\n");
        out
    }

    /// Both daemons' logs so far.
    pub fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.join(n)).unwrap_or_default();
        format!(
            "--- enforcerd.log\n{}--- signerd.log\n{}",
            read("enforcerd.log"),
            read("signerd.log")
        )
    }

    /// Wait (bounded) until `probe` of the enforcer's key list holds.
    pub fn wait_keys<T>(&self, limit: Duration, probe: impl Fn(&[Key]) -> Option<T>) -> Option<T> {
        wait_for(limit, || probe(&self.keys()))
    }
}

impl Drop for Ods {
    fn drop(&mut self) {
        for c in [self.signer.take(), self.enforcer.take()]
            .into_iter()
            .flatten()
        {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn client(program: &str, socket: &Path, args: &[&str]) -> (bool, String) {
    match Command::new(program)
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.success(), text)
        }
        Err(e) => (false, format!("{program}: {e}")),
    }
}

fn conf_xml(dir: &Path) -> String {
    let d = dir.display();
    // The signer always listens (DNS adapters, notifies), by default on
    // localhost:15354: parallel tests each need a port of their own.
    let port = crate::ports::free_port();
    // Pid files and sockets keep their defaults (/run/opendnssec, which is
    // DIR/run in the namespace); no <Privileges>: the daemons stay the
    // user the test runs as. Logging without <Syslog> goes to stderr.
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Configuration>
 <RepositoryList>
  <Repository name="SoftHSM">
   <Module>/usr/lib/softhsm/libsofthsm2.so</Module>
   <TokenLabel>OpenDNSSEC</TokenLabel>
   <PIN>{PIN}</PIN>
   <SkipPublicKey/>
  </Repository>
 </RepositoryList>
 <Common>
  <Logging><Verbosity>3</Verbosity></Logging>
  <PolicyFile>/etc/opendnssec/kasp.xml</PolicyFile>
  <ZoneListFile>/etc/opendnssec/zonelist.xml</ZoneListFile>
 </Common>
 <Enforcer>
  <Datastore><SQLite>{d}/kasp.db</SQLite></Datastore>
  <AutomaticKeyGenerationPeriod>P1D</AutomaticKeyGenerationPeriod>
  <WorkingDirectory>{d}/enforcer</WorkingDirectory>
  <WorkerThreads>1</WorkerThreads>
 </Enforcer>
 <Signer>
  <WorkingDirectory>{d}/signer</WorkingDirectory>
  <WorkerThreads>1</WorkerThreads>
  <Listener><Interface><Address>127.0.0.1</Address><Port>{port}</Port></Interface></Listener>
 </Signer>
</Configuration>
"#
    )
}

/// The zone list as an operator would write it (the zone itself is added
/// with `ods-enforcer zone add`, which leaves this file alone).
fn zonelist_xml(ods: &Ods) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<ZoneList>
 <Zone name="{}">
  <Policy>test</Policy>
  <SignerConfiguration>{}</SignerConfiguration>
  <Adapters>
   <Input><Adapter type="File">{}</Adapter></Input>
   <Output><Adapter type="File">{}</Adapter></Output>
  </Adapters>
 </Zone>
</ZoneList>
"#,
        ods.zone,
        ods.signconf.display(),
        ods.unsigned.display(),
        ods.signed.display()
    )
}

const KASP: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<KASP>
 <Policy name="test">
  <Description>second-scale times, for tests only</Description>
  <Signatures>
   <Resign>PT1H</Resign>
   <Refresh>P1D</Refresh>
   <Validity><Default>P7D</Default><Denial>P7D</Denial></Validity>
   <Jitter>PT0S</Jitter>
   <InceptionOffset>PT3600S</InceptionOffset>
   <MaxZoneTTL>PT2S</MaxZoneTTL>
  </Signatures>
  <Denial><NSEC/></Denial>
  <Keys>
   <TTL>PT2S</TTL>
   <RetireSafety>PT1S</RetireSafety>
   <PublishSafety>PT1S</PublishSafety>
   <Purge>PT1H</Purge>
   <KSK><Algorithm length="256">13</Algorithm><Lifetime>P1Y</Lifetime><Repository>SoftHSM</Repository></KSK>
   <ZSK><Algorithm length="256">13</Algorithm><Lifetime>P30D</Lifetime><Repository>SoftHSM</Repository></ZSK>
  </Keys>
  <Zone>
   <PropagationDelay>PT1S</PropagationDelay>
   <SOA><TTL>PT2S</TTL><Minimum>PT2S</Minimum><Serial>keep</Serial></SOA>
  </Zone>
  <Parent>
   <PropagationDelay>PT1S</PropagationDelay>
   <DS><TTL>PT2S</TTL></DS>
   <SOA><TTL>PT2S</TTL><Minimum>PT2S</Minimum></SOA>
  </Parent>
 </Policy>
</KASP>
"#;
