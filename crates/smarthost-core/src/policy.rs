//! [`Policy`]: the whole desired relaying of a server, and [`Policy::route`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::domain::DomainName;
use crate::error::Error;
use crate::features::Features;
use crate::mailbox::Mailbox;
use crate::preset::Provider;
use crate::smarthost::Smarthost;

/// The relaying of one mail server: an optional server-wide smarthost, a
/// smarthost per hosted domain, per mailbox and per recipient domain,
/// direct exceptions, the path of bounces, and the feature settings.
///
/// Which rule wins ([`Policy::route_to`], the order Postfix itself uses):
/// a recipient route, then (for the null sender) [`Bounces`], then the
/// sender's mailbox, then its domain (a smarthost or a direct exception),
/// then the server-wide smarthost, else direct delivery. Subdomains do
/// **not** inherit their parent's entries: `shop.example.com` needs its
/// own, because Postfix's `@domain` lookup keys match one domain exactly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Relay for all outgoing mail without a more specific rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<Smarthost>,
    /// Relay per sender domain; sorted, so output is deterministic.
    pub domains: BTreeMap<DomainName, Smarthost>,
    /// Sender domains that deliver directly although there is a
    /// server-wide smarthost (direct exceptions).
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub direct: BTreeSet<DomainName>,
    /// Relay per sender address; wins over the address's domain.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mailboxes: BTreeMap<Mailbox, Smarthost>,
    /// Relay per recipient domain, whoever the sender is; wins over every
    /// sender rule.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recipients: BTreeMap<DomainName, Smarthost>,
    /// Recipient domains delivered directly whoever the sender is.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub direct_recipients: BTreeSet<DomainName>,
    /// The path of mail from the null sender `<>` (bounces, delivery
    /// reports).
    #[serde(skip_serializing_if = "Bounces::is_server")]
    pub bounces: Bounces,
    /// What may be configured, and whether certificates are checked.
    pub features: Features,
}

/// Where mail from the null sender `<>` goes: some relays refuse it (Amazon
/// SES answers `501 Invalid MAIL FROM address`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Bounces<S = Smarthost> {
    /// Like any sender without a rule of its own: the server-wide
    /// smarthost, else direct delivery.
    #[default]
    Server,
    /// Directly to the recipient's MX hosts.
    Direct,
    /// Through this relay.
    Relay(S),
}

impl<S> Bounces<S> {
    /// Whether this is [`Bounces::Server`], the default.
    pub fn is_server(&self) -> bool {
        matches!(self, Bounces::Server)
    }

    /// The relay, for [`Bounces::Relay`].
    pub fn relay(&self) -> Option<&S> {
        match self {
            Bounces::Relay(s) => Some(s),
            _ => None,
        }
    }

    /// The same choice with the relay mapped.
    pub fn map<T, E>(self, f: impl FnOnce(S) -> Result<T, E>) -> Result<Bounces<T>, E> {
        Ok(match self {
            Bounces::Server => Bounces::Server,
            Bounces::Direct => Bounces::Direct,
            Bounces::Relay(s) => Bounces::Relay(f(s)?),
        })
    }
}

