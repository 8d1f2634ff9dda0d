//! Mail that smarthost's relays hold up, from the queue and the log: per
//! relay and per sender domain, how many messages are deferred, the
//! oldest, and why; and per relay, the delivery attempts the log shows
//! over a period. [`summarize`] does no I/O.
//!
//! A message belongs to the relay its sender takes under the policy
//! ([`Policy::route`]): its domain's smarthost, else the server-wide one.
//! Messages that go direct are counted apart ([`Health::other_deferred`]).
//! A message counts when it is held up ([`QueuedMessage::is_held_up`]):
//! in the `deferred` queue, or in `active` with the delay reason of an
//! earlier attempt (a retry, or a message on its way to `deferred`). New
//! mail being delivered and `hold` mail (held on purpose) do not count.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use smarthost_core::{Host, Policy, Smarthost};

use super::classify::{classify, Reason};
use super::log::{LogLine, RelayAddr, Status, UnixTime};
use super::queue::QueuedMessage;

/// How many messages were deferred for one reason, with an example of
/// Postfix's words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// The reason.
    pub reason: Reason,
    /// Messages deferred for it.
    pub messages: usize,
    /// The most recent `delay_reason` of that kind. Peer text: sanitize
    /// it before showing it.
    pub example: String,
}

/// Delivery attempts the log shows over the period, by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogCounts {
    /// `status=sent`.
    pub sent: u64,
    /// `status=deferred`.
    pub deferred: u64,
    /// `status=bounced`.
    pub bounced: u64,
    /// `status=expired`.
    pub expired: u64,
}

impl LogCounts {
    fn add(&mut self, status: Status) {
        match status {
            Status::Sent => self.sent += 1,
            Status::Deferred => self.deferred += 1,
            Status::Bounced => self.bounced += 1,
            Status::Expired => self.expired += 1,
        }
    }
}

/// Deferred mail and delivery attempts of one relay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RelayHealth {
    /// The relay as configured, in Postfix form (`[smtp.example.com]:587`).
    pub relay: String,
    /// Who uses it: `server` and the domains whose smarthost it is.
    pub used_by: Vec<String>,
    /// Messages deferred on it.
    pub deferred: usize,
    /// Seconds since the oldest of them arrived.
    pub oldest_seconds: Option<i64>,
    /// Why they are deferred, most frequent first.
    pub reasons: Vec<ReasonCount>,
    /// Delivery attempts over the period, from the log.
    pub log: LogCounts,
}

impl RelayHealth {
    /// Why its mail is deferred, as one line: `reason (count), ...`, most
    /// frequent first.
    pub fn reasons_text(&self) -> String {
        let reasons: Vec<String> = (self.reasons.iter())
            .map(|c| format!("{} ({})", c.reason, c.messages))
            .collect();
        reasons.join(", ")
    }
}

/// Deferred mail of one sender domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainHealth {
    /// The sender domain (`<>` for bounces).
    pub sender_domain: String,
    /// The relay its mail takes.
    pub relay: String,
    /// Messages deferred.
    pub deferred: usize,
    /// Seconds since the oldest of them arrived.
    pub oldest_seconds: Option<i64>,
    /// Why they are deferred, most frequent first.
    pub reasons: Vec<ReasonCount>,
}

/// What smarthost's relays hold up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    /// When this was computed.
    pub now: UnixTime,
    /// The start of the period the log counts cover.
    pub since: UnixTime,
    /// Every configured relay, in the policy's order (server first).
    pub relays: Vec<RelayHealth>,
    /// Sender domains with deferred mail on a relay.
    pub domains: Vec<DomainHealth>,
    /// Deferred messages that go direct (not through a smarthost).
    pub other_deferred: usize,
}

/// When [`Health::severity`] warns and when it is critical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// A deferred message at least this old (seconds) is a warning
    /// (default 0: any).
    pub warning_age: i64,
    /// A deferred message at least this old (seconds) is critical
    /// (default 3600).
    pub critical_age: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warning_age: 0,
            critical_age: 3600,
        }
    }
}

/// The monitoring state, in Nagios' terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// Nothing deferred (or nothing old enough to warn).
    Ok,
    /// Deferred mail Postfix may still deliver by itself.
    Warning,
    /// Deferred mail that needs the administrator ([`Reason::needs_admin`])
    /// or that is older than the critical age.
    Critical,
    /// The state could not be read.
    Unknown,
}

