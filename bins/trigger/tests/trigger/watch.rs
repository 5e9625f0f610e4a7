//! `watch`: the first round deploys, a publication under pub/ is deployed
//! within moments (debounced events, the same run as `run`), SIGTERM ends
//! it with exit 0.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{free_port, Tree, NAME};
use crate::nginx::Nginx;

#[test]
fn watch_deploys_what_is_published_and_stops_on_sigterm() {
    let tree = Tree::new();
    let first = tree.valid("www", NAME);
    tree.publish("www", &first);
    let nginx = Nginx::start(
        &tree,
        free_port(),
        &tree.path("pub/www/fullchain.pem"),
        &tree.path("keys/www.pem"),
    );
    tree.config(&format!(
        "files = [{{ cert = \"pub/www/fullchain.pem\", key = \"keys/www.pem\" }}]\n\
         pidfile = \"{}\"\npreflight = \"{}\"\nreload = \"kill -HUP $(cat {{pidfile}})\"\n\
         rule = \"content-changed\"\npostflight = [{{ connect = \"{}\", sni = \"{NAME}\" }}]\n",
        nginx.pidfile().display(),
        nginx.test_command(),
        nginx.addr()
    ));
    let config = tree.path("trigger.toml");
    let child = Command::new(env!("CARGO_BIN_EXE_certdrop-trigger"))
        .arg("-c")
        .arg(&config)
        .args(["watch", "--interval", "1h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    // Stopped by its pid even if an assertion fails below.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(child);
    // The state file of the first round.
    let state = tree.path("state/www.json");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !state.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "first round did not deploy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = tree.valid("www", NAME);
    tree.publish("www", &second);
    nginx.assert_serves(&second.der);
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let out = std::mem::replace(
        &mut child.0,
        Command::new("true").spawn().expect("placeholder"),
    )
    .wait_with_output()
    .expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("www: reloaded, served: no deployment recorded yet"));
    assert!(lines[1].starts_with("www: reloaded, served: content changed"));
}
