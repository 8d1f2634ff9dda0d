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
//!
//! # Trust model
//!
//! Parsing is pure: [`PolicyDocument::parse`] reads no file and no
//! environment variable. A policy names where each password comes from
//! ([`SecretSource`]); only [`PolicyDocument::resolve`] reads them, through
//! the [`SecretResolver`] its caller chooses. A policy is a request to send
//! the password it names to the relay it names, so a policy from someone
//! the process does not trust must not be resolved with [`LocalSecrets`]:
//! it could name `/etc/shadow` or `AWS_SECRET_ACCESS_KEY` and a relay of its
//! own. A hosting panel that accepts policies from customers resolves them
//! with its own resolver (its vault, or a refusal).
//! [`Policy::load`] is the shortcut for a policy file the administrator
//! wrote: read, parse and resolve with [`LocalSecrets`].

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
use crate::relay::RelayHost;
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

impl std::fmt::Display for SecretSource {
    /// `file /path` or `env NAME`: where, never what.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "file {}", path.display()),
            SecretSource::Env(var) => write!(f, "env {var}"),
        }
    }
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

/// Turns a [`SecretSource`] into a secret. `field` is the dotted path of
/// the password in the policy (`domains."a.example".password`), for
/// errors.
///
/// Any `Fn(&str, &SecretSource) -> Result<Secret, Error>` is a resolver,
/// so a caller can refuse every source or look names up in a vault:
///
/// ```
/// use std::path::Path;
/// use smarthost_core::{Error, PolicyDocument, Secret, SecretSource};
///
/// let text = "[server]\nrelay = \"[relay.example]:587\"\nusername = \"u\"\npassword_env = \"RELAY_KEY\"\n";
/// let document = PolicyDocument::parse(Path::new("customer.toml"), text)?;
/// // This caller's vault knows one name; every other source is refused.
/// let vault = |field: &str, source: &SecretSource| match source {
///     SecretSource::Env(name) if name == "RELAY_KEY" => Secret::new("from-the-vault".to_owned()),
///     _ => Err(Error::SecretRefused { field: field.to_owned(), from: source.to_string() }),
/// };
/// let policy = document.resolve(&vault)?;
/// assert!(policy.server.unwrap().credentials.is_some());
/// # Ok::<(), Error>(())
/// ```
pub trait SecretResolver {
    /// The secret `source` names.
    fn resolve(&self, field: &str, source: &SecretSource) -> Result<Secret, Error>;
}

impl<F> SecretResolver for F
where
    F: Fn(&str, &SecretSource) -> Result<Secret, Error>,
{
    fn resolve(&self, field: &str, source: &SecretSource) -> Result<Secret, Error> {
        self(field, source)
    }
}

/// The resolver for a policy the administrator wrote: reads the file or
/// the environment variable of this process, capped (see
/// [`SecretSource::read`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalSecrets;

impl SecretResolver for LocalSecrets {
    fn resolve(&self, field: &str, source: &SecretSource) -> Result<Secret, Error> {
        source.read(field)
    }
}

/// A parsed and validated policy file whose passwords are still
/// [`SecretSource`]s: what the file asks for, before anything is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The `[server]` table.
    pub server: Option<SmarthostSpec>,
    /// The `[domains."..."]` tables, by normalized domain.
    pub domains: BTreeMap<DomainName, SmarthostSpec>,
    /// The `[features]` table.
    pub features: Features,
}

/// One smarthost of a [`PolicyDocument`]: a [`Smarthost`] whose password is
/// a source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmarthostSpec {
    /// The relay.
    pub relay: RelayHost,
    /// How the connection is encrypted.
    pub encryption: Encryption,
    /// The account, if the relay needs one.
    pub credentials: Option<CredentialSource>,
}

/// A user name and where its password comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialSource {
    /// The user name.
    pub username: Username,
    /// Where the password comes from.
    pub password: SecretSource,
}

