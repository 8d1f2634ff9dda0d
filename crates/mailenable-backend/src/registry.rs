//! The registry, as a trait with three implementations: in memory (tests,
//! and the contents of a `.reg` file), the Windows registry (32-bit view),
//! and `.reg` files (in `regfile`).

use std::collections::BTreeMap;

use crate::error::Error;
use crate::schema;

/// A registry value of the types this backend uses.
#[derive(Clone, PartialEq, Eq)]
pub enum RegData {
    /// `REG_SZ`.
    Sz(String),
    /// `REG_DWORD`.
    Dword(u32),
}

impl std::fmt::Debug for RegData {
    /// Strings are not shown: one of them is a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegData::Sz(s) => write!(f, "Sz({} chars)", s.chars().count()),
            RegData::Dword(d) => write!(f, "Dword({d})"),
        }
    }
}

/// Keys are paths below `HKEY_LOCAL_MACHINE` as a 32-bit program sees them
/// (`SOFTWARE\Mail Enable\...`), compared without regard to case.
pub trait Registry {
    /// A value, if present.
    fn get(&self, key: &str, name: &str) -> Result<Option<RegData>, Error>;
    /// Sets a value, creating the key.
    fn set(&mut self, key: &str, name: &str, data: &RegData) -> Result<(), Error>;
    /// Deletes a value; absent is fine.
    fn delete(&mut self, key: &str, name: &str) -> Result<(), Error>;
    /// The names of a key's subkeys; none when the key is absent.
    fn subkeys(&self, key: &str) -> Result<Vec<String>, Error>;
}

/// Refuses the fields that redirect a domain's inbound mail.
pub(crate) fn guard(key: &str, name: &str) -> Result<(), Error> {
    if schema::FORBIDDEN.iter().any(|f| f.eq_ignore_ascii_case(name)) {
        return Err(Error::Registry {
            key: key.to_owned(),
            name: name.to_owned(),
            reason: "this field redirects the domain's INBOUND mail; smarthost never writes it".into(),
        });
    }
    Ok(())
}

/// A registry in memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryRegistry {
    /// lower-cased key -> (key as written, values by name).
    keys: BTreeMap<String, (String, BTreeMap<String, RegData>)>,
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values of `key` (compared without case), if it exists.
    pub fn values(&self, key: &str) -> Option<&BTreeMap<String, RegData>> {
        self.keys.get(&key.to_lowercase()).map(|(_, v)| v)
    }

    /// Every key with its values, in order.
    pub fn keys(&self) -> impl Iterator<Item = (&str, &BTreeMap<String, RegData>)> {
        self.keys.values().map(|(k, v)| (k.as_str(), v))
    }
}

impl Registry for MemoryRegistry {
    fn get(&self, key: &str, name: &str) -> Result<Option<RegData>, Error> {
        Ok(self
            .keys
            .get(&key.to_lowercase())
            .and_then(|(_, v)| v.get(name))
            .cloned())
    }

    fn set(&mut self, key: &str, name: &str, data: &RegData) -> Result<(), Error> {
        guard(key, name)?;
        let entry = self
            .keys
            .entry(key.to_lowercase())
            .or_insert_with(|| (key.to_owned(), BTreeMap::new()));
        entry.1.insert(name.to_owned(), data.clone());
        Ok(())
    }

    fn delete(&mut self, key: &str, name: &str) -> Result<(), Error> {
        if let Some((_, values)) = self.keys.get_mut(&key.to_lowercase()) {
            values.remove(name);
        }
        Ok(())
    }

    fn subkeys(&self, key: &str) -> Result<Vec<String>, Error> {
        let prefix = format!("{}\\", key.to_lowercase());
        let mut names: Vec<String> = self
            .keys
            .iter()
            .filter_map(|(lower, (written, _))| {
                lower
                    .strip_prefix(&prefix)
                    .filter(|rest| !rest.contains('\\'))
                    .map(|_| written[prefix.len()..].to_owned())
            })
            .collect();
        names.sort();
        Ok(names)
    }
}
