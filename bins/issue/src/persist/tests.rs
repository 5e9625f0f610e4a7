//! Tests of the dns-persist-01 choice: challenge objects, refusals and
//! their state, the servers' answers, the margin on persistUntil.

use super::*;

#[test]
fn challenge_objects() {
    // Draft §3.1's example.
    let c = serde_json::json!({
        "type": "dns-persist-01",
        "url": "https://ca.example/acme/authz/1234/0",
        "status": "pending",
        "issuer-domain-names": ["authority.example", "ca.example.net"]
    });
    assert_eq!(
        offer(&c),
        Ok(Offer {
            issuers: vec!["authority.example".into(), "ca.example.net".into()],
            account: None
        })
    );
    let mut many = c.clone();
    many["issuer-domain-names"] = (0..11).map(|i| format!("ca{i}.example")).collect();
    assert!(offer(&many)
        .expect_err("11")
        .contains("11 issuer-domain-names"));
    let mut none = c.clone();
    none["issuer-domain-names"] = serde_json::json!([]);
    assert!(offer(&none).is_err());
    assert!(offer(&serde_json::json!({"type": "dns-persist-01"})).is_err());
    assert_eq!(
        owner("*.example.org"),
        ("_validation-persist.example.org.".into(), true)
    );
    assert_eq!(
        owner("www.example.org"),
        ("_validation-persist.www.example.org.".into(), false)
    );
}

fn line() -> Line {
    Line {
        name: "www".into(),
        domains: vec!["www.example.org".into()],
        challenge: Challenge::Dns01,
        key_type: crate::keys::KeyType::EcdsaP256,
        key_policy: crate::config::KeyPolicy::Reuse,
        max_key_age: None,
        rollover_wait: Duration::ZERO,
        retire_after: Duration::ZERO,
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

#[test]
fn only_unauthorized_and_malformed_refuse_the_record() {
    for kind in ["unauthorized", "malformed"] {
        assert!(refuses_record(kind), "{kind}");
    }
    for kind in [
        "caa",
        "rejectedIdentifier",
        "dns",
        "serverInternal",
        "connection",
    ] {
        assert!(!refuses_record(kind), "{kind}");
    }
}

#[test]
fn a_refusal_keeps_a_digest_and_a_cut_error_for_a_day_while_the_record_is_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = crate::config::tests::config_in(dir.path());
    std::fs::create_dir_all(&c.state).expect("state dir");
    let l = line();
    let big = "x".repeat(65_536);
    let relied = Relied {
        ident: "www.example.org".into(),
        owner: "_validation-persist.www.example.org.".into(),
        values: vec![big.clone(), "ca.example; accounturi=u".into()],
    };
    refused(&c, &l, &relied, &format!("unauthorized: \x1b[2J{big}")).expect("noted");
    let text = std::fs::read_to_string(crate::state::path(&c.state, "www")).expect("state");
    assert!(text.len() < 2048, "{} bytes", text.len());
    assert!(!text.contains('\x1b'), "{text}");
    let st = crate::state::load(&c.state, "www").expect("load");
    let r = &st.persist_refused[&relied.owner];
    assert_eq!(r.digest.len(), 64);
    assert!(r.error.chars().count() <= ERROR_KEPT + 1, "{}", r.error);
    assert_eq!(r.until, r.at + REFUSAL_FOR);
    // The same values in another order: still refused; another value
    // or a day later: not, and forgotten.
    let swapped = vec![relied.values[1].clone(), relied.values[0].clone()];
    assert!(refusal(&c, &l, &relied.owner, &swapped, r.at, false).is_some());
    assert!(refusal(&c, &l, &relied.owner, &swapped, r.until, false).is_none());
    assert!(refusal(&c, &l, &relied.owner, &swapped, r.at, false).is_some());
    let other = vec!["ca.example; accounturi=v".to_owned()];
    assert!(refusal(&c, &l, &relied.owner, &other, r.at, true).is_none());
    let st = crate::state::load(&c.state, "www").expect("load");
    assert!(st.persist_refused.is_empty());
    // A validation of the record drops a refusal too.
    refused(&c, &l, &relied, "malformed: x").expect("noted");
    accepted(&c, &l, std::slice::from_ref(&relied)).expect("accepted");
    let st = crate::state::load(&c.state, "www").expect("load");
    assert!(st.persist_refused.is_empty());
}

#[test]
fn outside_text_is_escaped_and_cut() {
    assert_eq!(shown("a\x1b[2J\nb"), "a\\u{1b}[2J\\nb");
    let long = "y".repeat(100);
    assert_eq!(shown(&long), format!("{}…", "y".repeat(SHOWN)));
}

#[test]
fn a_server_that_does_not_answer_is_asked_once() {
    // A port nothing listens on: the query fails at once (I/O error).
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port");
    let offer = Offer {
        issuers: vec!["ca.example".into()],
        account: None,
    };
    let ask = || {
        served_everywhere(
            &[dead],
            "_validation-persist.a.example.",
            &offer,
            "u",
            &[],
            false,
            0,
        )
    };
    let first = ask().expect_err("nobody answers");
    assert!(first.contains("no server answered"), "{first}");
    assert!(is_silent(&dead));
    // Asked no more: the same answer, from the memory.
    assert_eq!(ask().expect_err("again"), first);
}

#[test]
fn a_persist_until_within_the_validation_timeout_is_not_relied_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = crate::config::tests::config_in(dir.path());
    c.validation_timeout = Duration::from_secs(60);
    let now = 1_800_000_000;
    let issuers = vec!["ca.example".to_owned()];
    let until = |t: i64| format!("ca.example; accounturi=u; persistUntil={t}");
    let through = valid_through(&c, now);
    assert_eq!(through, now + 60);
    assert_eq!(
        record::check(&until(now + 30), &issuers, "u", false, through),
        Err(record::Refusal::Expired(now + 30))
    );
    assert_eq!(
        record::check(&until(now + 60), &issuers, "u", false, through),
        Ok(())
    );
}
