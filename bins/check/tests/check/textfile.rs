//! The Prometheus textfile: written atomically where check.toml says (or
//! --prometheus), accepted by `promtool check metrics` (the Debian
//! prometheus package's linter: names, HELP, TYPE, units), and scraped by
//! a real prometheus-node-exporter through its textfile collector.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use certdrop_testkit::nginx::{Nginx, Server};
use certdrop_testkit::{free_port, wait_for, Proc};

use crate::site::Site;

/// `promtool check metrics` on a file's text: its exit code and output.
fn promtool(text: &str) -> (i32, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), said)
}

/// GET /metrics over a plain TcpStream (HTTP/1.0: the body ends at close).
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.0 200").then_some(body)
}

/// The value of the sample whose name and labels are exactly `series`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn promtool_accepts_it_and_node_exporter_scrapes_it() {
    let site = Site::new();
    site.line("www", "www.example.test", 60);
    site.publish("www");
    site.line("mail", "mail.example.test", 10);
    site.write(
        "state/mail.json",
        "{\"failures\": 2, \"last_error\": \"a \\\"quoted\\\" cause\", \"retry_not_before\": 4102444800}",
    );
    let port = free_port();
    let _nginx = Nginx::start(
        &site.path("nginx"),
        &[Server::new(
            port,
            "www.example.test",
            &site.path("pub/www/fullchain.pem"),
            &site.path("pki/www.key"),
        )],
    );
    std::fs::create_dir(site.path("metrics")).expect("metrics dir");
    site.config(&format!(
        "textfile = \"metrics/certdrop.prom\"\n\
         [[line]]\nname = \"www\"\nendpoint = [{{ connect = \"127.0.0.1:{port}\", sni = \"www.example.test\" }}]\n\
         [[line]]\nname = \"mail\"\n"
    ));
    // mail is unpublished: CRITICAL, 65; the file is written all the same.
    site.check(&["run"]).expect(65);
    let file = site.path("metrics/certdrop.prom");
    let text = site.read_text("metrics/certdrop.prom");
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    assert_eq!(
        site.listing("metrics"),
        vec!["certdrop.prom"],
        "no temporary file left"
    );

    let (code, said) = promtool(&text);
    assert_eq!((code, said.as_str()), (0, ""), "promtool on:\n{text}");
    for help in [
        "# HELP certdrop_certificate_expiry_timestamp_seconds ",
        "# TYPE certdrop_certificate_expiry_timestamp_seconds gauge",
        "# TYPE certdrop_served_matches_published gauge",
        "# TYPE certdrop_tlsa_match gauge",
        "# TYPE certdrop_issuer_failures gauge",
        "# TYPE certdrop_check_success gauge",
    ] {
        assert!(text.contains(help), "{help} missing:\n{text}");
    }
    let served = format!("endpoint=\"www.example.test@127.0.0.1:{port}\",line=\"www\"");
    let certs_expiry = value(
        &text,
        "certdrop_certificate_expiry_timestamp_seconds{line=\"www\",source=\"certs\"}",
    )
    .expect("certs expiry");
    assert_eq!(
        value(
            &text,
            &format!("certdrop_certificate_expiry_timestamp_seconds{{{served},source=\"served\"}}")
        ),
        Some(certs_expiry)
    );
    assert_eq!(
        value(
            &text,
            &format!("certdrop_served_matches_published{{{served}}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&text, &format!("certdrop_probe_success{{{served}}}")),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "certdrop_issuer_failures{line=\"mail\"}"),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            "certdrop_issuer_retry_not_before_timestamp_seconds{line=\"mail\"}"
        ),
        Some(4102444800.0)
    );
    assert_eq!(
        value(&text, "certdrop_line_status{line=\"mail\"}"),
        Some(2.0)
    );
    assert_eq!(value(&text, "certdrop_check_success"), Some(1.0));

    // A real node_exporter with only the textfile collector, on loopback.
    let listen = free_port();
    let _exporter = Proc(
        Command::new("prometheus-node-exporter")
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!(
                "--collector.textfile.directory={}",
                site.path("metrics").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{listen}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter"),
    );
    let scraped =
        wait_for(Duration::from_secs(20), || scrape(listen)).expect("node_exporter answers");
    assert_eq!(
        value(&scraped, "node_textfile_scrape_error"),
        Some(0.0),
        "{scraped}"
    );
    // Go prints large numbers in exponent form: compare values, not text;
    // the exporter gives every series of a family the same label names
    // (endpoint="" where the file has none, which Prometheus drops again).
    assert_eq!(
        value(
            &scraped,
            "certdrop_certificate_expiry_timestamp_seconds{endpoint=\"\",line=\"www\",source=\"certs\"}"
        ),
        Some(certs_expiry),
        "{scraped}"
    );
    assert_eq!(
        value(&scraped, "certdrop_issuer_failures{line=\"mail\"}"),
        Some(2.0)
    );

    // The next run replaces the file in one step; a look that fails says so.
    std::fs::rename(site.path("certs"), site.path("certs.away")).expect("hide certs");
    site.config("textfile = \"metrics/certdrop.prom\"\n");
    site.check(&["run"]).expect(66);
    let text = site.read_text("metrics/certdrop.prom");
    assert_eq!(value(&text, "certdrop_check_success"), Some(0.0), "{text}");
    assert_eq!(promtool(&text).0, 0);
    let scraped = wait_for(Duration::from_secs(20), || {
        scrape(listen).filter(|s| value(s, "certdrop_check_success") == Some(0.0))
    });
    assert!(scraped.is_some(), "node_exporter never saw the new file");
    std::fs::rename(site.path("certs.away"), site.path("certs")).expect("certs back");

    // --prometheus FILE: with the plugin too (which otherwise writes none).
    site.check(&["nagios"]).expect(2);
    let other = site.path("metrics/other.prom");
    site.check(&["nagios", "--prometheus", other.to_str().expect("utf-8")])
        .expect(2);
    assert_eq!(
        promtool(&std::fs::read_to_string(&other).expect("other")).0,
        0
    );
    // A directory that does not exist: 73.
    site.config("textfile = \"nowhere/certdrop.prom\"\n");
    site.check(&["run", "www"])
        .expect(73)
        .stderr_has("nowhere/certdrop.prom");
}
