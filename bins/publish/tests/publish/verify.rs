//! `verify`: a good tree, tampered trees, other signers, and signatures made
//! by the real `ssh-keygen -Y sign`.

use crate::site::{keygen, sh, Site, IDENTITY};

/// A site with www and mail published.
fn published() -> Site {
    let mut site = Site::new();
    site.lines
        .push(("mail".into(), crate::site::names(&["mail.example.org"])));
    site.install("www", &site.www(1));
    site.install("mail", &site.leaf(2, &["mail.example.org"], 30));
    site.run(&["run"]).expect(0);
    site.verify("pub", &[]).expect(0).silent();
    site
}

/// Run verify on pub/: exit 65 and exactly these problem lines.
#[track_caller]
fn problems(site: &Site, extra: &[&str], want: &[String]) {
    let ran = site.verify("pub", extra).expect(65);
    assert_eq!(ran.stdout, "");
    let got: Vec<&str> = ran.stderr.lines().collect();
    let want: Vec<String> = want
        .iter()
        .map(|w| format!("certdrop-publish: {}", w))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_good_tree_and_a_copy_of_it_verify() {
    let site = published();
    let ran = site.verify("pub", &["-v"]).expect(0);
    ran.stderr_has("mail: good: serial 02");
    assert!(ran.stderr.contains(&format!("signed by {IDENTITY}")));
    // Received elsewhere: a copy keeps the relative links (rsync -a, git).
    sh(site.root(), "cp -a pub received");
    site.verify("received", &[]).expect(0).silent();
    // A copy that followed the links (cp -rL, rsync -L) verifies too.
    sh(site.root(), "cp -rL pub flat");
    site.verify("flat", &[]).expect(0).silent();
}

#[test]
fn a_changed_byte_is_found() {
    let site = published();
    let path = site.path("pub/www/fullchain.pem");
    let mut data = site.read("pub/www/fullchain.pem");
    let i = data.len() / 2;
    data[i] ^= 1;
    std::fs::write(&path, data).expect("write");
    problems(
        &site,
        &[],
        &[format!(
            "{}: SHA-256 differs from the manifest",
            path.display()
        )],
    );
}

#[test]
fn an_extra_or_missing_file_is_found() {
    let site = published();
    site.write("pub/www/key.pem", "sneaked in");
    std::fs::create_dir(site.path("pub/mail/next")).expect("mkdir");
    std::fs::remove_file(site.path("pub/mail/chain.pem")).expect("rm");
    site.write("pub/README", "a stray file");
    problems(
        &site,
        &[],
        &[
            format!(
                "{}: not a line directory",
                site.path("pub/README").display()
            ),
            format!("{}: missing", site.path("pub/mail/chain.pem").display()),
            format!(
                "{}: not listed in the manifest",
                site.path("pub/mail/next").display()
            ),
            format!(
                "{}: not listed in the manifest",
                site.path("pub/www/key.pem").display()
            ),
        ],
    );
}

#[test]
fn a_manifest_changed_after_signing_is_found() {
    let site = published();
    let path = site.path("pub/www/manifest");
    let text = String::from_utf8(site.read("pub/www/manifest")).expect("utf-8");
    std::fs::write(&path, text.replace("names ", "names evil.example.net ")).expect("write");
    let bad = format!("certdrop-publish: {}.sig: bad signature", path.display());
    site.verify("pub", &[])
        .expect(65)
        .one_error(&bad)
        .stderr_starts(&bad);
    site.ssh_keygen_verify("www").expect(255);
}

#[test]
fn a_manifest_signed_by_another_key_is_refused() {
    let site = published();
    let other = site.path("other_key");
    keygen(&other, "intruder@example.net");
    site.ssh_keygen_sign("www", &other);
    let ran = site.verify("pub", &[]).expect(65);
    let sig = site.path("pub/www/manifest.sig");
    assert!(
        ran.stderr.starts_with(&format!(
            "certdrop-publish: {}: signed by SHA256:",
            sig.display()
        )) && ran.stderr.ends_with(", not an allowed signer\n"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stderr.lines().count(), 1);
    site.ssh_keygen_verify("www").expect(255);
}

#[test]
fn a_signature_by_ssh_keygen_verifies() {
    let site = published();
    // The same key, but the signature made by OpenSSH itself. Ed25519 is
    // deterministic (RFC 8032 §5.1.6), so it is our signature byte for byte.
    let ours = site.read("pub/www/manifest.sig");
    site.ssh_keygen_sign("www", &site.path("sign_key"));
    assert_eq!(site.read("pub/www/manifest.sig"), ours);
    // A signature by OpenSSH over another manifest of ours, with a key
    // that is allowed too.
    let second = site.path("second_key");
    keygen(&second, "second@example.org");
    let public = std::fs::read_to_string(site.path("second_key.pub")).expect("pub");
    let signers = String::from_utf8(site.read("allowed_signers")).expect("utf-8");
    site.write(
        "allowed_signers",
        &format!("{signers}second@example.org {public}"),
    );
    site.ssh_keygen_sign("mail", &second);
    site.verify("pub", &[]).expect(0).silent();
    let ran = site
        .verify("pub", &["-v", "--identity", "second@example.org"])
        .expect(65);
    ran.stderr_has("mail: good");
    ran.stderr_has("www/manifest.sig: signed by SHA256:");
    site.verify("pub", &["--identity", IDENTITY]).expect(65);
}

#[test]
fn the_identity_must_match_a_principal() {
    let site = published();
    let ran = site
        .verify("pub", &["--identity", "someone@example.org"])
        .expect(65);
    assert_eq!(ran.stderr.lines().count(), 2, "{}", ran.stderr);
    assert!(ran
        .stderr
        .contains("not an allowed signer for 'someone@example.org'"));
    // A namespaces= option that excludes ours.
    let signers = String::from_utf8(site.read("allowed_signers")).expect("utf-8");
    site.write(
        "allowed_signers",
        &signers.replacen(' ', " namespaces=\"file,git\" ", 1),
    );
    site.verify("pub", &[]).expect(65);
    site.write(
        "allowed_signers",
        &signers.replacen(' ', " namespaces=\"certdrop-*\" ", 1),
    );
    site.verify("pub", &[]).expect(0);
}

#[test]
fn swapped_line_directories_are_found() {
    let site = published();
    sh(
        site.root(),
        "cd pub && mv www x && mv mail www && mv x mail",
    );
    let ran = site.verify("pub", &[]).expect(65);
    ran.stderr_has("is the manifest of line 'www'");
    ran.stderr_has("is the manifest of line 'mail'");
}

#[test]
fn missing_inputs() {
    let site = published();
    site.verify("nowhere", &[]).expect(66);
    std::fs::create_dir(site.path("empty")).expect("mkdir");
    site.verify("empty", &[]).expect(66);
    site.write("allowed_signers", "x@y restrict ssh-ed25519 AAAA\n");
    site.verify("pub", &[]).expect(78);
}