impl Severity {
    /// The Nagios exit code: 0, 1, 2, 3.
    pub fn code(self) -> u8 {
        match self {
            Severity::Ok => 0,
            Severity::Warning => 1,
            Severity::Critical => 2,
            Severity::Unknown => 3,
        }
    }

    /// `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Ok => "OK",
            Severity::Warning => "WARNING",
            Severity::Critical => "CRITICAL",
            Severity::Unknown => "UNKNOWN",
        }
    }
}

/// Which relay a sender's mail takes, looked up once per domain.
struct Router<'p> {
    policy: &'p Policy,
    /// Routes by what they depend on: the sender's address when the policy
    /// has mailboxes (else its domain), and the recipient's domain when it
    /// has recipient routes (else nothing). A cache by sender domain alone
    /// gave a mailbox its domain's relay, and every recipient the first
    /// one's route.
    cache: HashMap<(String, String), Option<&'p Smarthost>>,
}

impl<'p> Router<'p> {
    fn relay_of(&mut self, sender: &str, recipient: Option<&str>) -> Option<&'p Smarthost> {
        let policy = self.policy;
        let domain_of = |address: &str| address.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
        let sender_key = if policy.mailboxes.is_empty() {
            domain_of(sender)
        } else {
            sender.to_ascii_lowercase()
        };
        let recipient_key = match recipient {
            Some(r) if !(policy.recipients.is_empty() && policy.direct_recipients.is_empty()) => domain_of(r),
            _ => String::new(),
        };
        *self.cache.entry((sender_key, recipient_key)).or_insert_with(|| {
            let recipient = recipient.filter(|r| !r.is_empty() && r.contains('@'));
            match policy.route_to(sender, recipient) {
                Ok(route) => route.via.smarthost(),
                Err(_) => None,
            }
        })
    }
}

/// Whether the host Postfix logged is `smarthost`'s relay.
fn same_host(smarthost: &Smarthost, addr: &RelayAddr) -> bool {
    let relay = &smarthost.relay;
    let host = match relay.host() {
        Host::Name(name) => name.as_str().to_owned(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    };
    let port_ok = addr.port.is_none_or(|p| p == relay.port());
    port_ok && (addr.host.eq_ignore_ascii_case(&host) || addr.address.eq_ignore_ascii_case(&host))
}

#[derive(Default)]
struct Deferred {
    messages: usize,
    oldest: Option<UnixTime>,
    reasons: BTreeMap<Reason, (usize, String)>,
}

impl Deferred {
    fn add(&mut self, message: &QueuedMessage, reasons: &[(Reason, String)]) {
        self.messages += 1;
        self.oldest = Some(
            self.oldest
                .map_or(message.arrival_time, |o| o.min(message.arrival_time)),
        );
        for (reason, text) in reasons {
            let entry = self.reasons.entry(*reason).or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = text.clone();
        }
    }

    fn reasons(&self) -> Vec<ReasonCount> {
        let mut out: Vec<ReasonCount> = self
            .reasons
            .iter()
            .map(|(reason, (messages, example))| ReasonCount {
                reason: *reason,
                messages: *messages,
                example: example.clone(),
            })
            .collect();
        out.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.reason.cmp(&b.reason)));
        out
    }
}

/// The distinct reasons of a message's recipients, with Postfix's words.
fn reasons_of(message: &QueuedMessage) -> Vec<(Reason, String)> {
    let mut out: Vec<(Reason, String)> = Vec::new();
    for text in message.recipients.iter().filter_map(|r| r.delay_reason.as_deref()) {
        let reason = classify(text);
        if !out.iter().any(|(r, _)| *r == reason) {
            out.push((reason, text.to_owned()));
        }
    }
    out
}

