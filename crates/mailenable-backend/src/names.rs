//! [`Names`]: the registry value names this backend writes, learned from
//! the server (`learn`) or the built-in guesses of [`crate::schema`].
//!
//! No public source confirms MailEnable's smart host value names, so the
//! built-in names are only good for rendering a `.reg` file to review. On a
//! live registry every name must be confirmed before it is written: learned
//! from the administrator's own exports, or already present on that server
//! with the expected type ([`Names::unconfirmed`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::registry::{RegData, Registry};
use crate::schema;

/// What a registry value is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// "Smart host enabled" (REG_DWORD 0/1; server level only).
    Enabled,
    /// The smart host's address (REG_SZ).
    Host,
    /// The port (REG_DWORD).
    Port,
    /// "The remote server requires authentication" (REG_DWORD 0/1).
    Auth,
    /// The user name (REG_SZ).
    Username,
    /// The password (REG_SZ, as typed).
    Password,
    /// STARTTLS towards the smart host (REG_DWORD 0/1).
    Tls,
}

impl Role {
    /// Every role, in the order values are written.
    pub const ALL: [Role; 7] = [
        Role::Enabled,
        Role::Host,
        Role::Port,
        Role::Auth,
        Role::Username,
        Role::Password,
        Role::Tls,
    ];

    /// Whether the value is a REG_DWORD (else a REG_SZ).
    pub fn is_number(self) -> bool {
        matches!(self, Role::Enabled | Role::Port | Role::Auth | Role::Tls)
    }

    /// How `learn` and errors name the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Enabled => "enabled",
            Role::Host => "host",
            Role::Port => "port",
            Role::Auth => "auth",
            Role::Username => "username",
            Role::Password => "password",
            Role::Tls => "tls",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value names of one level: by role, each only if known.
pub type LevelNames = BTreeMap<Role, String>;

/// Where domain-level smart hosts live: one subkey per sender domain below
/// `key`, with the `values` names inside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainNames {
    /// The key whose subkeys are named after the domains (below HKLM, in
    /// the 32-bit view).
    pub key: String,
    /// The value names inside each domain's subkey.
    pub values: LevelNames,
}

/// The names this backend writes, and whether they were learned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Names {
    /// Layout version of the names file.
    pub version: u32,
    /// Learned from the server (`learn`), or the built-in guesses.
    pub learned: bool,
    /// The exports they were learned from, for people reading the file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub learned_from: Vec<String>,
    /// The server-level names, below [`schema::SMTP_KEY`].
    pub server: LevelNames,
    /// Domain level: only where the administrator's own export showed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<DomainNames>,
}

/// The layout version [`Names`] files have.
pub const NAMES_VERSION: u32 = 1;

/// The names file's name in the settings folder.
pub const NAMES_FILE: &str = "mailenable-names.toml";

impl Names {
    /// The built-in guesses ([`crate::schema`]): every name unconfirmed, no
    /// domain level.
    pub fn builtin() -> Names {
        let server = [
            (Role::Enabled, schema::ENABLED),
            (Role::Host, schema::HOST),
            (Role::Port, schema::PORT),
            (Role::Auth, schema::AUTH),
            (Role::Username, schema::USERNAME),
            (Role::Password, schema::PASSWORD),
            (Role::Tls, schema::TLS),
        ]
        .into_iter()
        .map(|(role, name)| (role, name.to_owned()))
        .collect();
        Names {
            version: NAMES_VERSION,
            learned: false,
            learned_from: Vec::new(),
            server,
            domains: None,
        }
    }

    /// The server-level name of `role`, if known.
    pub fn server(&self, role: Role) -> Option<&str> {
        self.server.get(&role).map(String::as_str)
    }

    /// Whether `name` is a password value (at either level).
    pub(crate) fn is_password(&self, name: &str) -> bool {
        let same = |n: Option<&String>| n.is_some_and(|n| n.eq_ignore_ascii_case(name));
        same(self.server.get(&Role::Password))
            || same(self.domains.as_ref().and_then(|d| d.values.get(&Role::Password)))
    }

    /// The names file's text.
    pub fn to_toml(&self) -> String {
        let mut text = String::from(
            "# The MailEnable registry value names smarthost writes, learned by\n\
             # `smarthost mailenable learn` from the administrator's own exports.\n",
        );
        text.push_str(&toml::to_string(self).expect("names serialize"));
        text
    }

    /// Reads a names file; `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<Names>, Error> {
        let text = match smarthost_core::input::read_policy_file("mailenable names", path) {
            Ok(text) => text,
            Err(smarthost_core::Error::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let names: Names = toml::from_str(&text).map_err(|e| Error::Names {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if names.version != NAMES_VERSION {
            return Err(Error::Names {
                path: path.to_owned(),
                reason: format!("version {} is not {NAMES_VERSION}: run learn again", names.version),
            });
        }
        Ok(Some(names))
    }

    /// The names a plan would write that this server does not confirm:
    /// not learned, and not present in `reg` with the expected type. Empty
    /// when the names were learned.
    pub fn unconfirmed(&self, reg: &dyn Registry, writes: &[(String, String)]) -> Result<Vec<String>, Error> {
        if self.learned {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (key, name) in writes {
            let role = self.server.iter().find(|(_, n)| *n == name).map(|(r, _)| *r);
            let confirmed = match (reg.get(key, name)?, role) {
                (Some(RegData::Dword(_)), Some(role)) => role.is_number(),
                (Some(RegData::Sz(_)), Some(role)) => !role.is_number(),
                _ => false,
            };
            if !confirmed {
                out.push(format!("{key}\\{name}"));
            }
        }
        Ok(out)
    }
}
