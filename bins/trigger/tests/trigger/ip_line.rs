//! A line for an IP address (certdrop-issue's RFC 8738 identifiers): its
//! certificate names the address in an iPAddress SAN, the service's
//! `names` and the post-flight's `sni` give the address, and a real nginx
//! is checked over TLS without SNI (RFC 6066 §3 has none for an address).

use crate::harness::Tree;
use crate::nginx::{reload_files, serving_www, Serves};

const ADDRESS: &str = "127.0.0.1";

#[test]
fn an_ip_address_line_is_deployed_and_another_address_refused() {
    let tree = Tree::new();
    let first = tree.valid("www", ADDRESS);
    tree.publish_named("www", &first, ADDRESS);
    let nginx = serving_www(&tree);
    tree.config(&reload_files(&nginx));
    // The service names the address, and so does its post-flight.
    let config = tree
        .read_text("trigger.toml")
        .replace(
            "names = [\"www.example.test\"]",
            &format!("names = [\"{ADDRESS}\"]"),
        )
        .replace(
            "sni = \"www.example.test\"",
            &format!("sni = \"{ADDRESS}\""),
        );
    assert!(config.contains(&format!("sni = \"{ADDRESS}\"")), "{config}");
    tree.write("trigger.toml", &config);
    tree.run(&["-n"]).expect(0);
    let ran = tree.run(&["run"]).expect(0);
    assert_eq!(
        ran.stdout,
        "www: reloaded, served: no deployment recorded yet (content-changed)\n"
    );
    nginx.assert_serves(&first.der);
    // A certificate for another address does not cover the service's.
    let other = tree.valid("www", "127.0.0.2");
    tree.publish_named("www", &other, "127.0.0.2");
    tree.run(&["run"])
        .expect(65)
        .one_error("does not cover 127.0.0.1");
    assert_eq!(nginx.served(), first.der);
}
