//! The Windows registry, in the 32-bit view MailEnable uses (KEY_WOW64_32KEY),
//! through `windows-registry`. Verified under Wine: values land below
//! `HKLM\SOFTWARE\WOW6432Node`.

use windows_registry::{Key, Type, LOCAL_MACHINE};

use crate::error::Error;
use crate::registry::{guard, RegData, Registry};

/// Access flag: the 32-bit registry view.
const KEY_WOW64_32KEY: u32 = 0x0200;
/// HRESULT of ERROR_FILE_NOT_FOUND.
const NOT_FOUND: i32 = 0x8007_0002_u32 as i32;

/// `HKEY_LOCAL_MACHINE`, 32-bit view.
#[derive(Debug, Default)]
pub struct WindowsRegistry;

fn fail(key: &str, name: &str, e: windows_registry::Result<()>) -> Result<(), Error> {
    e.map_err(|e| Error::Registry {
        key: key.to_owned(),
        name: name.to_owned(),
        reason: e.message(),
    })
}

fn open(key: &str, write: bool) -> windows_registry::Result<Key> {
    let mut options = LOCAL_MACHINE.options();
    options.read().access(KEY_WOW64_32KEY);
    if write {
        options.write().create();
    }
    options.open(key)
}

fn missing(e: &windows_result::Error) -> bool {
    e.code().0 == NOT_FOUND
}

impl Registry for WindowsRegistry {
    fn get(&self, key: &str, name: &str) -> Result<Option<RegData>, Error> {
        let err = |e: windows_result::Error| Error::Registry {
            key: key.to_owned(),
            name: name.to_owned(),
            reason: e.message(),
        };
        let k = match open(key, false) {
            Ok(k) => k,
            Err(e) if missing(&e) => return Ok(None),
            Err(e) => return Err(err(e)),
        };
        match k.get_type(name) {
            Ok(Type::U32) => k.get_u32(name).map(|d| Some(RegData::Dword(d))).map_err(err),
            Ok(Type::String) | Ok(Type::ExpandString) => k.get_string(name).map(|s| Some(RegData::Sz(s))).map_err(err),
            Ok(_) => Ok(None),
            Err(e) if missing(&e) => Ok(None),
            Err(e) => Err(err(e)),
        }
    }

    fn set(&mut self, key: &str, name: &str, data: &RegData) -> Result<(), Error> {
        guard(key, name)?;
        let k = open(key, true).map_err(|e| Error::Registry {
            key: key.to_owned(),
            name: name.to_owned(),
            reason: e.message(),
        })?;
        match data {
            RegData::Sz(s) => fail(key, name, k.set_string(name, s)),
            RegData::Dword(d) => fail(key, name, k.set_u32(name, *d)),
        }
    }

    fn delete(&mut self, key: &str, name: &str) -> Result<(), Error> {
        let k = match open(key, true) {
            Ok(k) => k,
            Err(e) if missing(&e) => return Ok(()),
            Err(e) => {
                return Err(Error::Registry {
                    key: key.to_owned(),
                    name: name.to_owned(),
                    reason: e.message(),
                })
            }
        };
        match k.remove_value(name) {
            Err(e) if missing(&e) => Ok(()),
            other => fail(key, name, other),
        }
    }

    fn subkeys(&self, key: &str) -> Result<Vec<String>, Error> {
        let err = |e: windows_result::Error| Error::Registry {
            key: key.to_owned(),
            name: String::new(),
            reason: e.message(),
        };
        match open(key, false) {
            Ok(k) => Ok(k.keys().map_err(err)?.collect()),
            Err(e) if missing(&e) => Ok(Vec::new()),
            Err(e) => Err(err(e)),
        }
    }
}
