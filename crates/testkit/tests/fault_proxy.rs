//! `certdrop-fault-proxy`, the program the fault benchmark starts: in
//! front of a real Pebble, its directory URL on the first line, the random
//! mode from its flags and `rate` command, counters from `stats`.
#![cfg(feature = "pebble")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use certdrop_testkit::pebble::{https_get, Pebble, PebbleOpts};

const BIN: &str = env!("CARGO_BIN_EXE_certdrop-fault-proxy");

#[test]
fn faults_at_its_rate_counts_and_stops_at_end_of_input() {
    let pebble = Pebble::start(PebbleOpts::default());
    let mut child = Command::new(BIN)
        .args([
            "--upstream",
            &pebble.directory_url,
            "--rate",
            "100",
            "--faults",
            "503",
        ])
        .arg("--cert")
        .arg(pebble.dir.join("cert.pem"))
        .arg("--key")
        .arg(pebble.dir.join("key.pem"))
        .arg("--ca")
        .arg(&pebble.ca_bundle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start certdrop-fault-proxy");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut line = move || lines.next().expect("a line").expect("read a line");
    let url = line();
    assert!(
        url.starts_with("https://127.0.0.1:") && url.ends_with("/dir"),
        "{url}"
    );

    let (status, _) = https_get(&url, &pebble.ca_bundle).expect("GET /dir");
    assert_eq!(status, 503);
    writeln!(stdin, "rate 0 7").expect("command");
    assert_eq!(line(), "ok");
    let (status, body) = https_get(&url, &pebble.ca_bundle).expect("GET /dir");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    writeln!(stdin, "stats").expect("command");
    let stats = line();
    for want in [
        "\"requests\": 2",
        "\"seen\": {\"Directory\": 2}",
        "\"faults\": {\"503\": 1}",
        ", \"Directory\", \"503\"]]",
        "\"certificates_issued\": 0",
        "\"errors\": []",
        "\"bad_nonces\": []",
    ] {
        assert!(stats.contains(want), "{want} in {stats}");
    }
    writeln!(stdin, "rate 101 1").expect("command");
    assert!(line().starts_with("error: rate: 101"));
    drop(stdin);
    assert!(
        line().contains("\"requests\": 0"),
        "counted afresh after stats"
    );
    assert!(child.wait().expect("wait").success());
}

#[test]
fn a_bad_argument_is_a_usage_error() {
    let out = Command::new(BIN)
        .args(["--upstream", "https://127.0.0.1:1/dir", "--faults", "stall"])
        .output()
        .expect("run certdrop-fault-proxy");
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("certdrop-fault-proxy: arguments: --cert: missing"),
        "{err}"
    );
}
