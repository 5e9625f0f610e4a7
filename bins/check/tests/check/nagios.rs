//! The Nagios/Icinga plugin (`nagios`, `--nagios`) against the plugin
//! guidelines: one status line `CERTDROP STATE - text`, performance data
//! `'label'=value[UOM];[warn];[crit];[min];[max]`, exit 0 OK, 1 WARNING,
//! 2 CRITICAL, 3 UNKNOWN; built from real certificates of chosen
//! lifetimes, and an endpoint served by a real nginx.

use certdrop_testkit::free_port;
use certdrop_testkit::nginx::{Nginx, Server};

use crate::site::{check, Ran, Site};

/// Check one performance data item against the guidelines' syntax.
fn perf_item(item: &str) -> Result<(), String> {
    let (label, rest) = match item.strip_prefix('\'') {
        Some(quoted) => {
            let end = quoted.find("'=").ok_or("quoted label without '=")?;
            (&quoted[..end], &quoted[end + 2..])
        }
        None => item.split_once('=').ok_or("no =")?,
    };
    if label.is_empty() || label.contains(['\'', '=']) {
        return Err(format!("bad label {label:?}"));
    }
    let fields: Vec<&str> = rest.split(';').collect();
    if fields.len() > 5 {
        return Err(format!("{} fields", fields.len()));
    }
    let value = fields[0];
    let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
    let uom = &value[number.len()..];
    if !(value == "U"
        || number.parse::<f64>().is_ok()
            && ["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"].contains(&uom))
    {
        return Err(format!("bad value {value:?}"));
    }
    // warn and crit are ranges: [@][start:][end], start may be ~.
    for range in fields.iter().skip(1).take(2) {
        let r = range.strip_prefix('@').unwrap_or(range);
        let ok = r.is_empty()
            || r.split_once(':')
                .map_or(r.parse::<f64>().is_ok(), |(a, b)| {
                    (a.is_empty() || a == "~" || a.parse::<f64>().is_ok())
                        && (b.is_empty() || b.parse::<f64>().is_ok())
                });
        if !ok {
            return Err(format!("bad range {range:?}"));
        }
    }
    for bound in fields.iter().skip(3) {
        if !bound.is_empty() && bound.parse::<f64>().is_err() {
            return Err(format!("bad min/max {bound:?}"));
        }
    }
    Ok(())
}

/// The plugin's output: exactly one line, its state word matching the exit
/// code, valid performance data; returns (text, perfdata items).
#[track_caller]
fn plugin(ran: &Ran, code: i32) -> (String, Vec<String>) {
    let word = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][code as usize];
    assert_eq!(ran.code, code, "{}{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.stdout.matches('\n').count(),
        1,
        "one line: {}",
        ran.stdout
    );
    let line = ran.stdout.trim_end_matches('\n');
    let prefix = format!("CERTDROP {word} - ");
    assert!(line.starts_with(&prefix), "{line}");
    let (text, perf) = line.split_once(" | ").unwrap_or((line, ""));
    assert!(!text.contains('|'), "{line}");
    let items: Vec<String> = perf
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    for i in &items {
        perf_item(i).unwrap_or_else(|e| panic!("perfdata {i:?}: {e}"));
    }
    (text[prefix.len()..].to_string(), items)
}

#[test]
fn perf_item_syntax_is_checked() {
    assert!(perf_item("'www'=29.99;21:;7:;;").is_ok());
    assert!(perf_item("time=0.5s;1;2;0;10").is_ok());
    assert!(perf_item("'a b'=U;;;;").is_ok());
    assert!(perf_item("www=x;;").is_err());
    assert!(perf_item("'www'=1;2;3;4;5;6").is_err());
    assert!(perf_item("'w'w'=1").is_err());
    assert!(perf_item("www=1;a:b").is_err());
}