impl PolicyDocument {
    /// Parses and validates a policy from TOML text, reading nothing:
    /// relays, domains, presets and the feature settings are checked, and
    /// `password_file` paths are joined to `path`'s folder. `path` names
    /// the file in messages.
    pub fn parse(path: &Path, text: &str) -> Result<PolicyDocument, Error> {
        let raw: PolicyToml = toml::from_str(text).map_err(|e| Error::PolicySyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        let server = raw
            .server
            .map(|s| s.spec(base).map_err(|e| e.in_field("server")))
            .transpose()?;
        let mut domains = BTreeMap::new();
        for (name, entry) in raw.domains {
            let prefix = format!("domains.{name:?}");
            let domain = DomainName::parse(&name).map_err(|e| retarget(e, &prefix))?;
            let spec = entry.spec(base).map_err(|e| e.in_field(&prefix))?;
            if domains.insert(domain.clone(), spec).is_some() {
                return Err(Error::invalid(
                    prefix,
                    name,
                    format!("is the same domain as another entry once normalized ({domain})"),
                ));
            }
        }
        let document = PolicyDocument {
            server,
            domains,
            features: raw.features,
        };
        // The feature settings are checked before any secret is asked for.
        document.without_secrets().validate()?;
        Ok(document)
    }

    /// Every password source with the field it is for, in file order.
    pub fn secret_sources(&self) -> impl Iterator<Item = (String, &SecretSource)> {
        let server = self.server.iter().map(|s| ("server".to_owned(), s));
        let domains = self
            .domains
            .iter()
            .map(|(d, s)| (format!("domains.{:?}", d.as_str()), s));
        server
            .chain(domains)
            .filter_map(|(prefix, s)| Some((format!("{prefix}.password"), &s.credentials.as_ref()?.password)))
    }

    /// The policy, each password read through `resolver`. Errors name the
    /// field (`domains."a.example".password`).
    pub fn resolve(&self, resolver: &dyn SecretResolver) -> Result<Policy, Error> {
        let smarthost = |prefix: &str, spec: &SmarthostSpec| -> Result<Smarthost, Error> {
            let credentials = match &spec.credentials {
                Some(c) => {
                    let field = format!("{prefix}.password");
                    let secret = resolver.resolve(&field, &c.password)?;
                    Some(Credentials::new(c.username.clone(), secret))
                }
                None => None,
            };
            Ok(Smarthost {
                relay: spec.relay.clone(),
                encryption: spec.encryption,
                credentials,
            })
        };
        let server = self.server.as_ref().map(|s| smarthost("server", s)).transpose()?;
        let mut domains = BTreeMap::new();
        for (domain, spec) in &self.domains {
            let prefix = format!("domains.{:?}", domain.as_str());
            domains.insert(domain.clone(), smarthost(&prefix, spec)?);
        }
        Ok(Policy {
            server,
            domains,
            features: self.features,
        })
    }

    /// The routes without their credentials, e.g. to validate or route
    /// before any secret is read.
    pub fn without_secrets(&self) -> Policy {
        let strip = |s: &SmarthostSpec| Smarthost {
            relay: s.relay.clone(),
            encryption: s.encryption,
            credentials: None,
        };
        Policy {
            server: self.server.as_ref().map(strip),
            domains: self.domains.iter().map(|(d, s)| (d.clone(), strip(s))).collect(),
            features: self.features,
        }
    }
}

impl Policy {
    /// Reads a policy file the administrator wrote: a regular file of at
    /// most [`MAX_POLICY_BYTES`](crate::input::MAX_POLICY_BYTES), parsed
    /// with [`PolicyDocument::parse`] and resolved with [`LocalSecrets`].
    /// Relative `password_file` paths are relative to the policy file's
    /// folder. See the module's trust model before loading a policy from
    /// anyone else.
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let text = input::read_policy_file("policy", path)?;
        PolicyDocument::parse(path, &text)?.resolve(&LocalSecrets)
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
    fn spec(self, base: &Path) -> Result<SmarthostSpec, Error> {
        if self.password.is_some() {
            return Err(Error::Missing {
                field: "password".into(),
                reason: "passwords are never read from the policy file; use password_file or password_env".into(),
            });
        }
        let combined = Preset::combine(self.provider.as_deref(), self.relay.as_deref(), self.encryption)?;
        let username = self.username.or(combined.username.map(str::to_owned));
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
            (Some(user), Some(password)) => Some(CredentialSource {
                username: Username::new(&user)?,
                password,
            }),
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
        Ok(SmarthostSpec {
            relay: combined.relay,
            encryption: combined.encryption,
            credentials,
        })
    }
}
