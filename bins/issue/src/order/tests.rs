//! Tests of one order: the decisions as units, and a finalize whose
//! answer was lost against a real Pebble.

use super::*;
use crate::config::{KeyPolicy, Line};
use crate::keys::{self, KeyType};
use crate::retry;
use certdrop_core::certinfo;

fn line(domains: &[&str]) -> Line {
    Line {
        name: "t".into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        challenge: Challenge::Http01,
        key_type: KeyType::EcdsaP256,
        key_policy: KeyPolicy::Reuse,
        max_key_age: None,
        rollover_wait: std::time::Duration::ZERO,
        retire_after: std::time::Duration::ZERO,
        key_group: None,
        alias: None,
        renew_remaining: 33,
        profile: None,
        tlsa: Vec::new(),
        preferred_chain: None,
        cas: Vec::new(),
        persist: true,
    }
}

fn cert(key: &rcgen::KeyPair, names: &[&str], not_after_year: i32) -> String {
    let mut p =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params");
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(not_after_year, 1, 1);
    p.self_signed(key).expect("sign").pem()
}

#[test]
fn a_refused_second_finalize_goes_on_only_when_the_ca_has_the_csr() {
    let not_ready: instant_acme::Problem = serde_json::from_value(serde_json::json!({
        "type": "urn:ietf:params:acme:error:orderNotReady",
        "detail": "Order's status (\"valid\") is not acceptable for finalization",
        "status": 403,
    }))
    .expect("problem");
    let e = instant_acme::Error::Api(not_ready);
    assert!(is_problem(&e, "orderNotReady"));
    assert!(!is_problem(&e, "NotReady"));
    assert!(already_finalized(OrderStatus::Processing));
    assert!(already_finalized(OrderStatus::Valid));
    for status in [
        OrderStatus::Pending,
        OrderStatus::Ready,
        OrderStatus::Invalid,
    ] {
        assert!(!already_finalized(status), "{status:?}");
    }
}

/// A CA certificate named `cn`, signed by `by` (self-signed if none).
fn ca(
    cn: &str,
    by: Option<&rcgen::Issuer<'_, &rcgen::KeyPair>>,
) -> (rcgen::CertificateParams, rcgen::KeyPair, String) {
    let key = KeyType::EcdsaP256.generate().expect("key");
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let pem = match by {
        Some(issuer) => p.signed_by(&key, issuer).expect("sign").pem(),
        None => p.self_signed(&key).expect("sign").pem(),
    };
    (p, key, pem)
}

#[test]
fn a_chain_ending_in_the_root_is_stored_without_it() {
    let (root_p, root_k, root) = ca("Root", None);
    let root_issuer = rcgen::Issuer::from_params(&root_p, &root_k);
    let (int_p, int_k, inter) = ca("Intermediate", Some(&root_issuer));
    let int_issuer = rcgen::Issuer::from_params(&int_p, &int_k);
    let ours = KeyType::EcdsaP256.generate().expect("key");
    let spki = keys::spki(&ours);
    let req = Request {
        csr_der: &[],
        spki: &spki,
        from_next: false,
    };
    let l = line(&["a.example.org"]);
    let leaf_by = |issuer: &rcgen::Issuer<'_, &rcgen::KeyPair>| {
        let p = rcgen::CertificateParams::new(vec!["a.example.org".to_string()]).expect("params");
        p.signed_by(&ours, issuer).expect("sign").pem()
    };
    let leaf = leaf_by(&int_issuer);
    // The root appended: chain and fullchain end at the intermediate.
    let files =
        check_issued(&l, &req, format!("{leaf}{inter}{root}").as_bytes()).expect("root appended");
    let plain = check_issued(&l, &req, format!("{leaf}{inter}").as_bytes()).expect("plain");
    assert_eq!(files.chain, plain.chain);
    assert_eq!(files.fullchain, plain.fullchain);
    assert_eq!(certinfo::parse_chain(&files.chain).expect("chain").len(), 1);
    // Issued by the root itself: a leaf-only fullchain, no chain.
    let direct = leaf_by(&root_issuer);
    let files = check_issued(&l, &req, format!("{direct}{root}").as_bytes()).expect("by the root");
    assert_eq!(files.fullchain, files.cert);
    assert!(files.chain.is_empty());
    // A root that did not issue the certificate before it is refused.
    let (_, _, other) = ca("Other Root", None);
    let e = check_issued(&l, &req, format!("{leaf}{inter}{other}").as_bytes())
        .expect_err("foreign root");
    assert!(e.starts_with("chain out of order: certificate 1"), "{e}");
}

#[test]
fn the_ca_answer_is_checked_before_anything_is_installed() {
    let ours = KeyType::EcdsaP256.generate().expect("key");
    let theirs = KeyType::EcdsaP256.generate().expect("key");
    let spki = keys::spki(&ours);
    let req = Request {
        csr_der: &[],
        spki: &spki,
        from_next: false,
    };
    let l = line(&["a.example.org", "b.example.org"]);
    let good = cert(&ours, &["b.example.org", "a.example.org"], 2090);
    let files = check_issued(&l, &req, good.as_bytes()).expect("good certificate");
    assert_eq!(
        files.fullchain, files.cert,
        "no intermediates in a self-signed test chain"
    );
    let e = check_issued(
        &l,
        &req,
        cert(&theirs, &["a.example.org", "b.example.org"], 2090).as_bytes(),
    );
    assert_eq!(
        e.err().as_deref(),
        Some("its public key is not the line's key")
    );
    let e = check_issued(&l, &req, cert(&ours, &["a.example.org"], 2090).as_bytes())
        .expect_err("names");
    assert!(e.starts_with("names [\"a.example.org\"] differ"), "{e}");
    let e = check_issued(
        &l,
        &req,
        cert(&ours, &["a.example.org", "b.example.org"], 2021).as_bytes(),
    )
    .expect_err("expired");
    assert!(e.starts_with("not valid now"), "{e}");
    assert!(check_issued(&l, &req, b"<html>502 Bad Gateway</html>").is_err());
}

