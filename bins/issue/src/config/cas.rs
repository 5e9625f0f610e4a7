//! Several CAs with fallback: named `[[ca]]` tables (each its own
//! directory, account, EAB and trust) and a line's `ca = ["primary",
//! "backup"]`, tried in that order. The top-level `directory`/`account`/
//! `eab`/`ca_bundle` stay the default single CA; a line without `ca` uses
//! it. [`Config::for_ca`] gives the configuration as seen through one CA,
//! so that every exchange (account, order, `replaces`, chains, ARI) uses
//! that CA's account and directory and nothing else has to know.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::{Config, Eab, Locator};
use certdrop_core::error::{Error, Result};

/// `[[ca]]` as serde reads it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCa {
    name: Spanned<String>,
    directory: Spanned<String>,
    account: PathBuf,
    eab: Option<super::eab::RawEab>,
    ca_bundle: Option<PathBuf>,
}

/// One named CA a line may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ca {
    /// Its name, as lines list it and state and `status` record it.
    pub name: String,
    /// ACME directory URL.
    pub directory: String,
    /// Account credentials file (0600), one per CA.
    pub account: PathBuf,
    /// External Account Binding for the account's creation.
    pub eab: Option<Eab>,
    /// PEM bundle to trust for this CA's endpoint.
    pub ca_bundle: Option<PathBuf>,
}

/// Validate the `[[ca]]` tables: names unique and plain, directories
/// https:// (or an alias).
pub(super) fn validate(
    loc: &Locator,
    raw: Vec<RawCa>,
    abs: &dyn Fn(&Path) -> PathBuf,
) -> Result<Vec<Ca>> {
    let mut seen = BTreeSet::new();
    let mut cas = Vec::new();
    for r in raw {
        let name = r.name.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(loc.err(r.name.span(), "ca.name", "letters, digits, '-' and '_'"));
        }
        if !seen.insert(name.clone()) {
            return Err(loc.err(r.name.span(), "ca.name", "defined twice"));
        }
        // The top-level CA's account information is `<certs>/.accounts/default.json`.
        if name == crate::accountfile::DEFAULT {
            return Err(loc.err(
                r.name.span(),
                "ca.name",
                "'default' names the top-level CA (its account file); choose another name",
            ));
        }
        let directory = super::directory_url(loc, &r.directory, "ca.directory")?;
        cas.push(Ca {
            name: name.clone(),
            directory,
            account: abs(&r.account),
            eab: r.eab.map(|e| e.validate(loc, abs)).transpose()?,
            ca_bundle: r.ca_bundle.as_deref().map(abs),
        });
    }
    Ok(cas)
}

/// A line's `ca = [...]`: every name defined, none twice.
pub(super) fn line_cas(
    loc: &Locator,
    raw: Option<&Spanned<Vec<Spanned<String>>>>,
    cas: &[Ca],
    key: &str,
) -> Result<Vec<String>> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.get_ref().is_empty() {
        return Err(loc.err(raw.span(), key, "name at least one [[ca]], or leave it out"));
    }
    let mut names: Vec<String> = Vec::new();
    for n in raw.get_ref() {
        if !cas.iter().any(|c| &c.name == n.get_ref()) {
            let known: Vec<&str> = cas.iter().map(|c| c.name.as_str()).collect();
            return Err(loc.err(
                n.span(),
                key,
                &format!(
                    "no [[ca]] named '{}' (defined: {})",
                    n.get_ref(),
                    match known.is_empty() {
                        true => "none".to_owned(),
                        false => known.join(", "),
                    }
                ),
            ));
        }
        if names.contains(n.get_ref()) {
            return Err(loc.err(n.span(), key, &format!("'{}' listed twice", n.get_ref())));
        }
        names.push(n.get_ref().clone());
    }
    Ok(names)
}

impl Config {
    /// The configuration as seen through the CA called `name`: its
    /// directory, account, EAB and trust in place of the top-level ones.
    /// `None` (or an unknown name) gives the default CA.
    pub fn for_ca(&self, name: Option<&str>) -> Config {
        let mut c = self.clone();
        if let Some(ca) = name.and_then(|n| self.cas.iter().find(|c| c.name == n)) {
            c.directory = ca.directory.clone();
            c.account = ca.account.clone();
            c.eab = ca.eab.clone();
            c.ca_bundle = ca.ca_bundle.clone();
            c.ca_in_use = Some(ca.name.clone());
        }
        c
    }

