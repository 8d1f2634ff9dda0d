//! The smarthost model: what relaying a mail server should do, validated, and
//! the trait that mail server backends implement to make it so.
//!
//! - [`RelayHost`], [`Encryption`], [`Credentials`], [`Smarthost`]: one relay.
//! - [`Policy`]: the server-wide and per-domain smarthosts plus [`Features`];
//!   [`Policy::route`] says where a sender's mail goes; [`Policy::load`] reads
//!   the TOML policy file the administrator wrote.
//! - [`PolicyDocument`]: a policy file parsed without reading anything, its
//!   passwords still [`SecretSource`]s until a [`SecretResolver`] of the
//!   caller's choice reads them (the trust model is in its docs).
//! - [`ConfigWriter`] and [`Plan`]: read, plan, apply; [`BoxedWriter`] holds
//!   a writer of any backend, its errors erased into [`WriterError`] that
//!   keeps their [`ErrorKind`] (stale plan, lock held, invalid input,
//!   transient).
//!
//! Every value is validated when it is built; nothing unvalidated reaches a
//! backend. Secrets never appear in `Debug`, `Display`, serialized output,
//! plans or errors.
//!
//! The connection check ([`check`], feature `check`) and the DNS assistant
//! ([`dns`], feature `dns`) are behind cargo features, so that an embedder
//! that only renders configurations compiles neither tokio nor rustls.
//!
//! ```
//! use smarthost_core::{ConfigWriter, Policy, RecordingWriter, Via};
//!
//! // A policy file as an administrator writes it. The password comes from
//! // a file beside it, never from the policy itself.
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("sendgrid.key"), "SG.not-a-real-key\n")?;
//! let path = dir.path().join("policy.toml");
//! std::fs::write(
//!     &path,
//!     r#"
//! [server]
//! relay = "[smtp.sendgrid.net]:587"
//! username = "apikey"
//! password_file = "sendgrid.key"
//!
//! [domains."shop.example.com"]
//! relay = "[smtp.eu.mailgun.org]:465"
//! encryption = "implicit-tls"
//! "#,
//! )?;
//! let policy = Policy::load(&path)?;
//!
//! // A domain's smarthost wins over the server-wide one.
//! assert!(matches!(policy.route("alice@shop.example.com")?.via, Via::Domain(_)));
//! assert!(matches!(policy.route("bob@blog.example.net")?.via, Via::Server(_)));
//!
//! // A backend reads, plans and applies. RecordingWriter is the in-memory
//! // one; postfix-backend, mailenable-backend and smartermail-backend
//! // write real configurations.
//! let writer = RecordingWriter::default();
//! let plan = writer.plan(&policy)?;
//! assert!(!plan.render().contains("SG.not-a-real-key")); // secrets redacted
//! writer.apply(&plan)?;
//! assert!(writer.plan(&policy)?.is_empty()); // applying twice changes nothing
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod any_writer;
#[cfg(feature = "check")]
#[cfg_attr(docsrs, doc(cfg(feature = "check")))]
pub mod check;
mod credentials;
#[cfg(feature = "dns")]
#[cfg_attr(docsrs, doc(cfg(feature = "dns")))]
pub mod dns;
mod domain;
mod encryption;
mod error;
mod error_kind;
mod features;
pub mod input;
mod mailbox;
pub mod peer_text;
mod plan;
mod policy;
mod policy_file;
mod preset;
mod relay;
mod smarthost;
pub mod spf;
mod text;
pub mod text_ends;
pub mod transaction;
mod writer;

pub use any_writer::{boxed, BoxedWriter, WriterError};
pub use credentials::{Credentials, Secret, Username, REDACTED};
pub use domain::{DomainName, MAX_LABEL_LEN, MAX_NAME_LEN};
pub use encryption::Encryption;
pub use error::{Error, Result};
pub use error_kind::{Classify, ErrorKind};
pub use features::{Features, LevelFeatures};
pub use mailbox::{Mailbox, MAX_LOCAL_LEN};
pub use plan::{ApiRequest, Change, CommandRun, FileChange, Plan, RegistryChange, RegistryValue, JSON_SCHEMA};
pub use policy::{Bounces, Policy, Route, RoutingRule, Rule, Via};
pub use policy_file::{
    CredentialSource, LocalSecrets, PolicyDocument, SecretField, SecretResolver, SecretSource, SmarthostSpec,
};
pub use preset::{Preset, Provider, RelayChoice, SpfRequirement, PROVIDERS};
pub use relay::{Host, RelayHost, DEFAULT_PORT};
pub use smarthost::{Smarthost, MAX_BACKUPS};
pub use writer::{Applied, ConfigWriter, RecordingError, RecordingWriter};
