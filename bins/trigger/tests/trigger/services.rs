//! What the shipped definitions' tests against real servers share: the
//! `[[service]]` that names a shipped definition and points its keys at
//! the test's own server, and an independent look at what a server serves
//! (`openssl s_client`, STARTTLS included), so that the tests see the
//! certificate with other eyes than the trigger's post-flight.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use certdrop_testkit::{wait_for, Run};

use crate::harness::NAME;

/// How long a server may take to serve a new certificate after its
/// action returned (new workers start in the background).
const SETTLE: Duration = Duration::from_secs(10);

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
    format!("[{{ connect = \"{addr}\", sni = \"{NAME}\" }}]")
}

/// The leaf served for NAME at `addr`, DER, as `openssl s_client` sees it
/// (`-starttls proto` first when given); None when there is no handshake.
pub fn served(addr: SocketAddr, starttls: Option<&str>) -> Option<Vec<u8>> {
    let starttls = starttls.map_or(String::new(), |p| format!(" -starttls {p}"));
    let ran = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -servername {NAME}{starttls} </dev/null 2>/dev/null \
             | openssl x509 -outform PEM"
        ))
        .ran_within(Duration::from_secs(10));
    (ran.code == 0)
        .then(|| pem::parse(&ran.stdout).ok())
        .flatten()
        .map(|p| p.into_contents())
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
