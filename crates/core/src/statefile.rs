//! A program's own state files (JSON): the issuer's `state/<line>.json`,
//! the zone compiler's `build/state/<zone>.json`. Written atomically by
//! the program itself, so a file that does not parse is damage, bad data
//! (65), never silently an empty state: a fresh state would restart a
//! serial at 0 or forget a back-off. A missing file is the empty state of
//! something that never ran.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// Read a state file; `T::default()` when it does not exist.
pub fn load<T: DeserializeOwned + Default>(path: &Path) -> Result<T> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::data(format!("{}: unreadable state: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(Error::unreadable(path, "cannot read", &e)),
    }
}

/// Write a state file atomically with `mode`, pretty-printed for the
/// administrator who reads it.
pub fn save<T: Serialize>(path: &Path, state: &T, mode: u32) -> Result<()> {
    save_with(path, state, mode, crate::atomic::Durability::Durable)
}

/// [`save`] with the durability asked for (crate::atomic::Durability).
pub fn save_with<T: Serialize>(
    path: &Path,
    state: &T,
    mode: u32,
    durability: crate::atomic::Durability,
) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(state).expect("state serializes");
    text.push(b'\n');
    crate::atomic::write_with(path, &text, mode, None, durability)
        .map_err(|e| Error::cantcreat(path, "cannot write", &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Failure;
    use std::collections::BTreeMap;

    #[test]
    fn missing_is_empty_damage_is_bad_data() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("s.json");
        let empty: BTreeMap<String, u32> = load(&p).expect("missing is empty");
        assert!(empty.is_empty());
        let full = BTreeMap::from([("serial".to_string(), 7u32)]);
        save(&p, &full, crate::atomic::MODE_SECRET).expect("save");
        assert_eq!(load::<BTreeMap<String, u32>>(&p).expect("load"), full);
        std::fs::write(&p, b"{").expect("damage");
        let e = load::<BTreeMap<String, u32>>(&p).expect_err("damaged");
        assert_eq!(e.class, Failure::Data);
        assert!(e.msg.contains("s.json: unreadable state"), "{}", e.msg);
    }
}
