//! A line's `profile` key (the ACME profiles extension, as Let's Encrypt
//! offers it: `classic`, `tlsserver`, `shortlived`): its spelling here,
//! offline; whether the CA offers it is asked of the directory before
//! ordering (`crate::profile`).

use certdrop_core::error::Result;

use super::raw::RawLine;
use super::Locator;

/// Longest profile name accepted (Let's Encrypt's are a few letters).
const MAX_PROFILE: usize = 64;

/// The line's profile, if set: a short name of letters, digits, `.`, `_`
/// and `-` (the CA's `meta.profiles` keys; a name outside that alphabet
/// is a typo, and it ends up in messages and `status`).
pub(super) fn line_profile(
    loc: &Locator<'_>,
    raw: &RawLine,
    line_name: &str,
) -> Result<Option<String>> {
    let Some(p) = &raw.profile else {
        return Ok(None);
    };
    let name = p.get_ref();
    let fits = !name.is_empty()
        && name.len() <= MAX_PROFILE
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !fits {
        return Err(loc.err(
            p.span(),
            &format!("line '{line_name}': profile"),
            &format!(
                "'{name}': a profile name the CA offers (letters, digits, '.', '_', '-'; up to {MAX_PROFILE}), e.g. shortlived"
            ),
        ));
    }
    Ok(Some(name.clone()))
}
