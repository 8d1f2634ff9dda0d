//! Provider presets: the relay host, port, encryption, fixed user name and
//! SPF requirement of common relay services. Sources are listed per provider
//! in `docs/providers.md`.

use std::fmt;

use serde::Serialize;

use crate::credentials::Credentials;
use crate::encryption::Encryption;
use crate::error::Error;
use crate::relay::RelayHost;
use crate::smarthost::Smarthost;

/// What a domain's SPF record needs so that mail relayed by a provider
/// passes SPF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum SpfRequirement {
    /// `include:<domain>` in the sender domain's SPF record.
    Include(&'static str),
    /// Nothing: the provider sends with its own (or a CNAME-delegated)
    /// Return-Path domain, so SPF is checked there; DKIM is what makes DMARC
    /// pass for the sender domain.
    NotNeeded(&'static str),
}

/// A relay service.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Provider {
    /// The name used on the command line and in policy files (`sendgrid`).
    pub name: &'static str,
    /// The provider's own name.
    pub title: &'static str,
    /// The relay host; `{region}` is replaced for regional providers.
    pub host: &'static str,
    /// The recommended port.
    pub port: u16,
    /// The encryption of that port.
    pub encryption: Encryption,
    /// The fixed SMTP user name, where the provider has one.
    pub username: Option<&'static str>,
    /// What goes in the user name and password fields.
    pub credentials: &'static str,
    /// What the sender domain's SPF record needs.
    pub spf: SpfRequirement,
    /// Whether the name takes a region (`amazon-ses:eu-west-1`).
    pub regional: bool,
    /// DKIM selectors the provider uses for every customer, where it has
    /// fixed ones (others generate them per domain).
    pub dkim_selectors: &'static [&'static str],
    /// How the provider refuses mail whose envelope sender it has not
    /// verified, where it does: forwarded mail keeps an outside sender
    /// unless SRS rewrites it, so it is refused there.
    pub verified_senders: Option<&'static str>,
}