/// What smarthost's relays hold up: the deferred messages of `queue` and
/// the delivery attempts of `log` (lines from `since` on), grouped by the
/// relay `policy` routes each sender to.
pub fn summarize(
    policy: &Policy,
    queue: &[QueuedMessage],
    log: &[LogLine<'_>],
    now: UnixTime,
    since: UnixTime,
) -> Health {
    let mut router = Router {
        policy,
        cache: HashMap::new(),
    };
    // Every configured relay, once, in the policy's order.
    let mut relays: Vec<(&Smarthost, Vec<String>)> = Vec::new();
    let levels = policy
        .server
        .iter()
        .map(|s| ("server".to_owned(), s))
        .chain(policy.domains.iter().map(|(d, s)| (d.to_string(), s)))
        .chain(policy.mailboxes.iter().map(|(m, s)| (m.to_string(), s)))
        .chain(policy.recipients.iter().map(|(d, s)| (format!("to {d}"), s)))
        .chain(policy.bounces.relay().map(|s| ("bounces".to_owned(), s)));
    for (who, s) in levels {
        match relays.iter_mut().find(|(r, _)| r.relay == s.relay) {
            Some((_, used_by)) => used_by.push(who),
            None => relays.push((s, vec![who])),
        }
    }
    let index = |s: &Smarthost| relays.iter().position(|(r, _)| r.relay == s.relay);
    let mut by_relay: Vec<Deferred> = relays.iter().map(|_| Deferred::default()).collect();
    let mut counts: Vec<LogCounts> = vec![LogCounts::default(); relays.len()];
    let mut by_domain: BTreeMap<(String, usize), Deferred> = BTreeMap::new();
    let mut other_deferred = 0;

    for message in queue.iter().filter(|m| m.is_held_up()) {
        // Each relay the message's recipients are routed to, once.
        let mut routed: Vec<usize> = Vec::new();
        let recipients: Vec<Option<&str>> = if message.recipients.is_empty() {
            vec![None]
        } else {
            message.recipients.iter().map(|r| Some(r.address.as_str())).collect()
        };
        for recipient in recipients {
            if let Some(i) = router.relay_of(&message.sender, recipient).and_then(index) {
                if !routed.contains(&i) {
                    routed.push(i);
                }
            }
        }
        if routed.is_empty() {
            other_deferred += 1;
            continue;
        }
        let reasons = reasons_of(message);
        let domain = match message.sender.rsplit_once('@') {
            Some((_, d)) => d.to_ascii_lowercase(),
            None => "<>".to_owned(),
        };
        for i in routed {
            by_relay[i].add(message, &reasons);
            by_domain.entry((domain.clone(), i)).or_default().add(message, &reasons);
        }
    }

    let mut senders: HashMap<&str, &str> = HashMap::new();
    for line in log {
        if let Some((queue_id, sender)) = line.sender() {
            senders.insert(queue_id, sender);
            continue;
        }
        let Some(d) = line.delivery() else { continue };
        if line.time.is_some_and(|t| t < since) {
            continue;
        }
        // Local deliveries (relay=local, lmtp over a socket) are not a relay's.
        let remote = d.relay_field == "none" || d.relay.as_ref().is_some_and(|r| !r.address.contains('/'));
        if !remote {
            continue;
        }
        let by_sender = senders
            .get(d.queue_id)
            .and_then(|sender| router.relay_of(sender, Some(d.to)))
            .and_then(index);
        let by_host = || {
            d.relay
                .as_ref()
                .and_then(|addr| relays.iter().position(|(s, _)| same_host(s, addr)))
        };
        if let Some(i) = by_sender.or_else(by_host) {
            counts[i].add(d.status);
        }
    }

    let age = |oldest: Option<UnixTime>| oldest.map(|t| (now - t).max(0));
    Health {
        now,
        since,
        relays: relays
            .iter()
            .zip(by_relay.iter().zip(counts))
            .map(|((s, used_by), (deferred, log))| RelayHealth {
                relay: s.relay.to_string(),
                used_by: used_by.clone(),
                deferred: deferred.messages,
                oldest_seconds: age(deferred.oldest),
                reasons: deferred.reasons(),
                log,
            })
            .collect(),
        domains: by_domain
            .iter()
            .map(|((domain, i), deferred)| DomainHealth {
                sender_domain: domain.clone(),
                relay: relays[*i].0.relay.to_string(),
                deferred: deferred.messages,
                oldest_seconds: age(deferred.oldest),
                reasons: deferred.reasons(),
            })
            .collect(),
        other_deferred,
    }
}

impl Health {
    /// Messages deferred on smarthost's relays.
    pub fn deferred(&self) -> usize {
        self.relays.iter().map(|r| r.deferred).sum()
    }

    /// The age of the oldest of them, in seconds.
    pub fn oldest_seconds(&self) -> Option<i64> {
        self.relays.iter().filter_map(|r| r.oldest_seconds).max()
    }

    /// Delivery attempts of the period on every relay.
    pub fn log_counts(&self) -> LogCounts {
        self.relays.iter().fold(LogCounts::default(), |mut all, r| {
            all.sent += r.log.sent;
            all.deferred += r.log.deferred;
            all.bounced += r.log.bounced;
            all.expired += r.log.expired;
            all
        })
    }

    /// The state: CRITICAL when a message is deferred for a reason that
    /// needs the administrator, or is at least `critical_age` old;
    /// WARNING when one is at least `warning_age` old; OK otherwise.
    pub fn severity(&self, thresholds: &Thresholds) -> Severity {
        let needs_admin = self
            .relays
            .iter()
            .flat_map(|r| &r.reasons)
            .any(|c| c.reason.needs_admin());
        match self.oldest_seconds() {
            None => Severity::Ok,
            Some(_) if needs_admin => Severity::Critical,
            Some(age) if age >= thresholds.critical_age => Severity::Critical,
            Some(age) if age >= thresholds.warning_age => Severity::Warning,
            Some(_) => Severity::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::log::{parse_line, Clock};
    use crate::health::queue;
    use smarthost_core::{Encryption, RelayHost};

    const NOW: UnixTime = 1_795_564_246;

    fn policy() -> Policy {
        let relay = |t: &str| Smarthost::new(RelayHost::parse(t).unwrap()).with_encryption(Encryption::Starttls);
        let mut policy = Policy::default();
        policy.set_server(relay("[localhost]:44881")).unwrap();
        policy
            .domains
            .insert("badpw.example".parse().unwrap(), relay("[localhost]:44882"));
        policy
            .domains
            .insert("down.example".parse().unwrap(), relay("[localhost]:39571"));
        policy
    }

    #[test]
    fn deferred_mail_is_grouped_by_relay_and_domain() {
        let queue = queue::parse(concat!(
            r#"{"queue_name": "deferred", "queue_id": "C850A9BE0C7", "arrival_time": 1795564153, "sender": "s@badpw.example", "recipients": [{"address": "r@remote.example", "delay_reason": "SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid"}]}"#,
            "\n",
            r#"{"queue_name": "deferred", "queue_id": "DC65C9BE0F3", "arrival_time": 1795564000, "sender": "s@down.example", "recipients": [{"address": "r@remote.example", "delay_reason": "connect to localhost[127.0.0.1]:39571: Connection refused"}]}"#,
            "\n",
            r#"{"queue_name": "deferred", "queue_id": "DC65C9BE0F4", "arrival_time": 1795564200, "sender": "t@down.example", "recipients": [{"address": "r@remote.example", "delay_reason": "connect to localhost[127.0.0.1]:39571: Connection refused"}]}"#,
            "\n",
            r#"{"queue_name": "active", "queue_id": "AAAAA11111", "arrival_time": 1795564200, "sender": "u@down.example", "recipients": [{"address": "r@remote.example"}]}"#,
            "\n",
        ))
        .unwrap();
        let clock = Clock {
            now: NOW,
            utc_offset: 0,
        };
        let text = [
            "Nov 24 23:49:13 pf postfix/qmgr[28904]: C52969BE0DB: from=<s@other.example>, size=287, nrcpt=1 (queue active)",
            "Nov 24 23:49:14 pf postfix/smtp[28915]: C52969BE0DB: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0.28, delays=0.02/0.03/0.18/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)",
            "Nov 24 23:49:13 pf postfix/qmgr[28904]: DC65C9BE0F3: from=<s@down.example>, size=289, nrcpt=1 (queue active)",
            "Nov 24 23:49:13 pf postfix/smtp[28949]: DC65C9BE0F3: to=<r@remote.example>, relay=none, delay=0.05, delays=0/0.04/0/0, dsn=4.4.1, status=deferred (connect to localhost[127.0.0.1]:39571: Connection refused)",
            "Nov 24 23:49:14 pf postfix/smtp[28925]: C850A9BE0C7: to=<r@remote.example>, relay=localhost[127.0.0.1]:44882, delay=0.24, dsn=4.7.8, status=deferred (SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid)",
            "Nov 24 23:49:14 pf postfix/local[1]: D0000000000: to=<root@pf.test>, relay=local, delay=0, dsn=2.0.0, status=sent (delivered to mailbox)",
            "Nov 23 23:49:14 pf postfix/smtp[1]: D0000000001: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0, dsn=2.0.0, status=sent (250 old)",
        ];
        let lines: Vec<LogLine<'_>> = text.iter().filter_map(|l| parse_line(l, &clock)).collect();
        let health = summarize(&policy(), &queue, &lines, NOW, NOW - 3600);
        assert_eq!(health.relays.len(), 3);
        let server = &health.relays[0];
        assert_eq!((server.relay.as_str(), server.deferred), ("[localhost]:44881", 0));
        assert_eq!(server.used_by, ["server"]);
        assert_eq!(
            server.log,
            LogCounts {
                sent: 1,
                ..LogCounts::default()
            }
        );
        let badpw = &health.relays[1];
        assert_eq!((badpw.deferred, badpw.reasons[0].reason), (1, Reason::AuthRejected));
        assert_eq!(badpw.log.deferred, 1);
        let down = &health.relays[2];
        assert_eq!(down.deferred, 2);
        assert_eq!(down.oldest_seconds, Some(NOW - 1_795_564_000));
        assert_eq!(
            (down.reasons[0].reason, down.reasons[0].messages),
            (Reason::ConnectionRefused, 2)
        );
        assert_eq!(down.log.deferred, 1, "relay=none is counted by the sender's route");
        assert_eq!(health.domains.len(), 2);
        assert_eq!(health.domains[1].sender_domain, "down.example");
        assert_eq!(health.domains[1].relay, "[localhost]:39571");
        assert_eq!(health.deferred(), 3);
        assert_eq!(health.severity(&Thresholds::default()), Severity::Critical);
    }

    #[test]
    fn mailboxes_and_recipient_routes_are_not_cached_by_sender_domain() {
        let relay = |t: &str| Smarthost::new(RelayHost::parse(t).unwrap()).with_encryption(Encryption::Starttls);
        let mut policy = policy();
        policy
            .mailboxes
            .insert("alice@down.example".parse().unwrap(), relay("[localhost]:50001"));
        policy
            .recipients
            .insert("partner.example".parse().unwrap(), relay("[localhost]:50002"));
        let mut router = Router {
            policy: &policy,
            cache: HashMap::new(),
        };
        let port = |s: Option<&Smarthost>| s.map(|s| s.relay.port());
        // The domain first, so that a cache by sender domain would answer
        // the mailbox and the route with it.
        assert_eq!(
            port(router.relay_of("t@down.example", Some("r@remote.example"))),
            Some(39571)
        );
        assert_eq!(
            port(router.relay_of("alice@down.example", Some("r@remote.example"))),
            Some(50001)
        );
        assert_eq!(
            port(router.relay_of("t@down.example", Some("r@partner.example"))),
            Some(50002)
        );
        assert_eq!(
            port(router.relay_of("t@down.example", Some("r@remote.example"))),
            Some(39571)
        );
        let queue = queue::parse(concat!(
            r#"{"queue_name": "deferred", "queue_id": "C1", "arrival_time": 1795564153, "sender": "t@down.example", "recipients": [{"address": "r@partner.example", "delay_reason": "connect to localhost[127.0.0.1]:50002: Connection refused"}]}"#,
            "\n",
            r#"{"queue_name": "deferred", "queue_id": "C2", "arrival_time": 1795564153, "sender": "alice@down.example", "recipients": [{"address": "r@remote.example", "delay_reason": "connect to localhost[127.0.0.1]:50001: Connection refused"}]}"#,
            "\n",
        ))
        .unwrap();
        let health = summarize(&policy, &queue, &[], NOW, NOW - 3600);
        let deferred = |port: &str| {
            health
                .relays
                .iter()
                .find(|r| r.relay.ends_with(port))
                .map(|r| (r.deferred, r.used_by.clone()))
        };
        assert_eq!(deferred(":50001"), Some((1, vec!["alice@down.example".to_owned()])));
        assert_eq!(deferred(":50002"), Some((1, vec!["to partner.example".to_owned()])));
        assert_eq!(deferred(":39571").map(|d| d.0), Some(0));
    }

    #[test]
    fn severities() {
        let p = policy();
        let deferred = |age: i64, reason: &str| {
            let text = format!(
                r#"{{"queue_name": "deferred", "queue_id": "ABCDEF1", "arrival_time": {}, "sender": "s@down.example", "recipients": [{{"address": "r@x.example", "delay_reason": "{reason}"}}]}}"#,
                NOW - age
            );
            summarize(&p, &queue::parse(&text).unwrap(), &[], NOW, NOW)
        };
        let t = Thresholds {
            warning_age: 60,
            critical_age: 3600,
        };
        assert_eq!(summarize(&p, &[], &[], NOW, NOW).severity(&t), Severity::Ok);
        assert_eq!(deferred(10, "Connection refused").severity(&t), Severity::Ok);
        assert_eq!(deferred(120, "Connection refused").severity(&t), Severity::Warning);
        assert_eq!(deferred(4000, "Connection refused").severity(&t), Severity::Critical);
        assert_eq!(
            deferred(10, "Server certificate not verified").severity(&t),
            Severity::Critical
        );
        assert_eq!(Severity::Unknown.code(), 3);
    }
}
