//! The smarthost model: what relaying a mail server should do, validated, and
//! the trait that mail server backends implement to make it so.
//!
//! - [`RelayHost`], [`Encryption`], [`Credentials`], [`Smarthost`]: one relay.
//! - [`Policy`]: the server-wide and per-domain smarthosts plus [`Features`];
//!   [`Policy::route`] says where a sender's mail goes; [`Policy::load`] reads
//!   the TOML policy file.
//! - [`ConfigWriter`] and [`Plan`]: read, plan, apply.
//!
//! Every value is validated when it is built; nothing unvalidated reaches a
//! backend. Secrets never appear in `Debug`, `Display`, serialized output,
//! plans or errors.
#![deny(missing_docs)]

#[cfg(feature = "check")]
pub mod check;
mod credentials;
#[cfg(feature = "dns")]
pub mod dns;
mod domain;
mod encryption;
mod error;
mod features;
pub mod input;
pub mod peer_text;
mod plan;
mod policy;
mod policy_file;
mod preset;
mod relay;
mod smarthost;
pub mod spf;
mod text;
pub mod transaction;
mod writer;

pub use credentials::{Credentials, Secret, Username, REDACTED};
pub use domain::{DomainName, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use encryption::Encryption;
pub use error::{Error, Result};
pub use features::{Features, LevelFeatures};
pub use plan::{ApiRequest, Change, CommandRun, FileChange, Plan, RegistryChange, RegistryValue, JSON_SCHEMA};
pub use policy::{Policy, Route, Via};
pub use policy_file::{strip_newline, SecretSource};
pub use preset::{Preset, Provider, SpfRequirement, PROVIDERS};
pub use relay::{Host, RelayHost, DEFAULT_PORT};
pub use smarthost::Smarthost;
pub use writer::{Applied, ConfigWriter, RecordingError, RecordingWriter};
