//! Alternate chains (RFC 8555 §7.4.2) against Pebble: all of it is the real
//! CA's (Pebble 2.4 makes `PEBBLE_ALTERNATE_ROOTS` more roots, each with its
//! own chain to the same leaf, and names them with `Link: rel="alternate"`
//! on the certificate download; `PEBBLE_CHAIN_LENGTH` sets how many
//! certificates a chain has, root included). No proxy.

use certdrop_testkit::pebble::PebbleOpts;

use crate::site::{openssl, Site};

/// Pebble with these chain knobs.
fn site(env: &[(&str, &str)]) -> Site {
    Site::new(PebbleOpts {
        extra_env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PebbleOpts::default()
    })
}

/// The common name of Pebble's root number `n` (`/roots/n` of its
/// management API; 0 is the default chain's).
fn root_cn(site: &Site, n: usize) -> String {
    let (status, pem) = site
        .pebble
        .management_get(&format!("/roots/{n}"))
        .expect("management API");
    assert_eq!(status, 200, "root {n}");
    let file = site.path(&format!("root-{n}.pem"));
    std::fs::write(&file, pem).expect("write root");
    cn_of(&openssl(
        &["x509", "-noout", "-subject", "-nameopt", "multiline", "-in"],
        &file,
    ))
}

fn cn_of(multiline: &str) -> String {
    multiline
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("commonName")
                .map(|v| v.trim().trim_start_matches('=').trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no commonName in {multiline}"))
}

/// Issuer CNs of every certificate of `certs/<line>/chain.pem`, bottom up.
fn chain_issuers(site: &Site, line: &str) -> Vec<String> {
    let text = String::from_utf8(site.read(&format!("certs/{line}/chain.pem"))).expect("utf8");
    let mut issuers = Vec::new();
    for (i, block) in text
        .split_inclusive("-----END CERTIFICATE-----\n")
        .enumerate()
    {
        let file = site.path(&format!("{line}-chain-{i}.pem"));
        std::fs::write(&file, block).expect("write");
        issuers.push(cn_of(&openssl(
            &["x509", "-noout", "-issuer", "-nameopt", "multiline", "-in"],
            &file,
        )));
    }
    issuers
}

/// `certs/<line>` verifies against root `n` alone.
fn verifies_against(site: &Site, line: &str, n: usize) {
    let root = site.path(&format!("root-{n}.pem"));
    openssl(
        &[
            "verify",
            "-CAfile",
            &root.to_string_lossy(),
            "-untrusted",
            &site
                .path(&format!("certs/{line}/chain.pem"))
                .to_string_lossy(),
        ],
        &site.path(&format!("certs/{line}/cert.pem")),
    );
}

#[test]
fn preferred_chain_picks_an_alternate_root_or_keeps_the_default() {
    let mut site = site(&[("PEBBLE_ALTERNATE_ROOTS", "2")]);
    let roots: Vec<String> = (0..3).map(|n| root_cn(&site, n)).collect();
    // The CA section's default for every line, a line's own, and a name
    // no chain has.
    site.head = format!("preferred_chain = \"{}\"\n", roots[2]);
    site.http_line("top", "");
    site.http_line("own", &format!("preferred_chain = \"{}\"", roots[1]));
    site.http_line("none", "preferred_chain = \"No Such Root CA\"");
    let ran = site.run(&["run", "-v"]).expect(0);
    assert_eq!(chain_issuers(&site, "top").last(), Some(&roots[2]));
    assert_eq!(chain_issuers(&site, "own").last(), Some(&roots[1]));
    assert_eq!(chain_issuers(&site, "none").last(), Some(&roots[0]));
    verifies_against(&site, "top", 2);
    verifies_against(&site, "own", 1);
    verifies_against(&site, "none", 0);
    for line in ["top", "own", "none"] {
        let full =
            String::from_utf8(site.read(&format!("certs/{line}/fullchain.pem"))).expect("utf8");
        let cert = String::from_utf8(site.read(&format!("certs/{line}/cert.pem"))).expect("utf8");
        let chain = String::from_utf8(site.read(&format!("certs/{line}/chain.pem"))).expect("utf8");
        assert_eq!(full, format!("{cert}{chain}"), "{line}");
    }
    let said = |what: &str| assert!(ran.stderr.contains(what), "{what}\n{}", ran.stderr);
    said("own: chain: the alternate https://");
    said(&format!(
        "its top certificate issued by '{}' as preferred",
        roots[1]
    ));
    said(&format!(
        "its top certificate issued by '{}' as preferred",
        roots[2]
    ));
    said("none: chain: none of the 3 chain(s) the CA offers has a top certificate issued by 'No Such Root CA'");
    said(&format!("'{}' (default)", roots[0]));
    // The preferred name is the default's: no alternate is fetched.
    site.head = format!("preferred_chain = \"{}\"\n", roots[0]);
    let ran = site.run(&["issue", "--force", "top", "-v"]).expect(0);
    assert!(
        ran.stderr.contains("top: chain: the CA's default chain"),
        "{}",
        ran.stderr
    );
    assert_eq!(chain_issuers(&site, "top").last(), Some(&roots[0]));
}

#[test]
fn a_longer_chain_is_kept_whole_from_the_alternate() {
    let mut site = site(&[
        ("PEBBLE_CHAIN_LENGTH", "3"),
        ("PEBBLE_ALTERNATE_ROOTS", "1"),
    ]);
    let roots: Vec<String> = (0..2).map(|n| root_cn(&site, n)).collect();
    assert_ne!(roots[0], roots[1]);
    site.http_line("long", &format!("preferred_chain = \"{}\"", roots[1]));
    site.run(&["run"]).expect(0);
    // Pebble 2.4 puts three certificates above the leaf with this knob
    // (`Intermediate #1`, `#2`, then the one the root issued; the root is
    // not sent): all of them kept, the top one issued by the alternate root.
    let issuers = chain_issuers(&site, "long");
    assert_eq!(issuers.len(), 3, "{issuers:?}");
    assert_eq!(issuers.last(), Some(&roots[1]));
    verifies_against(&site, "long", 1);
}