/// A finalize whose answer was lost: the CA has taken the CSR, the retry
/// is refused with orderNotReady. `finalize` fetches the order and goes on;
/// the certificate downloaded is the one the first finalize had issued, and
/// the order is the one placed (no second order, no second issuance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_finalize_answer_goes_on_to_the_download_and_the_ca_issues_once() {
    use certdrop_testkit::pebble::{Pebble, PebbleOpts};
    use instant_acme::{Account, NewAccount};
    let pebble = Pebble::start(PebbleOpts {
        always_valid: true,
        ..PebbleOpts::default()
    });
    let http = crate::client::http_client(Some(&pebble.ca_bundle)).expect("client");
    let (account, _) = Account::builder_with_http(http)
        .create(
            &NewAccount {
                contact: &[],
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            pebble.directory_url.clone(),
            None,
        )
        .await
        .expect("account");
    let l = line(&["lost.example.org"]);
    let out = Output::new("t", Output::verbosity_from(1));
    let mut order = open_replacing(&account, &l, None, &out)
        .await
        .expect("order");
    let placed_url = order.url().to_owned();
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a.expect("authorization");
        let mut ch = a.challenge(ChallengeType::Http01).expect("http-01");
        ch.set_ready().await.expect("ready");
    }
    let status = order
        .poll_ready(&retry::polling(std::time::Duration::from_secs(30)))
        .await
        .expect("validated");
    assert_eq!(status, OrderStatus::Ready);
    let key = KeyType::EcdsaP256.generate().expect("key");
    let spki = keys::spki(&key);
    let csr = keys::csr(&key, &l.domains).expect("csr");
    let req = Request {
        csr_der: &csr,
        spki: &spki,
        from_next: false,
    };
    // The first finalize reaches the CA; its answer is the one "lost".
    order.finalize_csr(&csr).await.expect("first finalize");
    // The retry: refused (orderNotReady), and the run goes on.
    finalize(&l, &mut order, &req, &out)
        .await
        .expect("goes on to the download");
    let pem = order
        .poll_certificate(&retry::polling(std::time::Duration::from_secs(120)))
        .await
        .expect("certificate");
    let files = check_issued(&l, &req, pem.as_bytes()).expect("our certificate");
    assert!(!files.cert.is_empty());
    assert_eq!(order.url(), placed_url, "the order placed, no other");
    // A CA that never had the CSR refuses the same way, but the order is
    // still ready: that is no lost answer, and the run stops (and names it).
    let mut fresh = open_replacing(&account, &line(&["fresh.example.org"]), None, &out)
        .await
        .expect("order");
    let e = finalize(&l, &mut fresh, &req, &out)
        .await
        .expect_err("a pending order cannot be finalized");
    assert!(
        e.msg.starts_with("t: finalize: orderNotReady: "),
        "{}",
        e.msg
    );
}

#[test]
fn ip_names_are_checked_like_domain_names_and_the_top_issuer_is_read() {
    let (root_p, root_k, root) = ca("Root X9", None);
    let root_issuer = rcgen::Issuer::from_params(&root_p, &root_k);
    let (int_p, int_k, inter) = ca("Intermediate", Some(&root_issuer));
    let int_issuer = rcgen::Issuer::from_params(&int_p, &int_k);
    let ours = KeyType::EcdsaP256.generate().expect("key");
    let spki = keys::spki(&ours);
    let req = Request {
        csr_der: &[],
        spki: &spki,
        from_next: false,
    };
    let leaf_for = |names: &[&str]| {
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("params")
            .signed_by(&ours, &int_issuer)
            .expect("sign")
            .pem()
    };
    let l = line(&["192.0.2.7", "2001:db8::7"]);
    let leaf = leaf_for(&["2001:db8::7", "192.0.2.7"]);
    check_issued(&l, &req, format!("{leaf}{inter}").as_bytes()).expect("IP SANs cover the line");
    let other = leaf_for(&["192.0.2.7", "2001:db8::8"]);
    let e = check_issued(&l, &req, format!("{other}{inter}").as_bytes()).expect_err("other IP");
    assert!(e.contains("2001:db8::8"), "{e}");
    // The top certificate's issuer, with or without the root sent.
    let top = |pem: String| crate::chains::top_issuer(pem.as_bytes());
    assert_eq!(top(format!("{leaf}{inter}")).as_deref(), Some("Root X9"));
    assert_eq!(
        top(format!("{leaf}{inter}{root}")).as_deref(),
        Some("Root X9")
    );
    assert_eq!(top(leaf.clone()).as_deref(), Some("Intermediate"));
    assert_eq!(top(String::new()), None);
}

#[test]
fn a_challenge_the_ca_dropped_is_bad_data_in_one_line() {
    let e = dropped("www", "www.example.org", "dns-persist-01");
    assert_eq!(e.class, certdrop_core::exit::Failure::Data);
    assert_eq!(
        e.msg,
        "www: www.example.org: answer challenge: the CA no longer offers the dns-persist-01 challenge chosen for it"
    );
}