/// Every provider with a preset, in the order `smarthost providers` lists them.
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "sendgrid",
        title: "Twilio SendGrid",
        host: "smtp.sendgrid.net",
        port: 587,
        encryption: Encryption::Starttls,
        username: Some("apikey"),
        credentials: "user name: the literal string apikey; password: an API key with Mail Send permission",
        spf: SpfRequirement::Include("sendgrid.net"),
        dkim_selectors: &["s1", "s2"],
        regional: false,
        verified_senders: Some("refuses senders without a verified Sender Identity (550 The from address does not match a verified Sender Identity)"),
    },
    Provider {
        name: "mailgun",
        title: "Mailgun (US region)",
        host: "smtp.mailgun.org",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "the sending domain's SMTP credentials, e.g. postmaster@mg.example.com",
        spf: SpfRequirement::Include("mailgun.org"),
        dkim_selectors: &[],
        regional: false,
        verified_senders: None,
    },
    Provider {
        name: "mailgun-eu",
        title: "Mailgun (EU region)",
        host: "smtp.eu.mailgun.org",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "the sending domain's SMTP credentials, e.g. postmaster@mg.example.com",
        spf: SpfRequirement::Include("mailgun.org"),
        dkim_selectors: &[],
        regional: false,
        verified_senders: None,
    },
    Provider {
        name: "mailjet",
        title: "Mailjet",
        host: "in-v3.mailjet.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "user name: the API key; password: the secret key",
        spf: SpfRequirement::Include("spf.mailjet.com"),
        dkim_selectors: &["mailjet"],
        regional: false,
        verified_senders: Some("holds or refuses mail from a sender address or domain not validated in the account"),
    },
    Provider {
        name: "amazon-ses",
        title: "Amazon SES",
        host: "email-smtp.{region}.amazonaws.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "SMTP credentials created in the SES console for that region (not the IAM access key)",
        spf: SpfRequirement::Include("amazonses.com"),
        dkim_selectors: &[],
        regional: true,
        verified_senders: Some("refuses unverified identities (554 Message rejected: Email address is not verified), and the null sender (501 Invalid MAIL FROM address)"),
    },
    Provider {
        name: "postmark",
        title: "Postmark",
        host: "smtp.postmarkapp.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "user name and password: the same Server API token",
        spf: SpfRequirement::NotNeeded(
            "Postmark uses its own Return-Path domain (or a custom one delegated by CNAME); publish its DKIM key",
        ),
        dkim_selectors: &[],
        regional: false,
        verified_senders: Some("refuses senders without a confirmed Sender Signature or verified domain"),
    },
    Provider {
        name: "brevo",
        title: "Brevo (formerly Sendinblue)",
        host: "smtp-relay.brevo.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "user name: the SMTP login shown under SMTP & API; password: an SMTP key (not an API key)",
        spf: SpfRequirement::Include("spf.brevo.com"),
        dkim_selectors: &["mail"],
        regional: false,
        verified_senders: Some("refuses senders not verified in the account"),
    },
    Provider {
        name: "smtp2go",
        title: "SMTP2GO",
        host: "mail.smtp2go.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "an SMTP user created under Sending > SMTP Users",
        spf: SpfRequirement::NotNeeded(
            "SMTP2GO authenticates through the CNAME records of a verified sender domain and asks not to be listed in SPF",
        ),
        dkim_selectors: &[],
        regional: false,
        verified_senders: Some("refuses senders outside its verified sender domains and addresses"),
    },
    Provider {
        name: "sparkpost",
        title: "SparkPost",
        host: "smtp.sparkpostmail.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: Some("SMTP_Injection"),
        credentials: "user name: SMTP_Injection; password: an API key with Send via SMTP permission",
        spf: SpfRequirement::Include("sparkpostmail.com"),
        dkim_selectors: &[],
        regional: false,
        verified_senders: Some("refuses senders of an unconfigured sending domain (550 Unconfigured Sending Domain)"),
    },
    Provider {
        name: "sparkpost-eu",
        title: "SparkPost EU",
        host: "smtp.eu.sparkpostmail.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: Some("SMTP_Injection"),
        credentials: "user name: SMTP_Injection; password: an API key with Send via SMTP permission",
        spf: SpfRequirement::Include("sparkpostmail.com"),
        dkim_selectors: &[],
        regional: false,
        verified_senders: Some("refuses senders of an unconfigured sending domain (550 Unconfigured Sending Domain)"),
    },
    Provider {
        name: "microsoft365",
        title: "Microsoft 365 (SMTP AUTH client submission)",
        host: "smtp.office365.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "a licensed mailbox's address and password; SMTP AUTH must be enabled for it",
        spf: SpfRequirement::Include("spf.protection.outlook.com"),
        dkim_selectors: &["selector1", "selector2"],
        regional: false,
        verified_senders: Some("refuses senders the account may not send as (SendAsDenied)"),
    },
    Provider {
        name: "google-workspace",
        title: "Google Workspace SMTP relay",
        host: "smtp-relay.gmail.com",
        port: 587,
        encryption: Encryption::Starttls,
        username: None,
        credentials: "optional: the relay can allow the server's IP address instead; otherwise a Workspace account",
        spf: SpfRequirement::Include("_spf.google.com"),
        dkim_selectors: &["google"],
        regional: false,
        verified_senders: Some("refuses senders outside the organisation's domains unless the relay setting allows any address"),
    },
];

/// A provider resolved to a relay (with its region, if any).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preset {
    /// The provider's name, with the region for regional ones.
    pub name: String,
    /// The relay, bracketed: providers are reached by host, never by MX.
    pub relay: RelayHost,
    /// The recommended encryption.
    pub encryption: Encryption,
    /// The fixed user name, if any.
    pub username: Option<&'static str>,
    /// What the sender domain's SPF record needs.
    pub spf: SpfRequirement,
}

impl Provider {
    /// Finds a provider by name (case-insensitive).
    pub fn find(name: &str) -> Option<&'static Provider> {
        PROVIDERS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// The provider whose relay host this is, if any (for SPF advice about
    /// a relay given by host).
    pub fn for_relay(relay: &RelayHost) -> Option<&'static Provider> {
        let host = relay.host().to_string();
        PROVIDERS.iter().find(|p| {
            if p.regional {
                let (prefix, suffix) = p.host.split_once("{region}").unwrap_or((p.host, ""));
                host.len() > prefix.len() + suffix.len() && host.starts_with(prefix) && host.ends_with(suffix)
            } else {
                host == p.host
            }
        })
    }
}

/// A region name such as `eu-west-1`: lower-case words and a number.
fn valid_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

