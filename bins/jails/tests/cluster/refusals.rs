//! Each refusal of `certdrop-jails cluster` (and `-n`): exit 78, one line
//! naming the cluster file's line, nothing written.

use super::*;

/// `cluster` and `cluster -n` of `text` both refuse it (78) with exactly
/// `cluster.toml:{why}` on one line, and write nothing.
#[track_caller]
pub(super) fn refused(text: &str, why: &str) {
    let c = cluster(text);
    let want = format!("certdrop-jails: cluster.toml:{why}\n");
    for args in [
        &["cluster", "cluster.toml", "-o", "out"][..],
        &["-n", "cluster", "cluster.toml", "-o", "out"],
    ] {
        let (code, stdout, stderr) = jails(c.root(), args);
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (78, "", want.as_str()),
            "{args:?}"
        );
    }
    assert!(!c.path("out").exists(), "nothing rendered");
}

#[test]
fn a_host_breaking_the_privilege_table_is_refused() {
    let m = mini();
    let bad = with(
        &m,
        "mounts = { pub = \"rw\" }",
        "mounts = { pub = \"rw\", keys = \"ro\" }",
    );
    refused(
        &bad,
        &format!(
            "{}: jail 'publish': mounts keys/, which holds secrets: only the issue jail may",
            line(&bad, "mounts = { pub = \"rw\", keys")
        ),
    );
    let bad = with(
        &m,
        "mounts = { pub = \"ro\", keys = \"rw\", outbox = \"rw\" }",
        "mounts = { pub = \"rw\", keys = \"rw\", outbox = \"rw\" }",
    );
    let at = line(&bad, "mounts = { pub = \"rw\", keys");
    let c = cluster(&bad);
    let (code, _, stderr) = render(&c);
    assert_eq!(code, 78);
    assert!(
        stderr.contains(&format!("cluster.toml:{at}: jail 'www': mounts: pub/ is written by jails publish, www; one writer per directory")),
        "{stderr}"
    );
}

#[test]
fn a_key_that_would_travel_is_refused() {
    let m = mini();
    let bad = with(
        &m,
        "max_key_age = \"180d\"\n",
        "max_key_age = \"180d\"\ncsr = false\n",
    );
    refused(
        &bad,
        &format!(
            "{}: service 'www-site1': csr = false: its key would be made by the issuer on host 'sign' and travel to host 'site1'; a service on another host makes its own key (csr)",
            line(&bad, "csr = false")
        ),
    );
    // A key grant across hosts: a web jail on the signing host granted
    // site1's key.
    let bad = with(
        &m,
        "# Every service host's jails.",
        "[[jails.signing]]\nname = \"www\"\nstages = [\"web\"]\nuser = \"www\"\nuid = 805\nkeys = [\"www-site1\"]\n\n# Every service host's jails.",
    );
    refused(
        &bad,
        &format!(
            "{}: host 'sign': jail 'www': keys: the key of line 'www-site1' lives on host 'site1'; a key grant across hosts would make it travel",
            line(&bad, "keys = [\"www-site1\"]")
        ),
    );
    // On its own host, the key of a csr line stays its csr jail's.
    let bad = with(
        &m,
        "[[jails.service]]\nname = \"www\"",
        "[[jails.service]]\nname = \"web2\"\nstages = [\"web\"]\nuser = \"web2\"\nuid = 806\nkeys = [\"www-site1\"]\n\n[[jails.service]]\nname = \"www\"",
    );
    refused(
        &bad,
        &format!(
            "{}: host 'site1': jail 'web2': keys: the key of csr line 'www-site1' is its csr jail's own; run the service in that jail",
            line(&bad, "keys = [\"www-site1\"]")
        ),
    );
}

#[test]
fn a_secondary_without_a_tsig_key_is_refused() {
    let m = mini();
    let bad = with(
        &m,
        "[tsig]                                  # certdrop-zone tsig-key xfr -o FILE, copied to every nsd host\nname = \"xfr\"\nfile = \"/usr/local/etc/certdrop/tsig/xfr.key\"\n",
        "",
    );
    refused(
        &bad,
        &format!(
            "{}: site 'site1': secondary = true but the cluster has no [tsig] key: zone transfers would go unauthenticated",
            line(&bad, "secondary = true")
        ),
    );
    let bad = with(&m, "zones = [\"example.test\"]", "zones = []");
    refused(
        &bad,
        &format!(
            "{}: zones: secondaries but no zone for them to transfer",
            line(&bad, "zones = []")
        ),
    );
    let bad = with(&m, "name = \"xfr\"", "name = \"x fr\"");
    refused(
        &bad,
        &format!(
            "{}: tsig.name: 'x fr': give a value without quotes, blanks or '#'",
            line(&bad, "name = \"x fr\"")
        ),
    );
}

