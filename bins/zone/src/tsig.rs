//! TSIG keys (RFC 8945) as nsd.conf `key:` clause files: the one secret
//! the primary and its secondaries share to sign NOTIFY and zone
//! transfers. `certdrop-zone tsig-key` writes a new one; zone.toml's
//! `[xfr] tsig_key` names it, and the file is checked on every load: mode,
//! the clause's grammar, the algorithm. nsd.conf on both ends includes the
//! same file (`include: "FILE"`), so it is written exactly as nsd reads it.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use certdrop_core::atomic;
use certdrop_core::error::{Error, Result};
use certdrop_core::exit::Failure;

/// The algorithms accepted: the HMAC-SHA-2 family (RFC 8945 §6; MD5 and
/// SHA-1 are not offered).
pub const ALGORITHMS: [&str; 3] = ["hmac-sha256", "hmac-sha384", "hmac-sha512"];
/// What `tsig-key` makes without `-a`.
pub const DEFAULT_ALGORITHM: &str = "hmac-sha256";
/// Shortest secret accepted from a file: half of SHA-256's output, the
/// truncation floor of RFC 8945 §5.2.2.1; generated keys are longer.
const MIN_SECRET: usize = 16;
/// A key file is a few lines: anything much larger is not one.
const MAX_FILE: u64 = 4096;
/// Where the secret's bytes come from.
const RANDOM: &str = "/dev/urandom";

/// A TSIG key as nsd names it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's name (both ends must use the same).
    pub name: String,
    /// One of [`ALGORITHMS`].
    pub algorithm: String,
    /// The secret, base64 as in the file.
    pub secret: String,
}

/// What a key name may be.
const NAME_RULE: &str = "a key name is letters, digits, '-', '_' and '.' (at most 253)";

/// Without the secret: a key printed (a failed assertion, a debug line)
/// never shows it.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"(not shown)")
            .finish()
    }
}

/// A key name: what nsd and drill accept without quoting surprises.
pub fn check_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(format!("'{name}': {NAME_RULE}")),
    }
}

/// An algorithm name, lowercase, one of [`ALGORITHMS`].
pub fn check_algorithm(text: &str) -> std::result::Result<String, String> {
    let alg = text.to_ascii_lowercase();
    match ALGORITHMS.contains(&alg.as_str()) {
        true => Ok(alg),
        false => Err(format!(
            "algorithm '{text}': expected one of {}",
            ALGORITHMS.join(", ")
        )),
    }
}

/// Parse one `key:` clause (nsd.conf(5) grammar: `attribute: value`,
/// values optionally in double quotes, `#` comments). Exactly one clause
/// with a name, an algorithm and a base64 secret; nothing else. An error
/// names the line and the attribute, never a value nor the line's text:
/// any line may be (or hold) the secret, and errors end up in logs and
/// mail.
pub fn parse(text: &str) -> std::result::Result<Key, String> {
    let mut clause = false;
    // Each attribute's value and its line number, for the checks after.
    let (mut name, mut algorithm, mut secret) = (None, None, None);
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let Some((attr, value)) = line.split_once(':') else {
            return Err(format!("line {n}: expected 'attribute: value'"));
        };
        let attr = attr.trim();
        let value =
            unquote(value.trim()).map_err(|why| format!("line {n}: {}: {why}", attribute(attr)))?;
        let slot = match (attr, clause) {
            ("key", false) if value.is_empty() => {
                clause = true;
                continue;
            }
            ("key", _) => return Err(format!("line {n}: one key: clause per file")),
            (_, false) => return Err(format!("line {n}: expected 'key:' first")),
            ("name", true) => &mut name,
            ("algorithm", true) => &mut algorithm,
            ("secret", true) => &mut secret,
            (other, true) => {
                return Err(format!(
                    "line {n}: {}: not a key attribute",
                    attribute(other)
                ))
            }
        };
        if slot.replace((n, value)).is_some() {
            return Err(format!("line {n}: '{attr}' given twice"));
        }
    }
    let missing = |what: &str| format!("no {what} in the key: clause");
    let (n, name) = name.ok_or_else(|| missing("name"))?;
    check_name(&name).map_err(|_| format!("line {n}: 'name': {NAME_RULE}"))?;
    let (n, algorithm) = algorithm.ok_or_else(|| missing("algorithm"))?;
    let algorithm = check_algorithm(&algorithm).map_err(|_| {
        format!(
            "line {n}: 'algorithm': expected one of {}",
            ALGORITHMS.join(", ")
        )
    })?;
    let (n, secret) = secret.ok_or_else(|| missing("secret"))?;
    // The decoder's error names the offending character: not shown.
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&secret)
        .map_err(|_| format!("line {n}: 'secret': not base64"))?;
    if bytes.len() < MIN_SECRET {
        return Err(format!(
            "line {n}: 'secret': {} bytes, fewer than {MIN_SECRET}",
            bytes.len()
        ));
    }
    Ok(Key {
        name,
        algorithm,
        secret,
    })
}