impl<S: Serialize> Serialize for Bounces<S> {
    /// `"server"`, `"direct"`, or the relay's smarthost.
    fn serialize<Z: serde::Serializer>(&self, z: Z) -> Result<Z::Ok, Z::Error> {
        match self {
            Bounces::Server => z.serialize_str("server"),
            Bounces::Direct => z.serialize_str("direct"),
            Bounces::Relay(s) => s.serialize(z),
        }
    }
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", content = "smarthost", rename_all = "kebab-case")]
pub enum Via<'p> {
    /// Through the recipient domain's route.
    Recipient(&'p Smarthost),
    /// Through the relay chosen for bounces (the null sender).
    Bounces(&'p Smarthost),
    /// Through the sender address's own smarthost.
    Mailbox(&'p Smarthost),
    /// Through the sender domain's own smarthost.
    Domain(&'p Smarthost),
    /// Through the server-wide smarthost.
    Server(&'p Smarthost),
    /// Directly to the recipient's MX hosts.
    Direct,
}

impl<'p> Via<'p> {
    /// The smarthost, unless the mail goes direct.
    pub fn smarthost(&self) -> Option<&'p Smarthost> {
        match *self {
            Via::Recipient(s) | Via::Bounces(s) | Via::Mailbox(s) | Via::Domain(s) | Via::Server(s) => Some(s),
            Via::Direct => None,
        }
    }
}

/// Which rule of the policy decided a route, from the strongest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A recipient route (`recipients`), relayed or direct.
    Recipient,
    /// The bounce setting (`bounces`), for the null sender.
    Bounces,
    /// The sender address's smarthost (`mailboxes`).
    Mailbox,
    /// The sender domain's smarthost (`domains`).
    Domain,
    /// The sender domain's direct exception (`direct = true`).
    DirectException,
    /// The server-wide smarthost (`server`).
    Server,
    /// No rule: direct delivery.
    None,
}

/// The answer of [`Policy::route_to`]: the way, the rule and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Route<'p> {
    /// The sender's domain; `None` for the null sender `<>` (bounces).
    pub sender_domain: Option<DomainName>,
    /// The recipient's domain, when a recipient was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient_domain: Option<DomainName>,
    /// Where the mail goes.
    #[serde(flatten)]
    pub via: Via<'p>,
    /// The rule that decided it.
    pub rule: Rule,
    /// Why, in one sentence.
    pub reason: String,
}

impl fmt::Display for Route<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via.smarthost() {
            Some(s) => {
                write!(f, "relay via {} ({})", s.relay, s.encryption)?;
                for backup in &s.backups {
                    write!(f, ", then {backup}")?;
                }
            }
            None => f.write_str("direct delivery to the recipient's MX hosts")?,
        }
        write!(f, ": {}", self.reason)
    }
}

impl Policy {
    /// Checks the policy against its feature settings and itself: a level
    /// that is disabled must not have a rule (recipient routes and bounces
    /// are server-level, mailboxes and direct exceptions domain-level), and
    /// a domain cannot both have a smarthost and be a direct exception.
    /// Returns the warnings (see [`Policy::warnings`]) when it is valid.
    pub fn validate(&self) -> Result<Vec<String>, Error> {
        if self.server.is_some() {
            self.server_allowed()?;
        }
        if let Some(domain) = self.domains.keys().chain(&self.direct).next() {
            self.domain_allowed(domain)?;
        }
        if let Some(mailbox) = self.mailboxes.keys().next() {
            self.level_allowed(false, format!("mailboxes.{:?}", mailbox.to_string()))?;
        }
        if let Some(domain) = self.recipients.keys().chain(&self.direct_recipients).next() {
            self.level_allowed(true, format!("recipients.{:?}", domain.as_str()))?;
        }
        if !self.bounces.is_server() {
            self.level_allowed(true, "bounces".to_owned())?;
        }
        if let Some(domain) = self.direct.iter().find(|d| self.domains.contains_key(*d)) {
            return Err(Error::invalid(
                format!("domains.{:?}.direct", domain.as_str()),
                "true",
                "the domain has a relay as well; give one or the other",
            ));
        }
        if let Some(domain) = self.direct_recipients.iter().find(|d| self.recipients.contains_key(*d)) {
            return Err(Error::invalid(
                format!("recipients.{:?}.direct", domain.as_str()),
                "true",
                "the recipient domain has a relay as well; give one or the other",
            ));
        }
        Ok(self.warnings())
    }

    /// The warnings of every smarthost ([`Smarthost::warnings`]) and of the
    /// routing rules, without the checks of [`Policy::validate`]: a backend
    /// plans whatever it is given, so that entries of a level disabled
    /// later can still be removed one by one.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .server
            .iter()
            .chain(self.domains.values())
            .chain(self.mailboxes.values())
            .chain(self.recipients.values())
            .chain(self.bounces.relay())
            .flat_map(Smarthost::warnings)
            .collect();
        if self.server.is_none() && !self.direct.is_empty() {
            out.push(format!(
                "direct exceptions ({}) change nothing without a server-wide smarthost: mail of domains without one goes direct anyway",
                self.direct.iter().map(DomainName::as_str).collect::<Vec<_>>().join(", ")
            ));
        }
        let bounce_relay = match &self.bounces {
            Bounces::Server => self.server.as_ref(),
            Bounces::Direct => None,
            Bounces::Relay(s) => Some(s),
        };
        if let Some(s) = bounce_relay.filter(|s| refuses_null_sender(s)) {
            out.push(format!(
                "bounces go through {}, which refuses the null sender (501 Invalid MAIL FROM address): set bounces = \"direct\" or another relay",
                s.relay
            ));
        }
        out
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

