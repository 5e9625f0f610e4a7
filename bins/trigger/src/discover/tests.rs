//! Tests of discovery: each dialect's parser on sample configuration text
//! as the service prints or ships it, and the real tools where Debian has
//! them cheaply (`nginx -T`, `postconf -c DIR -n`).
use super::*;

fn pair(cert: &str, key: Option<&str>) -> Pair {
    Pair {
        cert: PathBuf::from(cert),
        key: key.map(PathBuf::from),
    }
}

#[test]
fn nginx_blocks_inherit_and_pair_in_order() {
    let text = r#"
# configuration file /usr/local/etc/nginx/nginx.conf:
http {
    ssl_certificate     /etc/ssl/default.pem;   # inherited by servers without their own
    ssl_certificate_key /etc/ssl/default.key;
    server { listen 443 ssl; server_name a.example; }
    server {
        listen 443 ssl; server_name "b.example";
        ssl_certificate /etc/ssl/b-rsa.pem; ssl_certificate_key /etc/ssl/b-rsa.key;
        ssl_certificate '/etc/ssl/b-ec.pem';
        ssl_certificate_key /etc/ssl/b-ec.key;
        location / { return 200 "{ not a block; }"; }
    }
    server { ssl_certificate /etc/ssl/$ssl_server_name.pem; ssl_certificate_key data:xyz; }
}
"#;
    assert_eq!(
        Parser::Nginx.parse(text),
        [
            pair("/etc/ssl/b-rsa.pem", Some("/etc/ssl/b-rsa.key")),
            pair("/etc/ssl/b-ec.pem", Some("/etc/ssl/b-ec.key")),
            pair("/etc/ssl/default.pem", Some("/etc/ssl/default.key")),
        ]
    );
}

#[test]
fn postfix_parameters_pairs_and_chain_files() {
    let text = "smtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n\
                smtpd_tls_eccert_file = /etc/ssl/mx-ec.pem\nsmtpd_tls_eckey_file = $smtpd_tls_eccert_file\n\
                smtp_tls_cert_file = /etc/ssl/client.pem\nsmtp_tls_key_file = /etc/ssl/client.pem\n\
                smtpd_tls_chain_files = /etc/ssl/rsa.key,\n    /etc/ssl/rsa.pem /etc/ssl/bundle.pem\n\
                smtpd_tls_CAfile = /etc/ssl/ca.pem\n";
    assert_eq!(
        Parser::Postfix.parse(text),
        [
            pair("/etc/ssl/rsa.key", None),
            pair("/etc/ssl/rsa.pem", None),
            pair("/etc/ssl/bundle.pem", None),
            pair("/etc/ssl/mx.pem", Some("/etc/ssl/mx.key")),
            pair("/etc/ssl/mx-ec.pem", None),
            pair("/etc/ssl/client.pem", None),
        ]
    );
}

#[test]
fn apache_virtual_hosts() {
    let text = "Listen 443\nSSLCertificateFile \"/etc/ssl/default.pem\"\n\
                <VirtualHost *:443>\n  ServerName a.example\n  SSLCertificateFile /etc/ssl/a.pem\n\
                  sslcertificatekeyfile /etc/ssl/a.key\n</VirtualHost>\n\
                <VirtualHost *:443>\n  # SSLCertificateFile /old.pem\n  ServerName b.example\n</VirtualHost>\n";
    assert_eq!(
        Parser::Apache.parse(text),
        [
            pair("/etc/ssl/a.pem", Some("/etc/ssl/a.key")),
            pair("/etc/ssl/default.pem", None),
        ]
    );
}

#[test]
fn haproxy_crt_and_crt_list() {
    let text = "global\n  crt-base /etc/haproxy/certs\nfrontend web\n  bind :443 ssl crt site.pem crt /abs/other.pem alpn h2\n\
                  bind :8443 ssl crt-list /etc/haproxy/list # comment crt /no.pem\n  bind :80\n";
    assert_eq!(
        Parser::Haproxy.parse(text),
        [
            pair("/etc/haproxy/certs/site.pem", None),
            pair("/abs/other.pem", None),
            pair("crt-list:/etc/haproxy/list", None),
        ]
    );
    assert_eq!(
        lines::crt_list("# list\n/etc/a.pem [alpn h2] a.example\n\n/etc/b.pem\n"),
        [PathBuf::from("/etc/a.pem"), PathBuf::from("/etc/b.pem")]
    );
}