/// An attribute as an error shows it: quoted if it has the shape of one
/// (lowercase letters and '-', shorter than any secret accepted, so a
/// secret pasted before a colon is never shown), else only described.
fn attribute(attr: &str) -> String {
    let shaped = !attr.is_empty()
        && attr.len() < 20
        && attr.bytes().all(|b| b.is_ascii_lowercase() || b == b'-');
    match shaped {
        true => format!("'{attr}'"),
        false => "an attribute that is not a name".into(),
    }
}

/// A value without its double quotes (nsd allows both forms). The error
/// does not quote the value: it may be the secret.
fn unquote(v: &str) -> std::result::Result<String, String> {
    match v.strip_prefix('"') {
        None if v.contains('"') => Err("stray quote".into()),
        None => Ok(v.to_owned()),
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) if !inner.contains('"') => Ok(inner.to_owned()),
            _ => Err("unbalanced quotes".into()),
        },
    }
}

/// The file's text, as nsd.conf(5) writes a key clause.
pub fn render(key: &Key) -> String {
    format!(
        "key:\n\tname: \"{}\"\n\talgorithm: {}\n\tsecret: \"{}\"\n",
        key.name, key.algorithm, key.secret
    )
}

/// Read and check the key file `path`: a regular file others and the
/// group cannot read or write (the secret signs zone transfers), that
/// parses as one key clause. The error is the cause alone; the caller
/// names the configuration line.
pub fn load(path: &Path) -> std::result::Result<Key, String> {
    let shown = path.display();
    let meta = fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    if !meta.is_file() || meta.len() > MAX_FILE {
        return Err(format!("{shown}: not a key file (a few lines)"));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{shown}: group or others may use it (mode {mode:03o}); chmod 600 it"
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse(&text).map_err(|why| format!("{shown}: {why}"))
}

/// A new key: as many random bytes as the algorithm's hash is long (RFC
/// 8945 §6: a shorter key weakens it, a longer one adds nothing).
pub fn generate(name: &str, algorithm: &str) -> Result<Key> {
    check_name(name).map_err(Error::usage)?;
    let algorithm = check_algorithm(algorithm).map_err(Error::usage)?;
    let len = match algorithm.as_str() {
        "hmac-sha384" => 48,
        "hmac-sha512" => 64,
        _ => 32,
    };
    let mut bytes = vec![0u8; len];
    fs::File::open(RANDOM)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| Error::io(Path::new(RANDOM), "read", &e))?;
    Ok(Key {
        name: name.to_owned(),
        algorithm,
        secret: base64::engine::general_purpose::STANDARD.encode(&bytes),
    })
}

