//! What the shipped definitions' tests against real servers share: the
//! `[[service]]` that names a shipped definition and points its keys at
//! the test's own server, and a look of their own at what a server serves
//! (certdrop-probe, STARTTLS included), apart from the trigger's
//! post-flight.

use std::net::SocketAddr;
use std::time::Duration;

use certdrop_probe::{fetch_chain, Limits, Protocol, Target};
use certdrop_testkit::wait_for;

use crate::harness::NAME;

/// How long a server may take to serve a new certificate after its
/// action returned (new workers start in the background).
const SETTLE: Duration = Duration::from_secs(30);

/// A `[[service]]` body: the shipped `definition` with `keys` (name, TOML
/// value) overriding its own, as a site that runs the server elsewhere
/// would write them.
pub fn shipped(definition: &str, keys: &[(&str, String)]) -> String {
    let mut body = format!("definition = {}\n", quoted(definition));
    for (k, v) in keys {
        body.push_str(&format!("{k} = {v}\n"));
    }
    body
}

/// trigger.toml for `service` with postflight_wait `wait`: how long a
/// reload is given before it is called not taken (short where a test
/// waits it out).
pub fn config_waiting(tree: &crate::harness::Tree, service: &str, wait: &str) {
    let path = tree.config(service);
    let text = std::fs::read_to_string(&path).expect("trigger.toml");
    assert!(text.contains("postflight_wait = \"5s\""), "{text}");
    let text = text.replace(
        "postflight_wait = \"5s\"",
        &format!("postflight_wait = \"{wait}\""),
    );
    std::fs::write(&path, text).expect("trigger.toml");
}

/// `s` as a TOML basic string.
pub fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A discover table: `parser` reading `command`'s output.
pub fn discover_command(parser: &str, command: &str) -> String {
    format!(
        "{{ parser = {}, command = {} }}",
        quoted(parser),
        quoted(command)
    )
}

/// A discover table: `parser` reading the file `file`.
pub fn discover_file(parser: &str, file: &std::path::Path) -> String {
    format!(
        "{{ parser = {}, file = {} }}",
        quoted(parser),
        quoted(&file.display().to_string())
    )
}

/// One post-flight endpoint for NAME at `addr` (implicit TLS).
pub fn postflight(addr: SocketAddr) -> String {
    endpoints(&[(addr, None)])
}

/// Post-flight endpoints for NAME: each address with its `protocol` key
/// ("smtp", "imap", ...), or none (the port's usual one: implicit TLS on
/// a high port).
pub fn endpoints(list: &[(SocketAddr, Option<&str>)]) -> String {
    let tables: Vec<String> = list
        .iter()
        .map(|(addr, protocol)| match protocol {
            Some(p) => format!("{{ connect = \"{addr}\", sni = \"{NAME}\", protocol = \"{p}\" }}"),
            None => format!("{{ connect = \"{addr}\", sni = \"{NAME}\" }}"),
        })
        .collect();
    format!("[{}]", tables.join(", "))
}

/// The leaf served for NAME at `addr`, DER, as certdrop-probe sees it
/// (`starttls`: the protocol's dialogue first, e.g. "smtp"); None when
/// there is no handshake.
pub fn served(addr: SocketAddr, starttls: Option<&str>) -> Option<Vec<u8>> {
    let protocol = Protocol::from_name(starttls.unwrap_or("tls")).expect("a protocol name");
    let target = Target {
        connect: addr,
        server_name: NAME,
        protocol,
    };
    fetch_chain(&target, &Limits::default())
        .ok()
        .and_then(|served| served.certs.into_iter().next())
}

/// The first run against a server started with the published files: the
/// trigger finds `cert` and `key` in the server's own configuration, acts
/// (no deployment recorded yet) and its post-flight sees them served;
/// `want` is the leaf served at `addr` afterwards.
#[track_caller]
pub fn first_run(
    tree: &crate::harness::Tree,
    (cert, key): (&std::path::Path, &std::path::Path),
    (addr, starttls): (SocketAddr, Option<&str>),
    want: &[u8],
    what: &str,
) {
    let ran = tree.run(&["-vv", "run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    ran.stderr_has(&format!(
        "www: found {} key {}",
        cert.display(),
        key.display()
    ));
    assert_serves(addr, starttls, want, what);
}

/// Wait until the leaf served at `addr` is `want`; `what` names the server.
#[track_caller]
pub fn assert_serves(addr: SocketAddr, starttls: Option<&str>, want: &[u8], what: &str) {
    let mut last = None;
    let ok = wait_for(SETTLE, || {
        last = served(addr, starttls);
        (last.as_deref() == Some(want)).then_some(())
    });
    assert!(
        ok.is_some(),
        "{what} at {addr} does not serve the expected certificate (it serves {})",
        match last {
            Some(_) => "another one",
            None => "nothing",
        }
    );
}

/// A daemon a test's action started (a restart), stopped on drop by
/// SIGTERM to the pid in this pid file.
pub struct PidFile(pub std::path::PathBuf);

impl Drop for PidFile {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|t| t.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}