impl Preset {
    /// Resolves `name` or `name:region` (`sendgrid`, `amazon-ses:eu-west-1`).
    /// Errors name the field `provider` and list the known names.
    pub fn resolve(spec: &str) -> Result<Preset, Error> {
        let (name, region) = match spec.split_once(':') {
            Some((n, r)) => (n, Some(r)),
            None => (spec, None),
        };
        let known = || PROVIDERS.iter().map(|p| p.name).collect::<Vec<_>>().join(", ");
        let provider = Provider::find(name)
            .ok_or_else(|| Error::invalid("provider", spec, format!("is not a known provider ({})", known())))?;
        let host = match (provider.regional, region) {
            (true, Some(r)) if valid_region(r) => provider.host.replace("{region}", r),
            (true, Some(_)) => {
                return Err(Error::invalid(
                    "provider",
                    spec,
                    "the region is not of the form eu-west-1",
                ));
            }
            (true, None) => {
                return Err(Error::invalid(
                    "provider",
                    spec,
                    format!("{} needs a region, as in {}:eu-west-1", provider.name, provider.name),
                ));
            }
            (false, Some(_)) => {
                return Err(Error::invalid(
                    "provider",
                    spec,
                    format!("{} takes no region", provider.name),
                ));
            }
            (false, None) => provider.host.to_owned(),
        };
        let relay = RelayHost::parse(&format!("[{host}]:{}", provider.port)).map_err(|e| e.in_field("provider"))?;
        Ok(Preset {
            name: spec.to_ascii_lowercase(),
            relay,
            encryption: provider.encryption,
            username: provider.username,
            spf: provider.spf,
        })
    }

    /// Relay, encryption and fixed user name from what a user gave: an
    /// explicit relay wins over the provider's (and then the relay's port
    /// decides the default encryption), an explicit encryption wins over
    /// both. Errors name `relay` or `provider`.
    pub fn combine(
        provider: Option<&str>,
        relay: Option<&str>,
        encryption: Option<Encryption>,
    ) -> Result<RelayChoice, Error> {
        let preset = provider.map(Preset::resolve).transpose()?;
        let (relay, default_encryption) = match (relay, &preset) {
            (Some(text), _) => {
                let relay = RelayHost::parse(text)?;
                let encryption = Encryption::default_for_port(relay.port());
                (relay, encryption)
            }
            (None, Some(p)) => (p.relay.clone(), p.encryption),
            (None, None) => {
                return Err(Error::Missing {
                    field: "relay".into(),
                    reason: "give relay or provider".into(),
                })
            }
        };
        Ok(RelayChoice {
            relay,
            encryption: encryption.unwrap_or(default_encryption),
            username: preset.and_then(|p| p.username),
        })
    }

    /// The smarthost this preset describes, with these credentials.
    pub fn smarthost(&self, credentials: Option<Credentials>) -> Smarthost {
        Smarthost {
            relay: self.relay.clone(),
            encryption: self.encryption,
            credentials,
            backups: Vec::new(),
        }
    }
}

/// What [`Preset::combine`] chose from a provider, a relay and an
/// encryption.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayChoice {
    /// The relay: the explicit one, else the provider's.
    pub relay: RelayHost,
    /// The explicit encryption, else the relay's port's or the provider's.
    pub encryption: Encryption,
    /// The provider's fixed user name (SendGrid's `apikey`), if it has one.
    pub username: Option<&'static str>,
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.name, self.relay, self.encryption)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_resolves_to_a_bracketed_relay() {
        for p in PROVIDERS {
            let spec = if p.regional {
                format!("{}:eu-west-1", p.name)
            } else {
                p.name.to_owned()
            };
            let preset = Preset::resolve(&spec).unwrap();
            assert!(!preset.relay.mx_lookup(), "{spec}");
            assert_eq!(
                Provider::for_relay(&preset.relay).map(|q| q.name),
                Some(p.name),
                "{spec}"
            );
        }
    }

    #[test]
    fn bad_names_and_regions_are_explained() {
        let err = Preset::resolve("sendgird").unwrap_err().to_string();
        assert!(
            err.contains("not a known provider") && err.contains("sendgrid"),
            "{err}"
        );
        assert!(Preset::resolve("amazon-ses")
            .unwrap_err()
            .to_string()
            .contains("needs a region"));
        assert!(Preset::resolve("amazon-ses:EU WEST")
            .unwrap_err()
            .to_string()
            .contains("region"));
        assert!(Preset::resolve("sendgrid:eu-west-1")
            .unwrap_err()
            .to_string()
            .contains("takes no region"));
        assert_eq!(
            Preset::resolve("amazon-ses:eu-west-1").unwrap().relay.to_string(),
            "[email-smtp.eu-west-1.amazonaws.com]:587"
        );
    }
}
