//! Why Postfix could not hand a message to a relay, from Postfix's own
//! words. No I/O: embedders feed it the text of their own log lines or
//! queue entries.
//!
//! The input is what Postfix says about one delivery attempt: the text in
//! parentheses after `status=deferred` / `status=bounced` in the mail log,
//! the `delay_reason` of `postqueue -j`, or a whole log line (the rules
//! look for phrases, so the surrounding fields do not matter).
//!
//! ```
//! use postfix_backend::health::classify::{classify, Reason};
//!
//! let text = "SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid";
//! assert_eq!(classify(text), Reason::AuthRejected);
//! assert!(classify(text).needs_admin());
//! ```
//!
//! The phrases come from Postfix 3.7.11's log lines collected in the
//! end-to-end tests (`tests/e2e_health.rs`; the table in this module's
//! tests), from Postfix's source for the few that a local test cannot
//! produce (a connect timeout, a DNS answer), and from the replies
//! providers document for an unverified sender (SendGrid, Amazon SES,
//! Postmark, Microsoft 365).

use serde::Serialize;

/// Why a delivery attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The relay refused the user name or password (SMTP 535).
    AuthRejected,
    /// The relay wants SMTP AUTH and Postfix sent none (530, "Relay
    /// access denied").
    AuthRequired,
    /// Postfix's SASL library has no client mechanism the relay offers
    /// ("no mechanism available").
    NoSaslMechanism,
    /// The TLS policy requires TLS and the relay did not offer STARTTLS.
    TlsNotOffered,
    /// The TLS handshake failed.
    TlsFailed,
    /// The relay's certificate was not verified (unknown CA, wrong name).
    CertificateNotVerified,
    /// Nothing listens on the relay's port.
    ConnectionRefused,
    /// The connection or the conversation timed out.
    TimedOut,
    /// The relay's host name could not be resolved.
    Dns,
    /// The relay refused the sender address (unverified sender domain or
    /// identity).
    SenderRefused,
    /// The relay refused the recipient address.
    RecipientRefused,
    /// None of the above; the relay's reply says more.
    Other,
}

impl Reason {
    /// Every reason, in the order they are shown.
    pub const ALL: [Reason; 12] = [
        Reason::AuthRejected,
        Reason::AuthRequired,
        Reason::NoSaslMechanism,
        Reason::TlsNotOffered,
        Reason::TlsFailed,
        Reason::CertificateNotVerified,
        Reason::ConnectionRefused,
        Reason::TimedOut,
        Reason::Dns,
        Reason::SenderRefused,
        Reason::RecipientRefused,
        Reason::Other,
    ];