/// Write `key` to `path`, mode 0600, never over an existing file (a
/// replaced key breaks every secondary that still has the old one): the
/// whole file is written under a temporary name, then linked to `path`,
/// which fails if the name exists, so no partial file is ever visible.
pub fn write_new(path: &Path, key: &Key) -> Result<()> {
    if path.symlink_metadata().is_ok() {
        return Err(Error::new(
            Failure::CantCreate,
            format!(
                "{}: refused: the file exists; a key is never overwritten (remove it first to replace it)",
                path.display()
            ),
        ));
    }
    let tmp = atomic::temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(atomic::MODE_SECRET)
            .open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(atomic::MODE_SECRET))?;
        file.write_all(render(key).as_bytes())?;
        file.sync_all()?;
        fs::hard_link(&tmp, path)?;
        atomic::sync_parent(path)
    })();
    let _ = fs::remove_file(&tmp);
    result.map_err(|e| Error::cantcreat(path, "cannot write", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "K2tf3TRjvQkVCmJF3/Z9vA==";

    #[test]
    fn render_parses_back_and_nsd_forms_are_read() {
        let key = Key {
            name: "xfr".into(),
            algorithm: "hmac-sha256".into(),
            secret: SECRET.into(),
        };
        assert_eq!(parse(&render(&key)), Ok(key.clone()));
        let plain = format!(
            "# ours\nkey:\n  name: xfr\n  algorithm: HMAC-SHA256\n  secret: {SECRET} # s\n"
        );
        assert_eq!(parse(&plain), Ok(key));
    }

    #[test]
    fn bad_clauses_say_why() {
        let cases = [
            ("name: x\n", "line 1: expected 'key:' first"),
            (
                "key:\nname: x\nalgorithm: hmac-md5\nsecret: \"a\"\n",
                "line 3: 'algorithm': expected one of hmac-sha256,",
            ),
            ("key:\nname: x\nalgorithm: hmac-sha256\n", "no secret"),
            (
                "key:\nname: x\nalgorithm: hmac-sha256\nsecret: \"!!\"\n",
                "line 4: 'secret': not base64",
            ),
            (
                "key:\nname: x\nalgorithm: hmac-sha256\nsecret: \"YWJj\"\n",
                "3 bytes",
            ),
            ("key:\nname: x\nname: y\n", "line 3: 'name' given twice"),
            ("key:\nname: x\nzone: y\n", "'zone': not a key attribute"),
            ("key:\nkey:\n", "one key: clause"),
            ("key:\nname: \"x\n", "line 2: 'name': unbalanced quotes"),
            (
                "key:\nname: a b\nalgorithm: hmac-sha256\nsecret: \"K2tf3TRjvQkVCmJF3/Z9vA==\"\n",
                "line 2: 'name': a key name is",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).expect_err(text);
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn no_error_shows_the_secret_or_its_line() {
        let ok = format!("key:\nname: x\nalgorithm: hmac-sha256\nsecret: \"{SECRET}\"\n");
        let cases = [
            (
                ok.replace("secret: ", "secret "),
                "line 4: expected 'attribute: value'",
            ),
            (
                ok.replace(&format!("{SECRET}\""), SECRET),
                "line 4: 'secret': unbalanced quotes",
            ),
            (
                ok.replace("secret: \"", "secret: x\""),
                "line 4: 'secret': stray quote",
            ),
            (
                ok.replace("secret: \"", "secret: \"!"),
                "line 4: 'secret': not base64",
            ),
            (ok.replace("==", "="), "line 4: 'secret': not base64"),
            (
                ok.replace("secret: \"", "").replace("==\"", "==: x"),
                "line 4: an attribute that is not a name: not a key attribute",
            ),
            (
                ok.replace("secret: \"", "name: \""),
                "line 4: 'name' given twice",
            ),
            (
                ok.replace("algorithm: hmac-sha256", &format!("algorithm: {SECRET}"))
                    .replace(
                        &format!("secret: \"{SECRET}\""),
                        "secret: \"AAAAAAAAAAAAAAAAAAAAAA==\"",
                    ),
                "line 3: 'algorithm': expected one of",
            ),
            (
                ok.replace("name: x", &format!("name: {SECRET}")).replace(
                    &format!("secret: \"{SECRET}\""),
                    "secret: \"AAAAAAAAAAAAAAAAAAAAAA==\"",
                ),
                "line 2: 'name': a key name is",
            ),
        ];
        for (text, want) in cases {
            let err = parse(&text).expect_err(&text);
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains(SECRET) && !err.contains("K2tf"), "{err}");
        }
        let key = parse(&ok).expect("parses");
        assert!(!format!("{key:?}").contains(SECRET), "{key:?}");
    }

    #[test]
    fn generated_keys_are_new_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("xfr.key");
        let key = generate("xfr", "hmac-sha512").expect("generate");
        write_new(&path, &key).expect("write");
        assert_eq!(load(&path), Ok(key.clone()));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&key.secret)
            .expect("b64");
        assert_eq!(bytes.len(), 64);
        assert_ne!(generate("xfr", "hmac-sha512").expect("again"), key);
        let err =
            write_new(&path, &generate("xfr", "hmac-sha256").expect("g")).expect_err("exists");
        assert_eq!(err.class, Failure::CantCreate);
        assert_eq!(load(&path), Ok(key), "the first key is kept");
        assert_eq!(
            fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temporary left"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(load(&path)
            .expect_err("open")
            .contains("(mode 640); chmod 600 it"));
    }
}