#[test]
fn haproxy_directories_and_key_files_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    for f in ["a.pem", "a.pem.key", "a.pem.ocsp", "b.pem", ".hidden"] {
        std::fs::write(d.join(f), "x").expect("write");
    }
    std::fs::write(d.join("list"), format!("{}\n", d.join("b.pem").display())).expect("list");
    let cfg = d.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "frontend x\n bind :443 ssl crt {} crt-list {}\n",
            d.display(),
            d.join("list").display()
        ),
    )
    .expect("cfg");
    let found = discover(
        Parser::Haproxy,
        &Source::File(cfg),
        d,
        Duration::from_secs(5),
    )
    .expect("discover");
    let p = |f: &str| d.join(f).display().to_string();
    assert_eq!(
        found,
        [
            pair(&p("a.pem"), Some(&p("a.pem.key"))),
            pair(&p("b.pem"), None),
            pair(&p("haproxy.cfg"), None),
            pair(&p("list"), None),
            pair(&p("b.pem"), None),
        ]
    );
}

#[test]
fn dovecot_with_its_key_hidden_says_to_use_minus_p() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("doveconf");
    // What dovecot 2.3.19's `doveconf -n` prints for `ssl_key = </file`.
    std::fs::write(
        &out,
        "ssl = yes\nssl_cert = </etc/ssl/imap.pem\nssl_key = # hidden, use -P to show it\n",
    )
    .expect("write");
    let err = discover(
        Parser::Dovecot,
        &Source::File(out),
        dir.path(),
        Duration::from_secs(5),
    )
    .expect_err("hidden key");
    assert_eq!(
        err.msg,
        "doveconf hides the key (`ssl_key = # hidden, use -P to show it`): \
         discover with `doveconf -n -P`"
    );
}

#[test]
fn dovecot_files_blocks_and_24_names() {
    let text = "ssl = required\nssl_cert = </etc/ssl/imap.pem\nssl_key = # hidden, use -P to show it\n\
                ssl_alt_cert = </etc/ssl/imap-ec.pem\nssl_alt_key = </etc/ssl/imap-ec.key\n\
                local_name mail.example {\n  ssl_cert = </etc/ssl/mail.pem\n  ssl_key = </etc/ssl/mail.key\n}\n\
                ssl_ca = -----BEGIN CERTIFICATE-----\n";
    assert_eq!(
        Parser::Dovecot.parse(text),
        [
            pair("/etc/ssl/mail.pem", Some("/etc/ssl/mail.key")),
            pair("/etc/ssl/imap.pem", None),
            pair("/etc/ssl/imap-ec.pem", Some("/etc/ssl/imap-ec.key")),
        ]
    );
    let v24 = "ssl_server_cert_file = /etc/ssl/x.pem\nssl_server_key_file = /etc/ssl/x.key\n";
    assert_eq!(
        Parser::Dovecot.parse(v24),
        [pair("/etc/ssl/x.pem", Some("/etc/ssl/x.key"))]
    );
}

#[test]
fn slapd_conf_and_cn_config() {
    let conf = "include /usr/local/etc/openldap/schema/core.schema\nTLSCACertificateFile /etc/ssl/ca.pem\n\
                TLSCertificateFile /etc/ssl/ldap.pem\nTLSCertificateKeyFile \"/etc/ssl/ldap.key\"\n";
    assert_eq!(
        Parser::Slapd.parse(conf),
        [pair("/etc/ssl/ldap.pem", Some("/etc/ssl/ldap.key"))]
    );
    let ldif = "dn: cn=config\nobjectClass: olcGlobal\nolcTLSCertificateFile: /etc/ssl/l.pem\n\
                olcTLSCertificateKeyFile: /etc/ssl/l.key\n";
    assert_eq!(
        Parser::Slapd.parse(ldif),
        [pair("/etc/ssl/l.pem", Some("/etc/ssl/l.key"))]
    );
    // slapcat folds long values; a schema line's continuation may start
    // with an attribute name.
    let folded = "dn: cn=config\nolcTLSCertificateFile: /srv/a-rather-long-directory-name-for-the-cer\n \
                  tificates/cert.pem\nolcTLSCertificateKeyFile: /srv/k\n ey.pem\n\n\
                  dn: cn={0}core,cn=schema,cn=config\nolcObjectClasses: ( 1 MUST ( olcTLSCertificateFile $\n  \
                  olcTLSCertificateKeyFile ) )\n";
    assert_eq!(
        Parser::Slapd.parse(folded),
        [pair(
            "/srv/a-rather-long-directory-name-for-the-certificates/cert.pem",
            Some("/srv/key.pem")
        )]
    );
}

