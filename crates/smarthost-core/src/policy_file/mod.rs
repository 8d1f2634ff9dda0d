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

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::credentials::{Credentials, Secret, Username};
use crate::domain::DomainName;
use crate::encryption::Encryption;
use crate::error::Error;
use crate::features::Features;
use crate::input;
use crate::policy::Policy;
use crate::preset::{Preset, RelayChoice};
use crate::relay::RelayHost;
use crate::smarthost::Smarthost;

mod fast;

/// The policy file as written, before validation: what the `toml` crate
/// deserializes, or [`fast::scan`] reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml {
    server: Option<SmarthostToml>,
    #[serde(default)]
    domains: fast::Domains,
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// A password's field in the policy and where it comes from
/// ([`PolicyDocument::secret_sources`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretField<'a> {
    /// The dotted path of the password, e.g. `domains."a.example".password`.
    pub field: String,
    /// Where it comes from.
    pub source: &'a SecretSource,
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
        // The usual layout is read without a TOML tree; anything else, and
        // every error, comes from the toml crate (see `fast`).
        if let Some(raw) = fast::scan(text) {
            if let Ok(document) = PolicyDocument::from_raw(path, raw) {
                return Ok(document);
            }
        }
        PolicyDocument::parse_with_toml(path, text)
    }

    /// [`Self::parse`] through the toml crate alone: the reference.
    fn parse_with_toml(path: &Path, text: &str) -> Result<PolicyDocument, Error> {
        let raw: PolicyToml = toml::from_str(text).map_err(|e| Error::PolicySyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        PolicyDocument::from_raw(path, raw)
    }

    /// Validates the tables as written.
    fn from_raw(path: &Path, raw: PolicyToml) -> Result<PolicyDocument, Error> {
        let base = path.parent().unwrap_or(Path::new(""));
        let server = raw
            .server
            .map(|s| s.spec(base).map_err(|e| e.in_field("server")))
            .transpose()?;
        // Domains of one relay share its parsed form.
        let mut relays: HashMap<String, RelayHost> = HashMap::new();
        let mut domains = Vec::new();
        for (name, entry) in raw.domains.into_vec() {
            let prefix = || format!("domains.{name:?}");
            let domain = DomainName::parse(&name).map_err(|e| retarget(e, &prefix()))?;
            let spec = (entry.spec_with(base, &mut relays)).map_err(|e| e.in_field(&prefix()))?;
            domains.push((name, domain, spec));
        }
        // Sorted, then built in bulk.
        domains.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        if let Some(pair) = domains.windows(2).find(|pair| pair[0].1 == pair[1].1) {
            let (first, second) = (&pair[0], &pair[1]);
            // Named as the toml crate's order would meet them.
            let (name, domain) = if first.0 <= second.0 {
                (&second.0, &second.1)
            } else {
                (&first.0, &first.1)
            };
            return Err(Error::invalid(
                format!("domains.{name:?}"),
                name.clone(),
                format!("is the same domain as another entry once normalized ({domain})"),
            ));
        }
        let domains: BTreeMap<DomainName, SmarthostSpec> = domains.into_iter().map(|(_, d, s)| (d, s)).collect();
        let document = PolicyDocument {
            server,
            domains,
            features: raw.features,
        };
        // The feature settings are checked before any secret is asked for;
        // the levels in use are all they look at.
        let levels = Policy {
            server: document.server.as_ref().map(|s| Smarthost::new(s.relay.clone())),
            domains: (document.domains.iter().next())
                .map(|(d, s)| (d.clone(), Smarthost::new(s.relay.clone())))
                .into_iter()
                .collect(),
            features: document.features,
        };
        levels.validate()?;
        Ok(document)
    }

    /// Every password source with the field it is for: the server's
    /// first, then the domains' in order.
    pub fn secret_sources(&self) -> impl Iterator<Item = SecretField<'_>> {
        let server = self.server.iter().map(|s| ("server".to_owned(), s));
        let domains = (self.domains.iter()).map(|(d, s)| (format!("domains.{:?}", d.as_str()), s));
        server.chain(domains).filter_map(|(prefix, s)| {
            Some(SecretField {
                field: format!("{prefix}.password"),
                source: &s.credentials.as_ref()?.password,
            })
        })
    }

    /// The policy, each password read through `resolver`. Errors name the
    /// field (`domains."a.example".password`).
    ///
    /// Each distinct source is read once, so domains that share a password
    /// file get the same password even if the file changes meanwhile.
    pub fn resolve(self, resolver: &dyn SecretResolver) -> Result<Policy, Error> {
        fn smarthost<'a>(
            read: &mut HashMap<&'a SecretSource, Secret>,
            resolver: &dyn SecretResolver,
            prefix: &str,
            spec: &'a SmarthostSpec,
        ) -> Result<Option<Credentials>, Error> {
            let credentials = match &spec.credentials {
                Some(c) => {
                    let secret = match read.get(&c.password) {
                        Some(secret) => secret.clone(),
                        None => {
                            let field = format!("{prefix}.password");
                            let secret = resolver.resolve(&field, &c.password)?;
                            read.insert(&c.password, secret.clone());
                            secret
                        }
                    };
                    Some(Credentials::new(c.username.clone(), secret))
                }
                None => None,
            };
            Ok(credentials)
        }
        let mut read = HashMap::new();
        let mut credentials = Vec::with_capacity(self.domains.len());
        let server_credentials = (self.server.as_ref())
            .map(|s| smarthost(&mut read, resolver, "server", s))
            .transpose()?
            .flatten();
        for (domain, spec) in &self.domains {
            // The field is only named when a secret is read.
            let prefix = if spec.credentials.is_some() {
                format!("domains.{:?}", domain.as_str())
            } else {
                String::new()
            };
            credentials.push(smarthost(&mut read, resolver, &prefix, spec)?);
        }
        drop(read);
        let with = |spec: SmarthostSpec, credentials: Option<Credentials>| Smarthost {
            relay: spec.relay,
            encryption: spec.encryption,
            credentials,
        };
        Ok(Policy {
            server: self.server.map(|s| with(s, server_credentials)),
            // In order already: built in bulk.
            domains: (self.domains.into_iter())
                .zip(credentials)
                .map(|((d, s), c)| (d, with(s, c)))
                .collect(),
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
        self.spec_with(base, &mut HashMap::new())
    }

    /// [`Self::spec`], with the relays parsed so far: a relay written the
    /// same way again is not parsed again.
    fn spec_with(self, base: &Path, relays: &mut HashMap<String, RelayHost>) -> Result<SmarthostSpec, Error> {
        if self.password.is_some() {
            return Err(Error::Missing {
                field: "password".into(),
                reason: "passwords are never read from the policy file; use password_file or password_env".into(),
            });
        }
        let known = match (&self.provider, &self.relay) {
            (None, Some(text)) => relays.get(text),
            _ => None,
        };
        let combined = match known {
            // What Preset::combine gives for an explicit relay without a
            // provider.
            Some(relay) => RelayChoice {
                relay: relay.clone(),
                encryption: self.encryption.unwrap_or(Encryption::default_for_port(relay.port())),
                username: None,
            },
            None => {
                let combined = Preset::combine(self.provider.as_deref(), self.relay.as_deref(), self.encryption)?;
                if let (None, Some(text)) = (&self.provider, &self.relay) {
                    relays.insert(text.clone(), combined.relay.clone());
                }
                combined
            }
        };
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