    /// The reason in a few words, as shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Reason::AuthRejected => "authentication rejected",
            Reason::AuthRequired => "authentication required",
            Reason::NoSaslMechanism => "no SASL mechanism",
            Reason::TlsNotOffered => "TLS required but not offered",
            Reason::TlsFailed => "TLS handshake failed",
            Reason::CertificateNotVerified => "certificate not verified",
            Reason::ConnectionRefused => "connection refused",
            Reason::TimedOut => "timed out",
            Reason::Dns => "DNS failure",
            Reason::SenderRefused => "sender refused",
            Reason::RecipientRefused => "recipient refused",
            Reason::Other => "other",
        }
    }

    /// The reason's name in JSON and metrics labels (`auth_rejected`).
    pub fn id(self) -> &'static str {
        match self {
            Reason::AuthRejected => "auth_rejected",
            Reason::AuthRequired => "auth_required",
            Reason::NoSaslMechanism => "no_sasl_mechanism",
            Reason::TlsNotOffered => "tls_not_offered",
            Reason::TlsFailed => "tls_failed",
            Reason::CertificateNotVerified => "certificate_not_verified",
            Reason::ConnectionRefused => "connection_refused",
            Reason::TimedOut => "timed_out",
            Reason::Dns => "dns",
            Reason::SenderRefused => "sender_refused",
            Reason::RecipientRefused => "recipient_refused",
            Reason::Other => "other",
        }
    }

    /// Whether the failure needs the administrator: it does not go away
    /// when Postfix retries (credentials, SASL, TLS, certificate, an
    /// unverified sender). Refused connections, timeouts, DNS failures
    /// and refused recipients may.
    pub fn needs_admin(self) -> bool {
        matches!(
            self,
            Reason::AuthRejected
                | Reason::AuthRequired
                | Reason::NoSaslMechanism
                | Reason::TlsNotOffered
                | Reason::TlsFailed
                | Reason::CertificateNotVerified
                | Reason::SenderRefused
        )
    }

    /// What to do about it, in one or two sentences.
    pub fn advice(self) -> &'static str {
        match self {
            Reason::AuthRejected => {
                "the relay refused the user name or password: set them again (`smarthost server set` or `smarthost domain set` with --password-file); many providers want an API key as the password (SendGrid: user `apikey`)"
            }
            Reason::AuthRequired => {
                "the relay wants SMTP AUTH and Postfix sent none for this sender: give the sender's domain (or the server-wide relay) a user name and password"
            }
            Reason::NoSaslMechanism => {
                "Postfix's SASL library (Cyrus) has no client mechanism that the relay offers: install the PLAIN and LOGIN plugins (Debian/Ubuntu: libsasl2-modules; RHEL, Alma, Rocky, Fedora, SUSE: cyrus-sasl-plain) and run `postfix reload`; if they are installed, the relay offers only mechanisms Cyrus cannot do (such as XOAUTH2): ask the provider for SMTP AUTH with PLAIN or LOGIN"
            }
            Reason::TlsNotOffered => {
                "TLS is required for this relay but it did not offer STARTTLS on this port: check the port (587 offers STARTTLS; 465 needs --encryption implicit-tls) and that nothing on the way strips STARTTLS"
            }
            Reason::TlsFailed => {
                "the TLS handshake failed: the port may expect implicit TLS (465) instead of STARTTLS or the other way round; check --encryption"
            }
            Reason::CertificateNotVerified => {
                "Postfix could not verify the relay's certificate (not signed by a CA in smtp_tls_CAfile/smtp_tls_CApath, or not for the relay's name): `smarthost check` says which; fix the trust anchors, use the name the certificate is for, or turn the certificate check off in the settings file"
            }
            Reason::ConnectionRefused => {
                "nothing accepts connections on the relay's port: check the host and port and that the relay is up; Postfix retries deferred mail by itself"
            }
            Reason::TimedOut => {
                "the relay did not answer in time: a firewall may drop the traffic (many hosting providers block outgoing port 25: use 587 or 2525), or the relay is slow; Postfix retries by itself"
            }
            Reason::Dns => {
                "the relay's host name could not be resolved: check its spelling and this server's resolver (`getent hosts NAME`)"
            }
            Reason::SenderRefused => {
                "the relay refused the sender: providers relay only for verified senders or domains (SendGrid: Sender Identity; Amazon SES: a verified identity in the region; Postmark: Sender Signature; Microsoft 365: send-as permission); verify the domain with the provider or send from an address it knows"
            }
            Reason::RecipientRefused => {
                "the relay refused the recipient: check the address; in a provider's sandbox (Amazon SES) recipients must be verified too"
            }
            Reason::Other => "see the relay's reply; `smarthost check` tests the connection step by step",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Phrases of a relay that refuses the sender, in lower case. Providers
/// word it differently: SendGrid "does not match a verified Sender
/// Identity" (at MAIL FROM); Amazon SES "Email address is not verified.
/// The following identities failed the check in region ..." (at the end
/// of DATA); Postmark "Sender Signature"; Microsoft 365 "5.7.60 ... send
/// as this sender"; a Postfix relay "Sender address rejected" (at RCPT TO,
/// as smtpd delays its restrictions).
const SENDER_PHRASES: &[&str] = &[
    "sender identity",
    "sender address rejected",
    "sender signature",
    "email address is not verified",
    "identities failed the check",
    "domain is not verified",
    "domain not verified",
    "sender domain",
    "send as this sender",
    "sendasdenied",
    "5.7.60",
    "from/sender name is not valid",
    "sender not allowed",
    "sender is not allowed",
    "unauthorized sender",
    "sender rejected",
    "from address",
];

/// Phrases of a relay that refuses the recipient, in lower case.
const RECIPIENT_PHRASES: &[&str] = &[
    "recipient address rejected",
    "user unknown",
    "unknown user",
    "no such user",
    "mailbox unavailable",
    "mailbox not found",
    "does not exist",
    "5.1.1",
];

/// Classifies what Postfix said about one delivery attempt.
pub fn classify(text: &str) -> Reason {
    let t = text.to_ascii_lowercase();
    let has = |needle: &str| t.contains(needle);
    let any = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    let code = reply(text).map(|r| r.code);
    if any(&["no mechanism available", "no worthy mechs"]) {
        Reason::NoSaslMechanism
    } else if any(&[
        "server certificate not verified",
        "certificate verification failed",
        "server certificate not trusted",
        "hostname mismatch",
    ]) {
        Reason::CertificateNotVerified
    } else if has("tls is required, but") {
        Reason::TlsNotOffered
    } else if any(&["cannot start tls", "tls handshake"]) {
        Reason::TlsFailed
    } else if has("sasl authentication failed")
        || code == Some(535)
        || any(&[
            "authentication credentials invalid",
            "username and password not accepted",
        ])
    {
        Reason::AuthRejected
    } else if any(&[
        "authentication required",
        "authentication is required",
        "not authenticated",
        "relay access denied",
        "relaying denied",
    ]) {
        Reason::AuthRequired
    } else if has("connection refused") {
        Reason::ConnectionRefused
    } else if has("timed out") {
        Reason::TimedOut
    } else if any(&[
        "host or domain name not found",
        "name service error",
        "unable to look up host",
        "name or service not known",
        "temporary failure in name resolution",
        "no address associated with",
    ]) {
        Reason::Dns
    } else if any(SENDER_PHRASES) {
        Reason::SenderRefused
    } else if any(RECIPIENT_PHRASES) {
        Reason::RecipientRefused
    } else if has("in reply to mail from command") {
        Reason::SenderRefused
    } else if has("in reply to rcpt to command") {
        Reason::RecipientRefused
    } else {
        Reason::Other
    }
}

/// A relay's reply inside Postfix's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The SMTP reply code.
    pub code: u16,
    /// The reply from its code on, without Postfix's `(in reply to ...
    /// command)`.
    pub text: &'a str,
    /// The command it answered (`MAIL FROM`, `RCPT TO`, `end of DATA`),
    /// when Postfix says.
    pub command: Option<&'a str>,
}

