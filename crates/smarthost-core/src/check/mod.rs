//! The connection check: resolve, connect, banner, EHLO, STARTTLS or
//! implicit TLS with certificate validation, EHLO again, AUTH, QUIT. No mail
//! is sent. Every step has a timeout and bounded input, and a failing step
//! says what is wrong and how to fix it. Needs the `check` feature.
//!
//! The check follows the rules of the Postfix configuration smarthost
//! writes: the same encryption, the certificate checked as the TLS policy
//! entry will check it (`secure match=HOST`; see [`NameCheck`]) against the
//! trust anchors Postfix has (see [`PostfixTrust`]) unless the level's
//! `check_certificate` is off, a certificate pinned in the CA file accepted
//! as OpenSSL accepts it, no SNI (Postfix's `smtp_tls_servername` is empty
//! by default), and PLAIN or LOGIN as mechanisms.

mod many;
mod names;
mod probe;
mod smtp;
mod tls;
mod trust;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use serde::Serialize;

use crate::encryption::Encryption;
use crate::peer_text::Redactor;
use crate::smarthost::Smarthost;

pub use many::{check_many, CheckTarget, Checked};
pub use probe::check;
pub use tls::TlsInfo;
pub use trust::PostfixTrust;

/// How the check runs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The limit for each step (default 10 s).
    pub step_timeout: Duration,
    /// Verify the certificate chain and host name (default on).
    pub check_certificate: bool,
    /// Trust anchors; `None`: the system's. For Postfix, what
    /// [`PostfixTrust::load`] gives. A self-signed certificate among them
    /// is accepted as the server's own certificate (pinned), as OpenSSL
    /// accepts it.
    pub roots: Option<Vec<CertificateDer<'static>>>,
    /// Where the trust anchors come from, in words, for the report and the
    /// advice (e.g. `smtp_tls_CAfile /etc/postfix/relay-ca.pem`); `None`:
    /// "the system store" or "the given CA file".
    pub trust_source: Option<String>,
    /// How certificate names are matched.
    pub names: NameCheck,
    /// The name sent with EHLO.
    pub ehlo_name: String,
    /// A DNS server for MX lookups; `None`: the system's resolver.
    pub dns_server: Option<SocketAddr>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            step_timeout: Duration::from_secs(10),
            check_certificate: true,
            roots: None,
            trust_source: None,
            names: NameCheck::Postfix,
            ehlo_name: "localhost".to_owned(),
            dns_server: None,
        }
    }
}

/// How the certificate's names are matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameCheck {
    /// As the TLS policy smarthost writes for Postfix: `secure
    /// match=HOST` for a relay given by name (dNSName, else CommonName,
    /// whole-label wildcards), and plain `secure` for a relay given by
    /// address, whose default `nexthop, dot-nexthop` matching no
    /// certificate passes with OpenSSL 3. No SNI is sent.
    #[default]
    Postfix,
    /// The relay's host name or address, as other mail servers check it;
    /// SNI is sent.
    Relay,
}

/// The steps, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepName {
    /// Host name to addresses (and MX hosts when the relay wants MX lookup).
    Resolve,
    /// TCP connection.
    Connect,
    /// TLS handshake right after connecting (implicit TLS).
    Tls,
    /// The server's 220 greeting.
    Banner,
    /// EHLO and the extensions offered.
    Ehlo,
    /// STARTTLS and the TLS handshake after it.
    Starttls,
    /// EHLO again inside TLS.
    EhloTls,
    /// SMTP AUTH with the credentials.
    Auth,
    /// QUIT.
    Quit,
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StepName::Resolve => "resolve",
            StepName::Connect => "connect",
            StepName::Tls => "tls",
            StepName::Banner => "banner",
            StepName::Ehlo => "ehlo",
            StepName::Starttls => "starttls",
            StepName::EhloTls => "ehlo-tls",
            StepName::Auth => "auth",
            StepName::Quit => "quit",
        })
    }
}

