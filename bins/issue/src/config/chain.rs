//! `preferred_chain` (RFC 8555 §7.4.2): the issuer common name of the top
//! certificate of the chain a line prefers, per line or as the default of
//! every line in the CA section (top level). The choice itself is made at
//! download (`chains.rs`).

use certdrop_core::error::Result;
use toml::Spanned;

use super::Locator;

/// The longest common name (RFC 5280 ub-common-name).
const MAX_CN: usize = 64;

/// A preferred chain's issuer name, as written (common names are compared
/// exactly): not empty, one line of printable text.
pub(super) fn preferred(
    loc: &Locator<'_>,
    raw: Option<&Spanned<String>>,
    key: &str,
) -> Result<Option<String>> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.get_ref();
    if text.trim().is_empty() || text.trim() != text {
        return Err(loc.err(
            raw.span(),
            key,
            "the issuer's common name, without leading or trailing blanks",
        ));
    }
    if text.chars().count() > MAX_CN || text.chars().any(char::is_control) {
        return Err(loc.err(
            raw.span(),
            key,
            &format!("a common name of at most {MAX_CN} printable characters"),
        ));
    }
    Ok(Some(text.clone()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::{DNS, HEAD};
    use super::super::Config;

    fn parse(top: &str, lines: &str) -> certdrop_core::error::Result<Config> {
        Config::parse(
            Path::new("/etc/certdrop/issue.toml"),
            &format!("{top}\n{HEAD}[drop]\ndnsextra = \"dnsextra\"\n{DNS}{lines}"),
        )
    }

    #[test]
    fn a_line_prefers_its_own_chain_else_the_ca_sections() {
        let lines = "[[line]]\nname = \"a\"\ndomains = [\"a.example.org\"]\n[[line]]\nname = \"b\"\ndomains = [\"b.example.org\"]\npreferred_chain = \"ISRG Root X1\"\n";
        let c = parse("preferred_chain = \"ISRG Root X2\"", lines).expect("valid");
        assert_eq!(c.lines[0].preferred_chain.as_deref(), Some("ISRG Root X2"));
        assert_eq!(c.lines[1].preferred_chain.as_deref(), Some("ISRG Root X1"));
        let c = parse("", lines).expect("valid");
        assert_eq!(c.lines[0].preferred_chain, None);
    }

    #[test]
    fn an_empty_or_padded_name_is_refused() {
        for bad in ["\"\"", "\" ISRG Root X1\"", "\"ISRG\\nRoot\""] {
            let e = parse(&format!("preferred_chain = {bad}"), "").expect_err(bad);
            assert_eq!(e.class, certdrop_core::exit::Failure::Config);
            assert!(e.msg.contains("preferred_chain:"), "{}", e.msg);
        }
    }
}