#[test]
fn slapd_cn_config_values_in_base64() {
    // As slapcat writes a value that is not plain ASCII (RFC 2849), folded
    // when long: "/srv/zertifikät/cert.pem" and "/srv/k.pem"; a path with
    // a leading space is kept as it is.
    let ldif = "dn: cn=config\nolcTLSCertificateFile:: L3Nydi96ZXJ0aWZpa8OkdC9jZXJ0\n LnBlbQ==\n\
                olcTLSCertificateKeyFile:: L3Nydi9rLnBlbQ==\n";
    assert_eq!(
        Parser::Slapd.parse(ldif),
        [pair("/srv/zertifikät/cert.pem", Some("/srv/k.pem"))]
    );
    let spaced = "dn: cn=config\nolcTLSCertificateFile:: IC9zcnYvYS5wZW0=\n";
    assert_eq!(Parser::Slapd.parse(spaced), [pair(" /srv/a.pem", None)]);
    // Every padding length; what is not base64 (or not UTF-8) is no path.
    for (encoded, want) in [
        ("L2E=", Some("/a")),
        ("L2Fi", Some("/ab")),
        ("L2FiYw==", Some("/abc")),
        ("", Some("")),
        ("L2E", None),
        ("L2=E", None),
        ("L2E=L2E=", None),
        ("L2E*", None),
        ("/w==", None),
    ] {
        assert_eq!(
            super::lines::base64_text(encoded).as_deref(),
            want,
            "{encoded}"
        );
    }
}

#[test]
fn nghttpx_config_and_command_line() {
    let conf = "frontend=*,443\nbackend=127.0.0.1,8080\nprivate-key-file=/etc/ssl/n.key\n\
                certificate-file=/etc/ssl/n.pem\nsubcert=/etc/ssl/s.key:/etc/ssl/s.pem;sct-dir=/x\n";
    assert_eq!(
        Parser::Nghttpx.parse(conf),
        [
            pair("/etc/ssl/n.pem", Some("/etc/ssl/n.key")),
            pair("/etc/ssl/s.pem", Some("/etc/ssl/s.key")),
        ]
    );
    let cmd = "/usr/local/bin/nghttpx --frontend=*,443 --daemon /etc/ssl/p.key /etc/ssl/p.pem\n";
    assert_eq!(
        Parser::Nghttpx.parse(cmd),
        [pair("/etc/ssl/p.pem", Some("/etc/ssl/p.key"))]
    );
}

#[test]
fn nginx_minus_t_of_a_real_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let pki = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
               -keyout k.pem -out c.pem -days 2 -subj /CN=x >/dev/null 2>&1";
    certdrop_testkit::sh(d, pki);
    std::fs::write(
        d.join("site.conf"),
        format!("server {{ listen 127.0.0.1:1 ssl; ssl_certificate {0}/c.pem; ssl_certificate_key {0}/k.pem; }}\n", d.display()),
    )
    .expect("site");
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "pid {0}/nginx.pid;\nerror_log {0}/error.log;\nevents {{}}\nhttp {{ include {0}/site.conf; }}\n",
            d.display()
        ),
    )
    .expect("conf");
    let cmd = format!("nginx -T -p {0} -c {0}/nginx.conf", d.display());
    let found = discover(
        Parser::Nginx,
        &Source::Command(cmd),
        d,
        Duration::from_secs(10),
    )
    .expect("nginx -T");
    let p = |f: &str| d.join(f).display().to_string();
    assert_eq!(found, [pair(&p("c.pem"), Some(&p("k.pem")))]);
}

#[test]
fn postconf_of_a_real_main_cf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(
        d.join("main.cf"),
        "myhostname = mx.example\nsmtpd_tls_cert_file = /etc/ssl/mx.pem\nsmtpd_tls_key_file = /etc/ssl/mx.key\n\
         smtpd_tls_chain_files =\n  /etc/ssl/ec.key,\n  /etc/ssl/ec.pem\nssldir = /etc/ssl\n\
         smtp_tls_cert_file = $ssldir/client.pem\n",
    )
    .expect("main.cf");
    // Both ends of discovery: postfix's own tool prints, we parse (-x expands $names).
    let cmd = format!("postconf -c {} -n -x", d.display());
    let found = discover(
        Parser::Postfix,
        &Source::Command(cmd),
        d,
        Duration::from_secs(10),
    )
    .expect("postconf (postfix must be installed)");
    assert_eq!(
        found,
        [
            pair("/etc/ssl/ec.key", None),
            pair("/etc/ssl/ec.pem", None),
            pair("/etc/ssl/mx.pem", Some("/etc/ssl/mx.key")),
            pair("/etc/ssl/client.pem", None),
        ]
    );
    // A failing command is one line naming it.
    let e = discover(
        Parser::Postfix,
        &Source::Command(format!("postconf -c {}/missing -n", d.display())),
        d,
        Duration::from_secs(10),
    )
    .expect_err("no such config");
    assert!(
        e.msg.starts_with("`postconf -c ") && e.msg.contains("exit 1"),
        "{e}"
    );
    assert_eq!(e.class, certdrop_core::exit::Failure::Config);
}