    fn level_allowed(&self, server_level: bool, field: String) -> Result<(), Error> {
        let (enabled, level, setting) = if server_level {
            (self.features.server.enabled, "server-level", "features.server.enabled")
        } else {
            (self.features.domain.enabled, "domain-level", "features.domain.enabled")
        };
        if enabled {
            return Ok(());
        }
        Err(Error::FeatureDisabled { field, level, setting })
    }

    /// Sets the server-wide smarthost, unless the feature settings forbid it.
    pub fn set_server(&mut self, smarthost: Smarthost) -> Result<(), Error> {
        self.server_allowed()?;
        self.server = Some(smarthost);
        Ok(())
    }

    /// Sets a domain's smarthost (ending a direct exception), unless the
    /// feature settings forbid it.
    pub fn set_domain(&mut self, domain: DomainName, smarthost: Smarthost) -> Result<(), Error> {
        self.domain_allowed(&domain)?;
        self.direct.remove(&domain);
        self.domains.insert(domain, smarthost);
        Ok(())
    }

    /// Makes a domain deliver directly although there is a server-wide
    /// smarthost (dropping its own smarthost), unless the feature settings
    /// forbid domain-level rules.
    pub fn set_direct(&mut self, domain: DomainName) -> Result<(), Error> {
        self.domain_allowed(&domain)?;
        self.domains.remove(&domain);
        self.direct.insert(domain);
        Ok(())
    }

    /// Sets a mailbox's smarthost, unless the feature settings forbid
    /// domain-level rules.
    pub fn set_mailbox(&mut self, mailbox: Mailbox, smarthost: Smarthost) -> Result<(), Error> {
        self.level_allowed(false, format!("mailboxes.{:?}", mailbox.to_string()))?;
        self.mailboxes.insert(mailbox, smarthost);
        Ok(())
    }

    /// Sets the path of bounces. A relay or `Direct` is a server-level
    /// rule, refused when the feature settings disable that level;
    /// [`Bounces::Server`] (the default) is always allowed, so that a
    /// forbidden rule can be removed.
    pub fn set_bounces(&mut self, bounces: Bounces) -> Result<(), Error> {
        if !bounces.is_server() {
            self.level_allowed(true, "bounces".to_owned())?;
        }
        self.bounces = bounces;
        Ok(())
    }

    /// Routes mail to a recipient domain through `smarthost`, or directly
    /// (`None`), whoever sends it, unless the feature settings forbid
    /// server-level rules.
    pub fn set_recipient(&mut self, domain: DomainName, smarthost: Option<Smarthost>) -> Result<(), Error> {
        self.level_allowed(true, format!("recipients.{:?}", domain.as_str()))?;
        self.recipients.remove(&domain);
        self.direct_recipients.remove(&domain);
        match smarthost {
            Some(s) => {
                self.recipients.insert(domain, s);
            }
            None => {
                self.direct_recipients.insert(domain);
            }
        }
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

    /// Where mail from `sender` goes, whatever the recipient: see
    /// [`Policy::route_to`].
    pub fn route(&self, sender: &str) -> Result<Route<'_>, Error> {
        self.route_to(sender, None)
    }