#[test]
fn ok_warning_critical_unknown() {
    let site = Site::new();
    site.line("www", "www.example.test", 60);
    site.publish("www");
    site.line("mail", "mail.example.test", 45);
    site.publish("mail");
    site.config("");
    let (text, perf) = plugin(&site.check(&["nagios"]), 0);
    assert!(
        text.starts_with("2 line(s) ok, soonest expiry: mail in 4"),
        "{text}"
    );
    assert_eq!(perf.len(), 2);
    assert!(
        perf[0].starts_with("'mail'=44.9") || perf[0].starts_with("'mail'=45.00"),
        "{perf:?}"
    );
    assert!(perf[0].ends_with(";21:;7:;;"), "{perf:?}");
    // --nagios is the same.
    plugin(&site.check(&["--nagios"]), 0);

    // 10 days left in the store and pub/: WARNING.
    site.line("mail", "mail.example.test", 10);
    site.publish("mail");
    let (text, _) = plugin(&site.check(&["nagios"]), 1);
    assert!(
        text.starts_with("1 warning, 1 ok: mail: certs/: expires in "),
        "{text}"
    );
    // Only www asked: OK.
    plugin(&site.check(&["nagios", "www"]), 0);

    // 3 days: CRITICAL, and it outranks the other line's warning.
    site.line("www", "www.example.test", 3);
    site.publish("www");
    let (text, perf) = plugin(&site.check(&["nagios"]), 2);
    assert!(
        text.starts_with("1 critical, 1 warning: www: certs/"),
        "{text}"
    );
    assert!(
        perf[1].starts_with("'www'=2.9") || perf[1].starts_with("'www'=3.00"),
        "{perf:?}"
    );
    // Thresholds from check.toml.
    site.config("warning = 2\ncritical = 1\n");
    let (_, perf) = plugin(&site.check(&["nagios"]), 0);
    assert!(perf[0].ends_with(";2:;1:;;"), "{perf:?}");
    // ... and from the command line, which wins.
    let (_, perf) = plugin(&site.check(&["nagios", "-w", "30", "--critical", "12"]), 2);
    assert!(perf[0].ends_with(";30:;12:;;"), "{perf:?}");
    let (text, _) = plugin(&site.check(&["nagios", "--critical", "5"]), 3);
    assert!(
        text.contains("critical: 5 days: more than warning (2)"),
        "{text}"
    );

    // UNKNOWN: no configuration, a bad one, a usage error, no line at all.
    let missing = site.path("nowhere.toml").display().to_string();
    let (text, _) = plugin(&check(&["-c", &missing, "nagios"]), 3);
    assert!(text.contains("nowhere.toml: cannot read"), "{text}");
    site.config("colour = 1\n");
    plugin(&site.check(&["nagios"]), 3);
    let (text, _) = plugin(&site.check(&["nagios", "--bogus"]), 3);
    assert!(text.contains("--bogus"), "{text}");
    let empty = Site::new();
    empty.config("");
    let (text, perf) = plugin(&empty.check(&["nagios"]), 3);
    assert_eq!(text, "no certificate line found");
    assert!(perf.is_empty());
    // A state file that cannot be read: UNKNOWN for that line.
    site.config("");
    site.write("state/www.json", "[]");
    let (text, _) = plugin(&site.check(&["nagios", "mail"]), 1);
    assert!(text.contains("mail"), "{text}");
    site.line("www", "www.example.test", 60);
    site.publish("www");
    let (text, _) = plugin(&site.check(&["nagios", "www"]), 3);
    assert!(text.contains("www: issuer state: "), "{text}");
}

#[test]
fn served_by_nginx_against_published() {
    let site = Site::new();
    site.line("www", "www.example.test", 60);
    site.publish("www");
    let port = free_port();
    let key = site.path("pki/www.key");
    // nginx serves the published chain.
    let nginx = Nginx::start(
        &site.path("nginx"),
        &[Server::new(
            port,
            "www.example.test",
            &site.path("pub/www/fullchain.pem"),
            &key,
        )],
    );
    let endpoint = format!(
        "[[line]]\nname = \"www\"\nendpoint = [{{ connect = \"127.0.0.1:{port}\", sni = \"www.example.test\" }}]\n"
    );
    site.config(&endpoint);
    let (text, perf) = plugin(&site.check(&["nagios"]), 0);
    assert!(text.starts_with("1 line(s) ok"), "{text}");
    assert_eq!(perf.len(), 1);
    let v = site.json(&[], 0);
    let e = &v["lines"][0]["endpoints"][0];
    assert_eq!(e["endpoint"], format!("www.example.test@127.0.0.1:{port}"));
    assert_eq!(e["matches_published"], true);
    assert_eq!(e["protocol"], "tls");
    assert_eq!(
        e["served"]["cert"]["sha256"],
        v["lines"][0]["pub"]["cert"]["sha256"]
    );

    // A renewal published; nginx still serves the old certificate (it
    // holds it in memory): WARNING, the endpoint named.
    std::fs::copy(site.path("pub/www/fullchain.pem"), site.path("served.pem")).expect("keep");
    site.line("www", "www.example.test", 90);
    site.publish("www");
    let (text, _) = plugin(&site.check(&["nagios"]), 1);
    assert_eq!(
        text,
        format!(
            "1 warning: www: www.example.test@127.0.0.1:{port} serves a certificate other than the published one"
        )
    );
    // Nothing listening: CRITICAL, the probe's one-line reason.
    drop(nginx);
    let (text, _) = plugin(&site.check(&["nagios"]), 2);
    assert!(
        text.starts_with(&format!(
            "1 critical: www: served at www.example.test@127.0.0.1:{port}: "
        )),
        "{text}"
    );
    assert!(text.contains("refused"), "{text}");
}