    /// Each CA's account is its own file: two CAs (or a CA and the
    /// default) sharing one would overwrite each other's credentials.
    pub(super) fn check_cas(&self) -> Result<()> {
        let mut accounts = vec![(self.account.as_path(), "the top-level account")];
        for ca in &self.cas {
            if let Some((_, other)) = accounts.iter().find(|(a, _)| *a == ca.account) {
                return Err(Error::config(format!(
                    "{}: ca '{}': account {} is also {other}'s: give each CA its own file",
                    self.path.display(),
                    ca.name,
                    ca.account.display()
                )));
            }
            accounts.push((ca.account.as_path(), ca.name.as_str()));
            self.for_ca(Some(&ca.name)).check_account_path()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{DNS, HEAD};
    use super::*;

    fn parse(extra: &str) -> Result<Config> {
        Config::parse(
            Path::new("/etc/certdrop/issue.toml"),
            &format!("{HEAD}[drop]\ndnsextra = \"dnsextra\"\n{DNS}{extra}"),
        )
    }

    const TWO: &str = r#"
[[ca]]
name = "le"
directory = "letsencrypt"
account = "le.json"

[[ca]]
name = "zerossl"
directory = "https://acme.zerossl.com/v2/DV90"
account = "zerossl.json"
eab = { kid = "kid-1", hmac_key_file = "zerossl.hmac" }
"#;

    #[test]
    fn a_line_lists_its_cas_in_order() {
        let c = parse(&format!(
            "{TWO}[[line]]\nname = \"www\"\ndomains = [\"example.org\"]\nca = [\"le\", \"zerossl\"]\n"
        ))
        .expect("valid");
        assert_eq!(c.lines[0].cas, ["le", "zerossl"]);
        let z = c.for_ca(Some("zerossl"));
        assert_eq!(z.directory, "https://acme.zerossl.com/v2/DV90");
        assert_eq!(z.account, Path::new("/etc/certdrop/zerossl.json"));
        assert_eq!(z.eab.expect("eab").kid, "kid-1");
        assert_eq!(z.ca_in_use.as_deref(), Some("zerossl"));
        let d = c.for_ca(None);
        assert_eq!(d.account, Path::new("/etc/certdrop/account.json"));
        assert_eq!(d.ca_in_use, None);
        assert_eq!(c.for_ca(Some("le")).directory, super::super::LETSENCRYPT);
    }

    #[test]
    fn unknown_and_repeated_names_are_refused() {
        let e = parse(&format!(
            "{TWO}[[line]]\nname = \"www\"\ndomains = [\"example.org\"]\nca = [\"le\", \"google\"]\n"
        ))
        .expect_err("unknown");
        assert!(e.msg.contains("line 'www': ca"), "{}", e.msg);
        assert!(
            e.msg
                .contains("no [[ca]] named 'google' (defined: le, zerossl)"),
            "{}",
            e.msg
        );
        let e = parse(&format!(
            "{TWO}[[line]]\nname = \"www\"\ndomains = [\"example.org\"]\nca = [\"le\", \"le\"]\n"
        ))
        .expect_err("twice");
        assert!(e.msg.contains("'le' listed twice"), "{}", e.msg);
        let e = parse(&format!(
            "{TWO}[[ca]]\nname = \"le\"\ndirectory = \"letsencrypt\"\naccount = \"x.json\"\n"
        ))
        .expect_err("defined twice");
        assert!(e.msg.contains("ca.name"), "{}", e.msg);
        let e = parse(
            "[[ca]]\nname = \"default\"\ndirectory = \"letsencrypt\"\naccount = \"d.json\"\n",
        )
        .expect_err("default");
        assert!(
            e.msg.contains("ca.name") && e.msg.contains("'default' names the top-level CA"),
            "{}",
            e.msg
        );
        let e = parse(
            "[[ca]]\nname = \"x\"\ndirectory = \"http://ca.test/dir\"\naccount = \"x.json\"\n",
        )
        .expect_err("http");
        assert!(e.msg.contains("ca.directory"), "{}", e.msg);
    }

    #[test]
    fn accounts_do_not_clash() {
        let e = parse(
            "[[ca]]\nname = \"le\"\ndirectory = \"letsencrypt\"\naccount = \"account.json\"\n",
        )
        .expect_err("same as top level");
        assert!(
            e.msg.contains(
                "ca 'le': account /etc/certdrop/account.json is also the top-level account's"
            ),
            "{}",
            e.msg
        );
        let e = parse(&format!(
            "{TWO}[[ca]]\nname = \"b\"\ndirectory = \"letsencrypt\"\naccount = \"le.json\"\n"
        ))
        .expect_err("same as le");
        assert!(e.msg.contains("is also le's"), "{}", e.msg);
        let e = parse("[[ca]]\nname = \"le\"\ndirectory = \"letsencrypt\"\naccount = \"state/www.json\"\n[[line]]\nname = \"www\"\ndomains = [\"example.org\"]\n")
            .expect_err("a line's state");
        assert!(e.msg.contains("give it a path of its own"), "{}", e.msg);
    }
}
