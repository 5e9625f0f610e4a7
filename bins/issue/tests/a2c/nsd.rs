//! dns-01 through the real path against acme2certifier: the issuer's
//! fragments in dnsextra/, `certdrop-zone watch` building the zone, nsd
//! serving it on port 53 of the namespace, and acme2certifier resolving
//! from that nsd, for dns-01 (a wildcard too) and for the address of an
//! http-01 name.

use std::process::Command;
use std::time::Duration;

use certdrop_testkit::a2c::A2cOpts;
use certdrop_testkit::nsd::Nsd;
use certdrop_testkit::tree::write;
use certdrop_testkit::{bin, within, Proc, Run};

use crate::site::{openssl_names, Site};

const ZONE: &str = "example.test";

/// acme2certifier without challtestsrv, nsd on port 53 in its place, and
/// `certdrop-zone watch` serving the zone (its first build served).
fn site() -> (Site, Nsd, Proc) {
    let site = Site::new(A2cOpts {
        challtestsrv: false,
        ..A2cOpts::default()
    });
    let d = site.dir.root();
    for sub in ["certs", "phonehome", "zones", "build"] {
        std::fs::create_dir_all(d.join(sub)).expect("mkdir");
    }
    write(
        d,
        "soa",
        &format!("$TTL 60\n@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 900 1209600 1 )\n"),
    );
    write(
        d,
        "primary",
        "@ NS ns1\nns1 A 127.0.0.1\nwww A 127.0.0.1\nweb A 127.0.0.1\n",
    );
    let nsd = site.a2c.nsd(&d.join("nsd"), &d.join("zones"), &[ZONE]);
    write(
        d,
        "zone.toml",
        &format!(
            "build = \"build\"\ninstall = \"zones\"\ndnsextra = \"dnsextra\"\ncerts = \"certs\"\n\
             phonehome = \"phonehome\"\nreload = {}\n[[zone]]\nname = \"{ZONE}\"\nsoa = \"soa\"\n\
             primary = \"primary\"\nsigner = \"none\"\nttl = 60\n",
            nsd.reload_command()
        ),
    );
    // The watcher needs no network: files, and nsd-control on a socket.
    let watch = Command::new(bin("certdrop-zone"))
        .arg("-c")
        .arg(d.join("zone.toml"))
        .args(["-v", "watch", "--log", "stderr"])
        .logged(&d.join("watch.log"));
    let served = site.a2c.enter(|| nsd.wait_serial_change(ZONE, None));
    assert!(
        served.is_some(),
        "zone not served: {}",
        std::fs::read_to_string(d.join("watch.log")).unwrap_or_default()
    );
    (site, nsd, watch)
}

#[test]
fn dns01_and_http01_resolved_through_the_zone_compiler_and_nsd() {
    let (mut site, nsd, _watch) = site();
    site.line(
        "name = \"www\"\ndomains = [\"www.example.test\", \"example.test\", \"*.example.test\"]",
    );
    site.http_line("web", "");
    let ran = site.run(&["run", "-v"]).expect(0);
    ran.stdout_has("www: certificate issued");
    ran.stdout_has("web: certificate issued");
    // The values were seen on nsd before acme2certifier was told.
    ran.stderr_has("visible on 1 server(s)");
    assert_eq!(
        openssl_names(&site.path("certs/www/cert.pem")),
        ["*.example.test", "example.test", "www.example.test"]
    );
    site.openssl_verify("www");
    site.openssl_verify("web");
    // http-01 went to the address nsd gave for web: port 80 in the namespace.
    let hits = site.web.as_ref().expect("web").hits();
    assert!(hits.iter().any(|(_, status)| *status == 200), "{hits:?}");
    // The fragments are gone, and the watcher took them out of the zone.
    assert!(site.listing("dnsextra").is_empty());
    let gone = site.a2c.enter(|| {
        within(Duration::from_secs(10), || {
            nsd.ask("TXT", "_acme-challenge.www.example.test", false)
                .is_empty()
        })
    });
    assert!(gone, "challenge records still served");
}