/// What went wrong, as data: `smarthost check` explains it in words and
/// programs can match on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Failure {
    /// The name has no address (or no MX host).
    Resolve(String),
    /// Nothing listens on the port (RST).
    Refused,
    /// No answer within the step's timeout.
    Timeout,
    /// No greeting within the timeout.
    NoBanner,
    /// The server closed the connection.
    Closed,
    /// A read or write failed.
    Io(String),
    /// A line longer than the limit.
    LineTooLong,
    /// A multi-line reply longer than the limit.
    ReplyTooLong,
    /// The bytes are not SMTP replies (TLS or garbage on a plain connection).
    NotSmtp(String),
    /// The server answered in plain SMTP where TLS was expected.
    PlainOnTlsPort,
    /// The TLS handshake failed for another reason.
    Handshake(String),
    /// STARTTLS is not in the EHLO reply.
    NoStarttls,
    /// The certificate has expired (on the date given).
    CertificateExpired(String),
    /// The certificate is not valid yet.
    CertificateNotYetValid,
    /// The certificate does not name the relay host: the names it has.
    CertificateWrongName(Vec<String>),
    /// The certificate does not chain to a trusted root (private CA not in
    /// the trust anchors).
    CertificateUntrusted,
    /// The certificate is self-signed and not pinned (not itself among the
    /// trust anchors).
    CertificateSelfSigned,
    /// The server presents a CA certificate (basicConstraints CA:TRUE) as
    /// its own, not pinned in the trust anchors.
    CertificateIsCa,
    /// The certificate is not for TLS servers (extended key usage).
    CertificateWrongPurpose,
    /// Another certificate problem.
    Certificate(String),
    /// AUTH is not offered (after TLS).
    AuthNotOffered,
    /// Neither PLAIN nor LOGIN is offered: the mechanisms offered.
    NoMechanism(Vec<String>),
    /// The credentials were rejected: code and text of the reply.
    AuthRejected(u16, String),
    /// An unexpected reply: code and text.
    Unexpected(u16, String),
}

impl Failure {
    /// The failure with every text that may come from the server (or from
    /// what it made a library say) sanitized by `redactor`.
    pub(crate) fn sanitized(self, redactor: &Redactor) -> Failure {
        let text = |s: String| redactor.sanitize(&s);
        let list = |v: Vec<String>| v.into_iter().map(|s| redactor.sanitize(&s)).collect();
        match self {
            Failure::Resolve(s) => Failure::Resolve(text(s)),
            Failure::Io(s) => Failure::Io(text(s)),
            Failure::NotSmtp(s) => Failure::NotSmtp(text(s)),
            Failure::Handshake(s) => Failure::Handshake(text(s)),
            Failure::CertificateExpired(s) => Failure::CertificateExpired(text(s)),
            Failure::CertificateWrongName(v) => Failure::CertificateWrongName(list(v)),
            Failure::Certificate(s) => Failure::Certificate(text(s)),
            Failure::NoMechanism(v) => Failure::NoMechanism(list(v)),
            Failure::AuthRejected(code, s) => Failure::AuthRejected(code, text(s)),
            Failure::Unexpected(code, s) => Failure::Unexpected(code, text(s)),
            other => other,
        }
    }

    /// Whether trying again later may succeed (timeouts, 4xx replies, I/O).
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Timeout | Failure::NoBanner | Failure::Io(_) | Failure::Closed => true,
            Failure::Unexpected(code, _) | Failure::AuthRejected(code, _) => (400..500).contains(code),
            _ => false,
        }
    }
}

/// Whether a step passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// It worked.
    Ok,
    /// It failed; the check stops here.
    Failed,
}

/// One step of the check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Which step.
    pub name: StepName,
    /// The outcome.
    pub status: StepStatus,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// What happened (addresses, banner, extensions, TLS details, ...).
    pub detail: String,
    /// The failure, as data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The likely cause and the fix, in plain words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// The result of checking one smarthost. Never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// The relay checked.
    pub relay: String,
    /// The encryption checked.
    pub encryption: Encryption,
    /// The user name authenticated as, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Whether every step passed.
    pub ok: bool,
    /// The steps run, in order; the last one failed when `ok` is false.
    pub steps: Vec<Step>,
    /// TLS session and certificate, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// What the certificate was checked against: the trust anchors and the
    /// name rule (absent without TLS or with the certificate check off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    /// Extensions the server offered (last EHLO).
    pub extensions: Vec<String>,
    /// AUTH mechanisms offered.
    pub auth_mechanisms: Vec<String>,
}

impl CheckReport {
    pub(crate) fn new(smarthost: &Smarthost) -> CheckReport {
        CheckReport {
            relay: smarthost.relay.to_string(),
            encryption: smarthost.encryption,
            username: smarthost.credentials.as_ref().map(|c| c.username().to_string()),
            ok: false,
            steps: Vec::new(),
            tls: None,
            trust: None,
            extensions: Vec::new(),
            auth_mechanisms: Vec::new(),
        }
    }

    /// The step that failed, if any.
    pub fn failed_step(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.status == StepStatus::Failed)
    }
}

/// Reads trust anchors from a PEM file (one or more certificates), for a
/// relay signed by a private CA; the same file Postfix's `smtp_tls_CAfile`
/// would name.
pub fn load_roots(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, crate::Error> {
    let certs = trust::read_pem(path, "ca_file")?;
    if certs.is_empty() {
        return Err(crate::Error::invalid(
            "ca_file",
            path.display().to_string(),
            "holds no PEM certificate",
        ));
    }
    Ok(certs)
}