    /// Where mail from `sender` to `recipient` goes, and which rule decided.
    /// `sender` is an address (`user@example.com`), a domain (`example.com`
    /// or `@example.com`), or the null sender (`<>` or empty) of bounces;
    /// `recipient` an address or a domain.
    ///
    /// The order is Postfix's: a recipient route (`transport_maps`) wins
    /// over every sender rule; then, for the null sender, the bounce
    /// setting; then the sender's mailbox, then its domain (a smarthost or
    /// a direct exception), then the server-wide smarthost, else direct
    /// delivery. A subdomain does not inherit its parent's entries. A
    /// forwarded message keeps its original sender unless SRS rewrites it,
    /// so it takes the route of that outside sender.
    pub fn route_to(&self, sender: &str, recipient: Option<&str>) -> Result<Route<'_>, Error> {
        let recipient_domain = recipient
            .map(|r| DomainName::parse_field("recipient", address_domain(r)))
            .transpose()?;
        let sender = sender.trim_start_matches('<').trim_end_matches('>');
        let domain = address_domain(sender);
        let sender_domain = if domain.is_empty() {
            None
        } else {
            Some(DomainName::parse_field("sender", domain)?)
        };
        let decided = |via, rule, reason: String| Route {
            sender_domain: sender_domain.clone(),
            recipient_domain: recipient_domain.clone(),
            via,
            rule,
            reason,
        };
        if let Some(r) = &recipient_domain {
            if let Some(s) = self.recipients.get(r) {
                return Ok(decided(
                    Via::Recipient(s),
                    Rule::Recipient,
                    format!("mail to {r} has its own route, which wins over every sender rule"),
                ));
            }
            if self.direct_recipients.contains(r) {
                return Ok(decided(
                    Via::Direct,
                    Rule::Recipient,
                    format!("mail to {r} is delivered directly whoever sends it; a recipient route wins over every sender rule"),
                ));
            }
        }
        let Some(domain) = sender_domain.clone() else {
            return Ok(match (&self.bounces, &self.server) {
                (Bounces::Relay(s), _) => decided(
                    Via::Bounces(s),
                    Rule::Bounces,
                    "the null sender (bounces) takes the relay chosen for bounces".to_owned(),
                ),
                (Bounces::Direct, _) => decided(
                    Via::Direct,
                    Rule::Bounces,
                    "the null sender (bounces) is delivered directly, as chosen for bounces".to_owned(),
                ),
                (Bounces::Server, Some(s)) => decided(
                    Via::Server(s),
                    Rule::Server,
                    "the null sender (bounces) has no domain; it takes the server-wide smarthost".to_owned(),
                ),
                (Bounces::Server, None) => decided(
                    Via::Direct,
                    Rule::None,
                    "the null sender (bounces) has no domain and there is no server-wide smarthost".to_owned(),
                ),
            });
        };
        if let Some((local, _)) = sender.rsplit_once('@').filter(|(local, _)| !local.is_empty()) {
            let mailbox = Mailbox::parse_field("sender", &format!("{local}@{domain}"))?;
            if let Some(s) = self.mailboxes.get(&mailbox) {
                return Ok(decided(
                    Via::Mailbox(s),
                    Rule::Mailbox,
                    format!("{mailbox} has its own smarthost, which wins over its domain's and the server-wide one"),
                ));
            }
        }
        if let Some(s) = self.domains.get(&domain) {
            let reason = format!("{domain} has its own smarthost, which wins over the server-wide one");
            return Ok(decided(Via::Domain(s), Rule::Domain, reason));
        }
        if self.direct.contains(&domain) {
            let reason = format!(
                "{domain} is a direct exception: its mail is delivered directly despite the server-wide smarthost"
            );
            return Ok(decided(Via::Direct, Rule::DirectException, reason));
        }
        let mut reason = format!("{domain} has no smarthost of its own");
        let mut ancestor = domain.parent();
        while let Some(p) = ancestor {
            if self.domains.contains_key(&p) || self.direct.contains(&p) {
                reason.push_str(&format!(
                    " (its parent {p} has a rule, but subdomains do not inherit it: add {domain} to the policy)"
                ));
                break;
            }
            ancestor = p.parent();
        }
        let (via, rule) = match &self.server {
            Some(s) => {
                reason.push_str("; it takes the server-wide smarthost");
                (Via::Server(s), Rule::Server)
            }
            None => {
                reason.push_str(" and there is no server-wide smarthost");
                (Via::Direct, Rule::None)
            }
        };
        reason.push_str(
            ". Mail this server forwards from outside senders takes this route too, unless SRS rewrites the sender",
        );
        Ok(decided(via, rule, reason))
    }

    /// The route of mail that this server forwards to `target` from a
    /// sender outside its hosted domains, as it leaves without SRS: the
    /// route of an outside sender.
    pub fn route_forwarded(&self, target: &str) -> Result<Route<'_>, Error> {
        let mut route = self.route_to(OUTSIDE_SENDER, Some(target))?;
        route.sender_domain = None;
        let keeps =
            "a forwarded message keeps its original sender, from outside the hosted domains, unless SRS rewrites it";
        route.reason = match route.rule {
            Rule::Recipient => format!("{keeps}; {}", route.reason),
            Rule::Server => format!("{keeps}, so no domain or mailbox rule applies: it takes the server-wide smarthost"),
            _ => format!("{keeps}, so no domain or mailbox rule applies, and there is no server-wide smarthost: it is delivered directly"),
        };
        Ok(route)
    }

    /// Warnings about mail forwarded out of the server: for each forwarding
    /// target (an address outside the hosted domains), when no sender
    /// rewriting (SRS) is in place and the forwarded mail would go through a
    /// relay whose provider refuses senders it has not verified, a warning
    /// with the choices. `srs` names what rewrites senders, when something
    /// does.
    pub fn forwarding_warnings(&self, targets: &[String], srs: Option<&str>) -> Vec<String> {
        if srs.is_some() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for target in targets {
            let Ok(route) = self.route_forwarded(target) else {
                continue;
            };
            let Some(s) = route.via.smarthost() else {
                continue;
            };
            let Some((provider, rule)) =
                Provider::for_relay(&s.relay).and_then(|p| p.verified_senders.map(|rule| (p.title, rule)))
            else {
                continue;
            };
            out.push(format!(
                "mail forwarded to {target} keeps its outside sender and goes through {} ({provider}), which {rule}; choose one: sender rewriting (SRS, e.g. postsrsd), a direct route for the target's domain (recipient set DOMAIN --direct), or a relay that accepts any sender",
                s.relay
            ));
        }
        out
    }
}

