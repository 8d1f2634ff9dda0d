//! The policy file: TOML, read into a validated [`Policy`].
//!
//! ```toml
//! [server]
//! relay = "[smtp.sendgrid.net]:587"
//! encryption = "starttls"          # none | starttls | implicit-tls
//! username = "apikey"
//! password_env = "SENDGRID_API_KEY"
//!
//! [domains."shop.example"]
//! provider = "mailgun-eu"                # fills in relay and encryption
//! relay = "[smtp.eu.mailgun.org]:587"    # explicit values win
//! username = "postmaster@mg.shop.example"
//! password_file = "secrets/mailgun"  # relative to the policy file
//!
//! [features.domain]
//! check_certificate = false
//! ```
//!
//! Passwords are never written in the policy file: they come from
//! `password_file` (the first line, one trailing newline removed) or
//! `password_env`. Unknown keys are errors, so a typo cannot be ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::credentials::{Credentials, Secret, Username};
use crate::domain::DomainName;
use crate::encryption::Encryption;
use crate::error::Error;
use crate::features::Features;
use crate::input;
use crate::policy::Policy;
use crate::preset::Preset;
use crate::smarthost::Smarthost;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    server: Option<SmarthostToml>,
    #[serde(default)]
    domains: BTreeMap<String, SmarthostToml>,
    #[serde(default)]
    features: Features,
}

/// One `[server]` or `[domains."..."]` table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmarthostToml {
    relay: Option<String>,
    provider: Option<String>,
    encryption: Option<Encryption>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    /// Only here to give a helpful error instead of "unknown field".
    password: Option<serde::de::IgnoredAny>,
}

/// Where a password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file; its content up to one trailing newline.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl SecretSource {
    /// Reads and validates the secret, at most
    /// [`MAX_SECRET_BYTES`](crate::input::MAX_SECRET_BYTES) (see
    /// [`crate::input`]). `field` names it in errors.
    pub fn read(&self, field: &str) -> Result<Secret, Error> {
        match self {
            SecretSource::File(path) => input::read_secret_file(field, path),
            SecretSource::Env(var) => input::read_secret_env(field, var),
        }
    }
}

/// Removes one trailing `\n` or `\r\n`, as editors add them to secret files.
pub fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

impl Policy {
    /// Reads a policy file: a regular file of at most
    /// [`MAX_POLICY_BYTES`](crate::input::MAX_POLICY_BYTES). Relative
    /// `password_file` paths are relative to the policy file's folder.
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let text = input::read_policy_file("policy", path)?;
        Policy::from_toml(path, &text)
    }

    /// Parses a policy from TOML text; `path` is used in messages and to
    /// resolve relative `password_file` paths.
    pub fn from_toml(path: &Path, text: &str) -> Result<Policy, Error> {
        let raw: PolicyToml = toml::from_str(text).map_err(|e| Error::PolicySyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let server = raw
            .server
            .map(|s| s.resolve(base).map_err(|e| e.in_field("server")))
            .transpose()?;
        let mut domains = BTreeMap::new();
        for (name, entry) in raw.domains {
            let prefix = format!("domains.{name:?}");
            let domain = DomainName::parse(&name).map_err(|e| retarget(e, &prefix))?;
            let smarthost = entry.resolve(base).map_err(|e| e.in_field(&prefix))?;
            if domains.insert(domain.clone(), smarthost).is_some() {
                return Err(Error::invalid(
                    prefix,
                    name,
                    format!("is the same domain as another entry once normalized ({domain})"),
                ));
            }
        }
        let policy = Policy {
            server,
            domains,
            features: raw.features,
        };
        policy.validate()?;
        Ok(policy)
    }
}

/// Reports a domain key's error at the key itself, not at `domain`.
fn retarget(e: Error, field: &str) -> Error {
    match e {
        Error::Invalid { value, reason, .. } => Error::Invalid {
            field: field.to_owned(),
            value,
            reason,
        },
        other => other,
    }
}

impl SmarthostToml {
    fn resolve(self, base: &Path) -> Result<Smarthost, Error> {
        if self.password.is_some() {
            return Err(Error::Missing {
                field: "password".into(),
                reason: "passwords are never read from the policy file; use password_file or password_env".into(),
            });
        }
        let (relay, encryption, preset_user) =
            Preset::combine(self.provider.as_deref(), self.relay.as_deref(), self.encryption)?;
        let username = self.username.or(preset_user.map(str::to_owned));
        let source = match (self.password_file, self.password_env) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "password_env",
                    "",
                    "give either password_file or password_env, not both",
                ))
            }
            (Some(file), None) => Some(SecretSource::File(base.join(file))),
            (None, Some(var)) => Some(SecretSource::Env(var)),
            (None, None) => None,
        };
        let credentials = match (username, source) {
            (Some(user), Some(source)) => Some(Credentials::new(Username::new(&user)?, source.read("password")?)),
            (Some(_), None) => {
                return Err(Error::Missing {
                    field: "password_file".into(),
                    reason: "a username needs a password_file or password_env".into(),
                })
            }
            (None, Some(_)) => {
                return Err(Error::Missing {
                    field: "username".into(),
                    reason: "a password needs a username".into(),
                })
            }
            (None, None) => None,
        };
        Ok(Smarthost {
            relay,
            encryption,
            credentials,
        })
    }
}
