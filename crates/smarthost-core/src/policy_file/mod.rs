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
//! [domains."blog.example"]
//! direct = true                          # a direct exception
//!
//! [server]                               # (one [server] table per file)
//! backup = ["[smtp.backup.example]:587"] # tried in order when the relay cannot be reached
//!
//! [mailboxes."alice@shop.example"]       # wins over the domain's
//! relay = "[smtp.other.example]:587"
//!
//! [recipients."partner.example"]         # mail TO this domain, whoever sends it
//! relay = "[mx.partner.example]:25"      # or: direct = true
//!
//! bounces = "direct"                     # "server" (default), "direct",
//!                                        # or a relay: bounces = "[relay]:587"
//!                                        # or a [bounces] table like [server]
//!
//! [features.domain]
//! check_certificate = false
//! ```
//!
//! (The block above shows every key at once; a real file has each table
//! once and root keys such as `bounces` before the first table.)
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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::credentials::{Credentials, Secret, Username};
use crate::domain::DomainName;
use crate::encryption::Encryption;
use crate::error::Error;
use crate::features::Features;
use crate::input;
use crate::mailbox::Mailbox;
use crate::policy::{Bounces, Policy};
use crate::preset::{Preset, RelayChoice};
use crate::relay::RelayHost;
use crate::smarthost::Smarthost;

mod fast;

/// The policy file as written, before validation: what the `toml` crate
/// deserializes (every string owned), or [`fast::scan`] reads (strings
/// borrowed from the text).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyToml<'a> {
    server: Option<SmarthostToml<'a>>,
    #[serde(default)]
    domains: fast::Domains<'a>,
    #[serde(default)]
    mailboxes: BTreeMap<String, SmarthostToml<'a>>,
    #[serde(default)]
    recipients: BTreeMap<String, SmarthostToml<'a>>,
    bounces: Option<BouncesToml<'a>>,
    #[serde(default)]
    features: Features,
}

/// `bounces = "server" | "direct" | "RELAY"`, or a `[bounces]` table.
#[derive(Deserialize)]
#[serde(untagged)]
enum BouncesToml<'a> {
    Word(String),
    Table(Box<SmarthostToml<'a>>),
}

