//! [`Policy`]: the whole desired relaying of a server, and [`Policy::route`].

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::domain::DomainName;
use crate::error::Error;
use crate::features::Features;
use crate::smarthost::Smarthost;

/// The relaying of one mail server: an optional server-wide smarthost, a
/// smarthost per hosted domain, and the feature settings.
///
/// A domain's smarthost always wins over the server-wide one. Subdomains do
/// **not** inherit their parent's smarthost: `shop.example.com` needs its own
/// entry, because Postfix's `@domain` lookup keys match one domain exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Relay for all outgoing mail without a domain smarthost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Smarthost>,
    /// Relay per sender domain; sorted, so output is deterministic.
    pub domains: BTreeMap<DomainName, Smarthost>,
    /// What may be configured, and whether certificates are checked.
    pub features: Features,
}

/// Where a sender's mail goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", content = "smarthost", rename_all = "kebab-case")]
pub enum Via<'p> {
    /// Through the sender domain's own smarthost.
    Domain(&'p Smarthost),
    /// Through the server-wide smarthost.
    Server(&'p Smarthost),
    /// Directly to the recipient's MX hosts.
    Direct,
}

/// The answer of [`Policy::route`]: the way and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route<'p> {
    /// The sender's domain; `None` for the null sender `<>` (bounces).
    pub sender_domain: Option<DomainName>,
    /// Where the mail goes.
    #[serde(flatten)]
    pub via: Via<'p>,
    /// Why, in one sentence.
    pub reason: String,
}

impl fmt::Display for Route<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            Via::Domain(s) | Via::Server(s) => write!(f, "relay via {} ({})", s.relay, s.encryption)?,
            Via::Direct => f.write_str("direct delivery to the recipient's MX hosts")?,
        }
        write!(f, ": {}", self.reason)
    }
}

impl Policy {
    /// Checks the policy against its feature settings: a level that is
    /// disabled must not have a smarthost. Returns the warnings (see
    /// [`Smarthost::warnings`]) when it is valid.
    pub fn validate(&self) -> Result<Vec<String>, Error> {
        if self.server.is_some() {
            self.server_allowed()?;
        }
        if let Some(domain) = self.domains.keys().next() {
            self.domain_allowed(domain)?;
        }
        Ok(self.warnings())
    }

    /// The warnings of every smarthost ([`Smarthost::warnings`]), without
    /// the feature check of [`Policy::validate`]: a backend plans whatever
    /// it is given, so that entries of a level disabled later can still be
    /// removed one by one.
    pub fn warnings(&self) -> Vec<String> {
        self.server
            .iter()
            .chain(self.domains.values())
            .flat_map(Smarthost::warnings)
            .collect()
    }

    fn server_allowed(&self) -> Result<(), Error> {
        if self.features.server.enabled {
            return Ok(());
        }
        Err(Error::FeatureDisabled {
            field: "server".into(),
            level: "server-level",
            setting: "features.server.enabled",
        })
    }

    fn domain_allowed(&self, domain: &DomainName) -> Result<(), Error> {
        if self.features.domain.enabled {
            return Ok(());
        }
        Err(Error::FeatureDisabled {
            field: format!("domains.{:?}", domain.as_str()),
            level: "domain-level",
            setting: "features.domain.enabled",
        })
    }

    /// Sets the server-wide smarthost, unless the feature settings forbid it.
    pub fn set_server(&mut self, smarthost: Smarthost) -> Result<(), Error> {
        self.server_allowed()?;
        self.server = Some(smarthost);
        Ok(())
    }

    /// Sets a domain's smarthost, unless the feature settings forbid it.
    pub fn set_domain(&mut self, domain: DomainName, smarthost: Smarthost) -> Result<(), Error> {
        self.domain_allowed(&domain)?;
        self.domains.insert(domain, smarthost);
        Ok(())
    }

    /// Whether certificates are checked for this domain's relay (`None`: the
    /// server-wide relay).
    pub fn check_certificate(&self, domain: Option<&DomainName>) -> bool {
        match domain {
            Some(_) => self.features.domain.check_certificate,
            None => self.features.server.check_certificate,
        }
    }

    /// Where mail from `sender` goes. `sender` is an address
    /// (`user@example.com`), a domain (`example.com` or `@example.com`), or
    /// the null sender (`<>` or empty) of bounces.
    ///
    /// The domain's smarthost comes first, then the server-wide one, else
    /// direct delivery. A subdomain does not inherit its parent's smarthost.
    pub fn route(&self, sender: &str) -> Result<Route<'_>, Error> {
        let sender = sender.trim_start_matches('<').trim_end_matches('>');
        let domain = match sender.rsplit_once('@') {
            Some((_, domain)) => domain,
            None => sender,
        };
        if domain.is_empty() {
            let (via, reason) = match &self.server {
                Some(s) => (
                    Via::Server(s),
                    "the null sender (bounces) has no domain; it takes the server-wide smarthost".to_owned(),
                ),
                None => (
                    Via::Direct,
                    "the null sender (bounces) has no domain and there is no server-wide smarthost".to_owned(),
                ),
            };
            return Ok(Route {
                sender_domain: None,
                via,
                reason,
            });
        }
        let domain = DomainName::parse_field("sender", domain)?;
        if let Some(s) = self.domains.get(&domain) {
            let reason = format!("{domain} has its own smarthost, which wins over the server-wide one");
            return Ok(Route {
                sender_domain: Some(domain),
                via: Via::Domain(s),
                reason,
            });
        }
        let mut reason = format!("{domain} has no smarthost of its own");
        let mut ancestor = domain.parent();
        while let Some(p) = ancestor {
            if self.domains.contains_key(&p) {
                reason.push_str(&format!(
                    " (its parent {p} has one, but subdomains do not inherit it: add {domain} to the policy)"
                ));
                break;
            }
            ancestor = p.parent();
        }
        let via = match &self.server {
            Some(s) => {
                reason.push_str("; it takes the server-wide smarthost");
                Via::Server(s)
            }
            None => {
                reason.push_str(" and there is no server-wide smarthost");
                Via::Direct
            }
        };
        Ok(Route {
            sender_domain: Some(domain),
            via,
            reason,
        })
    }
}