#[test]
fn a_site_that_pulls_from_nowhere_is_refused() {
    let m = mini();
    let pub_transport = m
        .lines()
        .find(|l| l.starts_with("pub = ["))
        .expect("pub transport")
        .to_string();
    let bad = with(&m, &format!("{pub_transport}\n"), "");
    refused(
        &bad,
        &format!(
            "{}: site 'site1': pulls pub/ from nowhere: no pull = [...] and no [transport] pub",
            line(&bad, "name = \"site1\"")
        ),
    );
    let bad = with(&m, "\"{staging}/\"]\noutbox", "\"/tmp/x/\"]\noutbox");
    refused(
        &bad,
        &format!(
            "{}: transport.pub: no argument holds {{staging}}: the transport would fetch into nowhere",
            line(&bad, "pub = [")
        ),
    );
    let publish = "[[jails.service]]\nname = \"publish\"";
    let bad = with(&m, publish, "[[jails.unused]]\nname = \"publish\"");
    let bad = with(
        &bad,
        "mounts = { pub = \"ro\", keys = \"rw\", outbox = \"rw\" }",
        "mounts = { keys = \"rw\", outbox = \"rw\" }",
    );
    refused(
        &bad,
        &format!(
            "{}: host 'site1': jail 'www' runs a trigger but no jail of the host (stage publish) pulls pub/: it pulls from nowhere",
            line(&bad, "name = \"site1\"\naddress")
        ),
    );
    let outbox = m
        .lines()
        .find(|l| l.starts_with("outbox = ["))
        .expect("outbox transport")
        .to_string();
    let bad = with(&m, &format!("{outbox}\n"), "");
    refused(
        &bad,
        &format!(
            "{}: site 'site1': its CSRs are pulled from nowhere: no [transport] outbox",
            line(&bad, "name = \"site1\"")
        ),
    );
    let bad = with(&m, "outbox_key = \"cluster-keys/site1_ed25519.pub\"", "");
    refused(
        &bad,
        &format!(
            "{}: site 'site1': has csr lines but no outbox_key: its outbox could not be verified",
            line(&bad, "name = \"site1\"")
        ),
    );
}

#[test]
fn unknown_references_are_refused() {
    let m = mini();
    for (old, new, at, why) in [
        (
            "signing = \"sign\"",
            "signing = \"hq\"",
            "signing = ",
            "signing: no [[site]] 'hq'",
        ),
        (
            "hosts = [\"site1\"]",
            "hosts = [\"site1\", \"site9\"]",
            "name = \"site1\"",
            "site 'site1': hosts: no [[host]] 'site9'",
        ),
        (
            "jails = \"service\"",
            "jails = \"services\"",
            "jails = \"services\"",
            "host 'site1': jails: no [[jails.services]]",
        ),
        (
            "host = \"site1\"",
            "host = \"site9\"",
            "host = \"site9\"",
            "service 'www-site1': host: no [[host]] 'site9'",
        ),
    ] {
        let bad = with(&m, old, new);
        refused(&bad, &format!("{}: {why}", line(&bad, at)));
    }
    let bad = with(&m, "hosts = [\"site1\"]", "hosts = []");
    refused(
        &bad,
        &format!(
            "{}: host.name: 'site1' is in no [[site]]'s hosts",
            line(&bad, "name = \"site1\"\naddress")
        ),
    );
}

#[test]
fn duplicate_addresses_are_refused() {
    let m = mini();
    let bad = with(
        &m,
        "address = [\"192.0.2.11\",",
        "address = [\"192.0.2.1\",",
    );
    refused(
        &bad,
        &format!(
            "{}: host 'site1': address: 192.0.2.1 is also host 'sign''s; every host needs its own addresses",
            line(&bad, "address = [\"192.0.2.1\", \"2001:db8::11\"")
        ),
    );
}