/// One `[server]` or `[domains."..."]` table, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmarthostToml<'a> {
    relay: Option<Cow<'a, str>>,
    provider: Option<Cow<'a, str>>,
    encryption: Option<Encryption>,
    username: Option<Cow<'a, str>>,
    password_file: Option<PathBuf>,
    password_env: Option<Cow<'a, str>>,
    /// Only here to give a helpful error instead of "unknown field".
    password: Option<serde::de::IgnoredAny>,
    /// Backup relays, tried in order.
    backup: Option<Vec<String>>,
    /// A direct exception (domains) or direct route (recipients).
    direct: Option<bool>,
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
    /// The domains whose table says `direct = true`.
    pub direct: BTreeSet<DomainName>,
    /// The `[mailboxes."..."]` tables, by normalized address.
    pub mailboxes: BTreeMap<Mailbox, SmarthostSpec>,
    /// The `[recipients."..."]` tables with a relay.
    pub recipients: BTreeMap<DomainName, SmarthostSpec>,
    /// The `[recipients."..."]` tables that say `direct = true`.
    pub direct_recipients: BTreeSet<DomainName>,
    /// `bounces`.
    pub bounces: Bounces<SmarthostSpec>,
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
    /// Backup relays, tried in order.
    pub backups: Vec<RelayHost>,
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
        Checked::parse(path, text).map(Checked::into_document)
    }

    /// `parse(path, text)?.resolve(resolver)` in one step, with the same
    /// result and the same errors, without building the document's maps
    /// (the policy's are built once).
    pub fn parse_and_resolve(path: &Path, text: &str, resolver: &dyn SecretResolver) -> Result<Policy, Error> {
        let (document, domains) = Checked::parse(path, text)?.into_parts();
        resolve(document, domains, resolver)
    }

    /// Every password source with the field it is for: the server's
    /// first, then the domains', the mailboxes', the recipient routes' and
    /// the bounce relay's, each in order.
    pub fn secret_sources(&self) -> impl Iterator<Item = SecretField<'_>> {
        let server = self.server.iter().map(|s| ("server".to_owned(), s));
        let domains = (self.domains.iter()).map(|(d, s)| (format!("domains.{:?}", d.as_str()), s));
        let mailboxes = (self.mailboxes.iter()).map(|(m, s)| (format!("mailboxes.{:?}", m.to_string()), s));
        let recipients = (self.recipients.iter()).map(|(d, s)| (format!("recipients.{:?}", d.as_str()), s));
        let bounces = self.bounces.relay().map(|s| ("bounces".to_owned(), s));
        server
            .chain(domains)
            .chain(mailboxes)
            .chain(recipients)
            .chain(bounces)
            .filter_map(|(prefix, s)| {
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
    pub fn resolve(mut self, resolver: &dyn SecretResolver) -> Result<Policy, Error> {
        let domains = std::mem::take(&mut self.domains);
        resolve(self, domains.into_iter(), resolver)
    }

    /// The routes without their credentials, e.g. to validate or route
    /// before any secret is read.
    pub fn without_secrets(&self) -> Policy {
        let strip = |s: &SmarthostSpec| Smarthost {
            relay: s.relay.clone(),
            encryption: s.encryption,
            credentials: None,
            backups: s.backups.clone(),
        };
        Policy {
            server: self.server.as_ref().map(strip),
            domains: self.domains.iter().map(|(d, s)| (d.clone(), strip(s))).collect(),
            direct: self.direct.clone(),
            mailboxes: self.mailboxes.iter().map(|(m, s)| (m.clone(), strip(s))).collect(),
            recipients: self.recipients.iter().map(|(d, s)| (d.clone(), strip(s))).collect(),
            direct_recipients: self.direct_recipients.clone(),
            bounces: match &self.bounces {
                Bounces::Server => Bounces::Server,
                Bounces::Direct => Bounces::Direct,
                Bounces::Relay(s) => Bounces::Relay(strip(s)),
            },
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
        PolicyDocument::parse_and_resolve(path, &text, &LocalSecrets)
    }
}

/// A policy validated from its tables, with its domains not yet in a map:
/// [`PolicyDocument::parse`] puts them into the document's,
/// [`PolicyDocument::parse_and_resolve`] straight into the policy's.
struct Checked {
    /// Everything but the domains (`domains` is empty).
    document: PolicyDocument,
    /// The relayed domains and where their entries are in `specs`, sorted
    /// by domain, each domain once.
    keys: Vec<(Prefix, DomainName, usize)>,
    /// Their smarthosts, in file order; each is taken once.
    specs: Vec<Option<SmarthostSpec>>,
}

impl Checked {
    fn parse(path: &Path, text: &str) -> Result<Checked, Error> {
        // The usual layout is read without a TOML tree; anything else, and
        // every error, comes from the toml crate (see `fast`).
        if let Some(raw) = fast::scan(text, path.parent().unwrap_or(Path::new(""))) {
            if let Ok(checked) = Checked::from_raw(path, raw) {
                return Ok(checked);
            }
        }
        Checked::parse_with_toml(path, text)
    }

    /// [`Self::parse`] through the toml crate alone: the reference.
    fn parse_with_toml(path: &Path, text: &str) -> Result<Checked, Error> {
        let raw: PolicyToml<'_> = toml::from_str(text).map_err(|e| Error::PolicySyntax {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        Checked::from_raw(path, raw)
    }

    /// The document without its domains, and the relayed domains with
    /// their smarthosts, in order.
    fn into_parts(
        self,
    ) -> (
        PolicyDocument,
        impl ExactSizeIterator<Item = (DomainName, SmarthostSpec)>,
    ) {
        let Checked {
            document,
            keys,
            mut specs,
        } = self;
        let domains =
            (keys.into_iter()).map(move |(_, domain, i)| (domain, specs[i].take().expect("each entry is taken once")));
        (document, domains)
    }

    fn into_document(self) -> PolicyDocument {
        let (document, domains) = self.into_parts();
        // In order already: built in bulk.
        let domains = domains.collect();
        PolicyDocument { domains, ..document }
    }

    /// Validates the tables as written.
    fn from_raw(path: &Path, raw: PolicyToml<'_>) -> Result<Checked, Error> {
        let base = path.parent().unwrap_or(Path::new(""));
        let server = raw
            .server
            .map(|s| {
                s.relay_spec(base, &mut HashMap::new())
                    .map_err(|e| e.in_field("server"))
            })
            .transpose()?;
        let tables = match raw.domains {
            fast::Domains::Sorted(map) => {
                let mut tables = DomainTables::default();
                for (name, entry) in map {
                    tables.add(base, Cow::Owned(name), entry)?;
                }
                tables
            }
            fast::Domains::Checked(tables) => tables,
        };
        let DomainTables {
            mut relays,
            names,
            mut keys,
            specs,
            direct,
        } = tables;
        // By the names' first bytes first: most comparisons then need no
        // look at the names themselves, elsewhere in memory.
        keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        if let Some(pair) = keys.windows(2).find(|pair| pair[0].1 == pair[1].1) {
            let (first, second) = (&pair[0], &pair[1]);
            // Named as the toml crate's order would meet them.
            let (name, domain) = if names[first.2] <= names[second.2] {
                (&names[second.2], &second.1)
            } else {
                (&names[first.2], &first.1)
            };
            return Err(same_entry("domains", name, domain));
        }
        if let Some((_, domain, i)) = keys.iter().find(|(_, d, _)| direct.contains(d)) {
            return Err(same_entry("domains", &names[*i], domain));
        }
        let mut mailboxes = BTreeMap::new();
        for (name, entry) in raw.mailboxes {
            let prefix = format!("mailboxes.{name:?}");
            let mailbox = Mailbox::parse_field(&prefix, &name)?;
            let spec = entry.relay_spec(base, &mut relays).map_err(|e| e.in_field(&prefix))?;
            if mailboxes.insert(mailbox.clone(), spec).is_some() {
                return Err(Error::invalid(
                    prefix,
                    name,
                    format!("is the same mailbox as another entry once normalized ({mailbox})"),
                ));
            }
        }
        let mut recipients = BTreeMap::new();
        let mut direct_recipients = BTreeSet::new();
        for (name, entry) in raw.recipients {
            let prefix = format!("recipients.{name:?}");
            let domain = DomainName::parse(&name).map_err(|e| retarget(e, &prefix))?;
            let known = recipients.contains_key(&domain) || direct_recipients.contains(&domain);
            match entry.spec_with(base, &mut relays).map_err(|e| e.in_field(&prefix))? {
                _ if known => return Err(same_entry("recipients", &name, &domain)),
                Some(spec) => {
                    recipients.insert(domain, spec);
                }
                None => {
                    direct_recipients.insert(domain);
                }
            }
        }
        let bounces = match raw.bounces {
            None => Bounces::Server,
            Some(BouncesToml::Word(word)) => match word.as_str() {
                "server" => Bounces::Server,
                "direct" => Bounces::Direct,
                relay => {
                    let relay = RelayHost::parse(relay).map_err(|e| retarget(e, "bounces"))?;
                    Bounces::Relay(SmarthostSpec {
                        encryption: Encryption::default_for_port(relay.port()),
                        relay,
                        credentials: None,
                        backups: Vec::new(),
                    })
                }
            },
            Some(BouncesToml::Table(entry)) => {
                Bounces::Relay(entry.relay_spec(base, &mut relays).map_err(|e| e.in_field("bounces"))?)
            }
        };
        let document = PolicyDocument {
            server,
            domains: BTreeMap::new(),
            direct,
            mailboxes,
            recipients,
            direct_recipients,
            bounces,
            features: raw.features,
        };
        // The feature settings are checked before any secret is asked for;
        // the levels in use are all they look at, so one entry of each kind
        // stands for all (a copy of 100,000 domains was 18 % of loading
        // them). Entries that clash were refused above.
        let one = |s: &SmarthostSpec| Smarthost::new(s.relay.clone());
        let levels = Policy {
            server: document.server.as_ref().map(one),
            domains: keys
                .iter()
                .take(1)
                .map(|(_, d, i)| (d.clone(), one(specs[*i].as_ref().expect("not taken yet"))))
                .collect(),
            direct: document.direct.iter().take(1).cloned().collect(),
            mailboxes: document
                .mailboxes
                .iter()
                .take(1)
                .map(|(m, s)| (m.clone(), one(s)))
                .collect(),
            recipients: document
                .recipients
                .iter()
                .take(1)
                .map(|(d, s)| (d.clone(), one(s)))
                .collect(),
            direct_recipients: document.direct_recipients.iter().take(1).cloned().collect(),
            bounces: match &document.bounces {
                Bounces::Server => Bounces::Server,
                Bounces::Direct => Bounces::Direct,
                Bounces::Relay(s) => Bounces::Relay(one(s)),
            },
            features: document.features,
        };
        levels.validate()?;
        Ok(Checked { document, keys, specs })
    }
}

/// The `[domains."..."]` tables, each checked as it comes (the scanner
/// keeps no table of its own: 100,000 of them were 17 MB, and every page
/// of it a page fault).
#[derive(Default)]
struct DomainTables<'a> {
    /// The relays parsed so far, by their text: domains of one relay share
    /// its parsed form.
    relays: HashMap<String, RelayHost>,
    /// The relayed domains' names as written, in file order.
    names: Vec<Cow<'a, str>>,
    /// The relayed domains, each with the index of its name and smarthost;
    /// sorted as (domain, index) pairs, since moving whole entries made
    /// the sort several times slower.
    keys: Vec<(Prefix, DomainName, usize)>,
    /// Their smarthosts, in file order.
    specs: Vec<Option<SmarthostSpec>>,
    /// The domains that say `direct = true`.
    direct: BTreeSet<DomainName>,
}

impl<'a> DomainTables<'a> {
    /// Checks one table; repeated names are found by [`Checked::from_raw`].
    fn add(&mut self, base: &Path, name: Cow<'a, str>, entry: SmarthostToml<'a>) -> Result<(), Error> {
        let prefix = || format!("domains.{name:?}");
        let domain = DomainName::parse(&name).map_err(|e| retarget(e, &prefix()))?;
        match entry
            .spec_with(base, &mut self.relays)
            .map_err(|e| e.in_field(&prefix()))?
        {
            Some(spec) => {
                self.keys.push((Prefix::of(&domain), domain, self.specs.len()));
                self.specs.push(Some(spec));
                self.names.push(name);
            }
            None => {
                if !self.direct.insert(domain.clone()) {
                    return Err(same_entry("domains", &name, &domain));
                }
            }
        }
        Ok(())
    }
}

/// A domain name's first 16 bytes, zero-padded: names in this order are in
/// the names' order too (a name has no NUL byte), so only names that share
/// their first 16 bytes need comparing.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Prefix(u64, u64);

impl Prefix {
    fn of(domain: &DomainName) -> Prefix {
        Prefix::of_str(domain.as_str())
    }

    fn of_str(name: &str) -> Prefix {
        let mut bytes = [0; 16];
        let name = name.as_bytes();
        let n = name.len().min(16);
        bytes[..n].copy_from_slice(&name[..n]);
        let (high, low) = bytes.split_at(8);
        Prefix(
            u64::from_be_bytes(high.try_into().expect("8 bytes")),
            u64::from_be_bytes(low.try_into().expect("8 bytes")),
        )
    }
}

/// The policy of `document` with `domains` (in order) instead of its own,
/// each password read through `resolver` (see [`PolicyDocument::resolve`]).
fn resolve(
    document: PolicyDocument,
    domains: impl Iterator<Item = (DomainName, SmarthostSpec)>,
    resolver: &dyn SecretResolver,
) -> Result<Policy, Error> {
    let mut read: HashMap<SecretSource, Secret> = HashMap::new();
    // The source met last, and its secret: the domains of one account often
    // come in a row, and comparing is cheaper than hashing.
    let mut last: Option<(SecretSource, Secret)> = None;
    let mut resolve = |prefix: &dyn Fn() -> String, spec: SmarthostSpec| -> Result<Smarthost, Error> {
        let credentials = match spec.credentials {
            Some(c) => {
                let secret = match &last {
                    Some((source, secret)) if *source == c.password => secret.clone(),
                    _ => {
                        let secret = match read.get(&c.password) {
                            Some(secret) => secret.clone(),
                            None => {
                                // The field is only named when a secret is read.
                                let field = format!("{}.password", prefix());
                                let secret = resolver.resolve(&field, &c.password)?;
                                read.insert(c.password.clone(), secret.clone());
                                secret
                            }
                        };
                        last = Some((c.password, secret.clone()));
                        secret
                    }
                };
                Some(Credentials::new(c.username, secret))
            }
            None => None,
        };
        Ok(Smarthost {
            relay: spec.relay,
            encryption: spec.encryption,
            credentials,
            backups: spec.backups,
        })
    };
    let server = document
        .server
        .map(|s| resolve(&|| "server".to_owned(), s))
        .transpose()?;
    let mut relayed = Vec::with_capacity(domains.size_hint().0);
    for (d, s) in domains {
        let smarthost = resolve(&|| format!("domains.{:?}", d.as_str()), s)?;
        relayed.push((d, smarthost));
    }
    let mut mailboxes = BTreeMap::new();
    for (m, s) in document.mailboxes {
        let smarthost = resolve(&|| format!("mailboxes.{:?}", m.to_string()), s)?;
        mailboxes.insert(m, smarthost);
    }
    let mut recipients = BTreeMap::new();
    for (d, s) in document.recipients {
        let smarthost = resolve(&|| format!("recipients.{:?}", d.as_str()), s)?;
        recipients.insert(d, smarthost);
    }
    let bounces = document.bounces.map(|s| resolve(&|| "bounces".to_owned(), s))?;
    Ok(Policy {
        server,
        // In order already: built in bulk.
        domains: relayed.into_iter().collect(),
        direct: document.direct,
        mailboxes,
        recipients,
        direct_recipients: document.direct_recipients,
        bounces,
        features: document.features,
    })
}

/// Two keys of one table that name the same entry once normalized (or a
/// domain that is both relayed and direct).
fn same_entry(table: &str, name: &str, normalized: &DomainName) -> Error {
    Error::invalid(
        format!("{table}.{name:?}"),
        name,
        format!("is the same domain as another entry once normalized ({normalized})"),
    )
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

impl SmarthostToml<'_> {
    /// A table that must name a relay (`[server]`, `[mailboxes."..."]`,
    /// `[bounces]`): `direct` is refused.
    fn relay_spec(self, base: &Path, relays: &mut HashMap<String, RelayHost>) -> Result<SmarthostSpec, Error> {
        if self.direct.is_some() {
            return Err(Error::invalid(
                "direct",
                "true",
                "only a [domains.\"...\"] or [recipients.\"...\"] table can be direct; remove the table instead",
            ));
        }
        Ok(self.spec_with(base, relays)?.expect("not direct"))
    }

    /// The smarthost of the table, or `None` for `direct = true` (which
    /// allows no other key). A relay written the same way as one of
    /// `relays` (parsed so far) is not parsed again.
    fn spec_with(self, base: &Path, relays: &mut HashMap<String, RelayHost>) -> Result<Option<SmarthostSpec>, Error> {
        match self.direct {
            Some(true) => {
                let other = [
                    ("relay", self.relay.is_some()),
                    ("provider", self.provider.is_some()),
                    ("encryption", self.encryption.is_some()),
                    ("username", self.username.is_some()),
                    ("password_file", self.password_file.is_some()),
                    ("password_env", self.password_env.is_some()),
                    ("password", self.password.is_some()),
                    ("backup", self.backup.is_some()),
                ];
                return match other.iter().find(|(_, given)| *given) {
                    Some((key, _)) => Err(Error::invalid(
                        "direct",
                        "true",
                        format!("direct delivery takes no {key}; give either direct = true or a relay"),
                    )),
                    None => Ok(None),
                };
            }
            Some(false) => {
                return Err(Error::invalid(
                    "direct",
                    "false",
                    "leave direct out for a relayed entry; only direct = true means something",
                ))
            }
            None => {}
        }
        if self.password.is_some() {
            return Err(Error::Missing {
                field: "password".into(),
                reason: "passwords are never read from the policy file; use password_file or password_env".into(),
            });
        }
        let known = match (&self.provider, &self.relay) {
            (None, Some(text)) => relays.get(text.as_ref()),
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
                    relays.insert(text.as_ref().to_owned(), combined.relay.clone());
                }
                combined
            }
        };
        let username = self.username.or(combined.username.map(Cow::Borrowed));
        let source = match (self.password_file, self.password_env) {
            (Some(_), Some(_)) => {
                return Err(Error::invalid(
                    "password_env",
                    "",
                    "give either password_file or password_env, not both",
                ))
            }
            (Some(file), None) => Some(SecretSource::File(base.join(file))),
            (None, Some(var)) => Some(SecretSource::Env(var.into_owned())),
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
        let mut backups = Vec::new();
        for (i, text) in self.backup.unwrap_or_default().iter().enumerate() {
            let relay = RelayHost::parse(text).map_err(|e| retarget(e, &format!("backup[{i}]")))?;
            backups.push(relay);
        }
        let backups = if backups.is_empty() {
            backups
        } else {
            let checked = Smarthost::new(combined.relay.clone())
                .with_backups(backups)
                .map_err(|e| retarget(e, "backup"))?;
            checked.backups
        };
        Ok(Some(SmarthostSpec {
            relay: combined.relay,
            encryption: combined.encryption,
            credentials,
            backups,
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::Prefix;

    proptest! {
        /// Names in their prefixes' order are in the names' order.
        #[test]
        fn the_prefix_order_is_the_name_order(a in "[ab.-]{0,20}", b in "[ab.-]{0,20}") {
            let (pa, pb) = (Prefix::of_str(&a), Prefix::of_str(&b));
            if pa != pb {
                prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
            } else {
                prop_assert_eq!(a.get(..16), b.get(..16));
            }
        }
    }
}