/// The sender [`Policy::route_forwarded`] routes: a domain no policy
/// hosts (`.invalid` is reserved, RFC 2606).
const OUTSIDE_SENDER: &str = "forwarded@outside-sender.invalid";

/// The domain of an address, or the text itself when it has no `@`.
fn address_domain(address: &str) -> &str {
    match address.rsplit_once('@') {
        Some((_, domain)) => domain,
        None => address,
    }
}

/// Whether the relay is a provider known to refuse the null sender.
fn refuses_null_sender(s: &Smarthost) -> bool {
    Provider::for_relay(&s.relay).is_some_and(|p| p.name == "amazon-ses")
}

/// A routing rule beyond a server-wide or per-domain smarthost, named by
/// its field: what a backend that cannot express it refuses
/// ([`Policy::routing_rules`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RoutingRule {
    /// Backup relays of a smarthost.
    Backup,
    /// A sender domain delivered directly despite the server-wide smarthost.
    DirectException,
    /// A smarthost for one sender address.
    Mailbox,
    /// A route for a recipient domain, relayed or direct.
    Recipient,
    /// A path of its own for the null sender.
    Bounces,
}

impl Policy {
    /// Every rule beyond a server-wide or per-domain smarthost, each with
    /// its field in the policy file (`domains."a.example".backup`,
    /// `mailboxes."alice@a.example"`, `bounces`), in the file's order.
    pub fn routing_rules(&self) -> Vec<(String, RoutingRule)> {
        let mut out = Vec::new();
        if self.server.as_ref().is_some_and(|s| !s.backups.is_empty()) {
            out.push(("server.backup".to_owned(), RoutingRule::Backup));
        }
        for (d, s) in &self.domains {
            if !s.backups.is_empty() {
                out.push((format!("domains.{:?}.backup", d.as_str()), RoutingRule::Backup));
            }
        }
        for d in &self.direct {
            out.push((format!("domains.{:?}.direct", d.as_str()), RoutingRule::DirectException));
        }
        for m in self.mailboxes.keys() {
            out.push((format!("mailboxes.{:?}", m.to_string()), RoutingRule::Mailbox));
        }
        for d in self.recipients.keys().chain(&self.direct_recipients) {
            out.push((format!("recipients.{:?}", d.as_str()), RoutingRule::Recipient));
        }
        if !self.bounces.is_server() {
            out.push(("bounces".to_owned(), RoutingRule::Bounces));
        }
        out
    }
}