/// The relay's reply in Postfix's text: after `said: ` (`host X said: 550
/// ...`, `server X said: 535 ...`), or the whole text when it starts with
/// a reply code (`250 2.0.0 Ok: queued as ...` after `status=sent`).
pub fn reply(text: &str) -> Option<Reply<'_>> {
    let start = match text.find(" said: ") {
        Some(i) => i + " said: ".len(),
        None => 0,
    };
    let rest = text[start..].trim_start();
    let digits = rest.get(..3)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || rest.as_bytes().get(3).is_some_and(|b| b.is_ascii_digit()) {
        return None;
    }
    let code: u16 = digits.parse().ok()?;
    if !(200..600).contains(&code) {
        return None;
    }
    let (text, command) = match rest.rfind(" (in reply to ") {
        Some(i) => {
            let tail = &rest[i + " (in reply to ".len()..];
            let command = tail.strip_suffix(" command)").unwrap_or(tail.trim_end_matches(')'));
            (rest[..i].trim_end(), Some(command))
        }
        None => (rest.trim_end(), None),
    };
    Some(Reply { code, text, command })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Postfix 3.7.11 (Debian 12), collected from the runs of
    /// `tests/e2e_health.rs` and `crates/cli/tests/e2e_health.rs`
    /// against the Rust test relays on 127.0.0.1: the text in
    /// parentheses after `status=` (the same as `postqueue -j`'s
    /// `delay_reason`), or the whole log line.
    const COLLECTED: &[(&str, Reason)] = &[
        (
            "SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid",
            Reason::AuthRejected,
        ),
        (
            "SASL authentication failed; cannot authenticate to server localhost[127.0.0.1]: no mechanism available",
            Reason::NoSaslMechanism,
        ),
        (
            "Nov 24 23:49:14 pf postfix/smtp[28935]: warning: SASL authentication failure: No worthy mechs found",
            Reason::NoSaslMechanism,
        ),
        ("Server certificate not verified", Reason::CertificateNotVerified),
        (
            "Nov 24 23:49:13 pf postfix/smtp[28928]: server certificate verification failed for localhost[127.0.0.1]:41027: num=7:certificate signature failure",
            Reason::CertificateNotVerified,
        ),
        (
            "TLS is required, but was not offered by host localhost[127.0.0.1]",
            Reason::TlsNotOffered,
        ),
        (
            "connect to localhost[127.0.0.1]:39571: Connection refused",
            Reason::ConnectionRefused,
        ),
        (
            "delivery temporarily suspended: connect to localhost[127.0.0.1]:39571: Connection refused",
            Reason::ConnectionRefused,
        ),
        (
            "conversation with localhost[127.0.0.1] timed out while receiving the initial server greeting",
            Reason::TimedOut,
        ),
        (
            "unable to look up host nonexistent.invalid: Name or service not known",
            Reason::Dns,
        ),
        (
            "host localhost[127.0.0.1] said: 550 The from address does not match a verified Sender Identity. Mail cannot be sent until this error is resolved. (in reply to MAIL FROM command)",
            Reason::SenderRefused,
        ),
        (
            "host localhost[127.0.0.1] said: 554 Message rejected: Email address is not verified. The following identities failed the check in region EU-WEST-1: s@ses.example (in reply to end of DATA command)",
            Reason::SenderRefused,
        ),
        (
            "host localhost[127.0.0.1] said: 550 5.1.1 <r@remote.example>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
            Reason::RecipientRefused,
        ),
        (
            "host localhost[127.0.0.1] said: 530 5.7.0 Authentication required (in reply to MAIL FROM command)",
            Reason::AuthRequired,
        ),
    ];

    /// Wordings a local test cannot produce: Postfix's own for a connect
    /// timeout and DNS answers (src/smtp/smtp_connect.c, smtp_addr.c), and
    /// providers' documented replies, as Postfix wraps a reply.
    const DOCUMENTED: &[(&str, Reason)] = &[
        (
            "connect to smtp.example.com[192.0.2.1]:25: Connection timed out",
            Reason::TimedOut,
        ),
        (
            "Host or domain name not found. Name service error for name=smtp.example.invalid type=AAAA: Host not found",
            Reason::Dns,
        ),
        (
            "Host or domain name not found. Name service error for name=smtp.example.com type=A: Host not found, try again",
            Reason::Dns,
        ),
        (
            "host smtp.office365.com[52.97.1.1] said: 550 5.7.60 SMTP; Client does not have permissions to send as this sender (in reply to end of DATA command)",
            Reason::SenderRefused,
        ),
        (
            "host mx.relay.example[192.0.2.2] said: 554 5.7.1 <bob@b.example>: Sender address rejected: not owned by user alice (in reply to RCPT TO command)",
            Reason::SenderRefused,
        ),
        (
            "SASL authentication failed; server smtp.gmail.com[142.250.1.1] said: 535-5.7.8 Username and Password not accepted",
            Reason::AuthRejected,
        ),
        (
            "host relay.example[192.0.2.3] said: 554 5.7.1 <r@remote.example>: Relay access denied (in reply to RCPT TO command)",
            Reason::AuthRequired,
        ),
        (
            "Cannot start TLS: handshake failure",
            Reason::TlsFailed,
        ),
        (
            "host relay.example[192.0.2.3] said: 451 4.3.0 Temporary server error (in reply to end of DATA command)",
            Reason::Other,
        ),
    ];

    #[test]
    fn collected_postfix_lines_are_classified() {
        for (text, want) in COLLECTED.iter().chain(DOCUMENTED) {
            assert_eq!(classify(text), *want, "{text}");
        }
    }

    #[test]
    fn what_needs_the_admin() {
        assert!(Reason::AuthRejected.needs_admin() && Reason::SenderRefused.needs_admin());
        assert!(!Reason::ConnectionRefused.needs_admin() && !Reason::RecipientRefused.needs_admin());
        for reason in Reason::ALL {
            assert!(!reason.advice().is_empty() && !reason.label().is_empty());
            assert_eq!(serde_json::to_string(&reason).unwrap(), format!("\"{}\"", reason.id()));
        }
    }

    #[test]
    fn the_relays_reply_is_found() {
        let r = reply(
            "host localhost[127.0.0.1] said: 550 5.1.1 <r@x>: Recipient address rejected (in reply to RCPT TO command)",
        )
        .unwrap();
        assert_eq!(r.code, 550);
        assert_eq!(r.text, "550 5.1.1 <r@x>: Recipient address rejected");
        assert_eq!(r.command, Some("RCPT TO"));
        let r = reply("250 2.0.0 Ok: queued").unwrap();
        assert_eq!((r.code, r.text, r.command), (250, "250 2.0.0 Ok: queued", None));
        assert_eq!(reply("Server certificate not verified"), None);
        assert_eq!(reply("connect to localhost[127.0.0.1]:39571: Connection refused"), None);
        assert_eq!(reply("2500 not a code"), None);
        assert_eq!(
            reply("SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid").map(|r| r.code),
            Some(535)
        );
    }
}
