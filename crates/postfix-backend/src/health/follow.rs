//! A test message through the instance smarthost configures, followed to
//! the relay's reply.
//!
//! [`send_and_follow`] submits a short message with `sendmail -C DIR`,
//! learns its queue ID (from cleanup's `message-id=` log line, or failing
//! that from the queue), then reads the log and the queue until Postfix
//! logs the first delivery attempt (`status=sent`, `deferred` or
//! `bounced`) or the time is up. [`Follower`] is the part that reads log
//! lines, without I/O, for embedders that have their own log.
//!
//! The message carries a unique header ([`TEST_HEADER`]) and Message-ID,
//! so that it can be found again in the log, in the queue and in the
//! recipient's mailbox.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use smarthost_core::DomainName;

use super::classify::{classify, Reason};
use super::log::{Clock, LogLine, LogSettings, RelayAddr, Status, TlsLine};
use super::queue::{self, QueuedMessage};
use crate::error::Error;
use crate::schema;
use crate::PostfixOptions;

/// The header that marks a test message; its value is the message's token.
pub const TEST_HEADER: &str = "X-Smarthost-Test";

/// How often the queue is asked while the log has no answer yet.
const QUEUE_EVERY: Duration = Duration::from_millis(500);
/// How long a deferral seen in the queue waits for its log line (which
/// names the relay and the TLS connection).
const LOG_GRACE: Duration = Duration::from_secs(2);

/// A test message: envelope sender and recipient, and its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestMessage {
    from: String,
    to: String,
    token: String,
}

/// Checks an address to submit: `local@domain`, the local part printable
/// ASCII without spaces or the characters that would need quoting, not
/// starting with `-` (sendmail would read an option), and a valid domain
/// (IDNA turned into A-labels). The address as it is submitted.
fn address(field: &str, text: &str) -> Result<String, Error> {
    let invalid = |reason: &str| Error::InvalidAddress {
        field: field.to_owned(),
        reason: reason.to_owned(),
    };
    let (local, domain) = text
        .rsplit_once('@')
        .ok_or_else(|| invalid("is not an address (local@domain)"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(invalid("has a local part that is empty or longer than 64 characters"));
    }
    if local.starts_with(['-', '.']) || local.ends_with('.') || local.contains("..") {
        return Err(invalid(
            "has a local part that starts or ends with '-' or '.', or has '..'",
        ));
    }
    if let Some(c) = local
        .chars()
        .find(|c| !c.is_ascii_graphic() || "<>()[]\\,;:\"@".contains(*c))
    {
        return Err(invalid(&format!(
            "has {c:?} in its local part; use a plain address such as postmaster@example.com"
        )));
    }
    let domain = DomainName::parse(domain).map_err(|e| invalid(&format!("has an invalid domain: {e}")))?;
    Ok(format!("{local}@{domain}"))
}

impl TestMessage {
    /// A test message from `from` to `to`, both checked, with a new token.
    pub fn new(from: &str, to: &str) -> Result<TestMessage, Error> {
        let from = address("from", from)?;
        let to = address("to", to)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let token = format!("{nanos:x}.{:x}", std::process::id());
        Ok(TestMessage { from, to, token })
    }

    /// The envelope sender.
    pub fn from(&self) -> &str {
        &self.from
    }

    /// The envelope recipient.
    pub fn to(&self) -> &str {
        &self.to
    }

    /// The token in [`TEST_HEADER`] and in the Message-ID.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The Message-ID, without angle brackets: `smarthost-test.TOKEN@DOMAIN`
    /// (the sender's domain).
    pub fn message_id(&self) -> String {
        let domain = self.from.rsplit_once('@').map_or("", |(_, d)| d);
        format!("smarthost-test.{}@{domain}", self.token)
    }

    /// The message as it is submitted (Postfix adds Date and Received).
    pub fn text(&self) -> String {
        format!(
            "From: <{from}>\n\
             To: <{to}>\n\
             Subject: smarthost test message\n\
             Message-ID: <{id}>\n\
             {TEST_HEADER}: {token}\n\
             MIME-Version: 1.0\n\
             Content-Type: text/plain; charset=us-ascii\n\
             \n\
             This message was sent by `smarthost test-send` to check that this\n\
             server's mail reaches its relay. It can be deleted.\n",
            from = self.from,
            to = self.to,
            id = self.message_id(),
            token = self.token,
        )
    }
}

/// Where the test message got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The relay accepted it (`status=sent`).
    Delivered,
    /// The attempt failed and Postfix will retry (`status=deferred`).
    Deferred,
    /// The relay refused it for good (`status=bounced`).
    Bounced,
    /// Postfix gave up on it (`status=expired`).
    Expired,
    /// It left the queue, but no log line says how (no log available).
    LeftQueue,
    /// No attempt was logged before the time was up.
    Pending,
}

impl Verdict {
    /// The verdict in a word or two.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Deferred => "deferred",
            Verdict::Bounced => "bounced",
            Verdict::Expired => "expired",
            Verdict::LeftQueue => "left the queue",
            Verdict::Pending => "no answer yet",
        }
    }
}

/// What Postfix did with the test message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    /// Where it got.
    pub verdict: Verdict,
    /// Its queue ID, once known.
    pub queue_id: Option<String>,
    /// The host Postfix talked to (none when no connection was made).
    pub relay: Option<RelayAddr>,
    /// The TLS connection of that delivery, when the log shows one (a
    /// reused connection logs none).
    pub tls: Option<TlsLine>,
    /// The DSN status, e.g. `2.0.0`.
    pub dsn: Option<String>,
    /// Postfix's words about the attempt: the relay's reply (`250 2.0.0
    /// Ok: queued as ...`), or why there was none. Peer text: sanitize it
    /// (smarthost_core::peer_text) before showing it.
    pub text: Option<String>,
    /// Why it failed, when it did.
    pub reason: Option<Reason>,
    /// Postfix's own delay for the message, in seconds, as logged.
    pub postfix_delay: Option<f64>,
    /// The queue it is in (`deferred`, `active`, ...); `None` once it left
    /// the queue. [`send_and_follow`] asks the queue again at the end.
    pub queue_name: Option<String>,
}

/// Follows one test message through log lines (no I/O).
#[derive(Clone, Debug)]
pub struct Follower {
    message_id: String,
    to: String,
    queue_id: Option<String>,
    /// The last TLS connection of each SMTP client process.
    tls: HashMap<(String, u32), TlsLine>,
    outcome: Outcome,
    finished: bool,
}

impl Follower {
    /// Follows `message`.
    pub fn new(message: &TestMessage) -> Follower {
        Follower {
            message_id: message.message_id(),
            to: message.to.clone(),
            queue_id: None,
            tls: HashMap::new(),
            outcome: Outcome {
                verdict: Verdict::Pending,
                queue_id: None,
                relay: None,
                tls: None,
                dsn: None,
                text: None,
                reason: None,
                postfix_delay: None,
                queue_name: None,
            },
            finished: false,
        }
    }

    /// The queue ID, once known.
    pub fn queue_id(&self) -> Option<&str> {
        self.queue_id.as_deref()
    }

    /// Sets the queue ID learnt elsewhere (the queue).
    pub fn set_queue_id(&mut self, queue_id: &str) {
        if self.queue_id.is_none() {
            self.queue_id = Some(queue_id.to_owned());
            self.outcome.queue_id = self.queue_id.clone();
        }
    }

    /// Whether the first delivery attempt was seen.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// What is known so far.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// Reads one log line.
    pub fn feed(&mut self, line: &LogLine<'_>) {
        if self.finished {
            return;
        }
        if let Some(tls) = line.tls() {
            if let Some(pid) = line.pid {
                self.tls.insert((line.program.to_owned(), pid), tls);
            }
            return;
        }
        if let Some((queue_id, id)) = line.message_id() {
            if id == self.message_id {
                // cleanup's word is final (a queue ID seen in the queue
                // may have been a guess).
                self.queue_id = Some(queue_id.to_owned());
                self.outcome.queue_id = self.queue_id.clone();
            }
            return;
        }
        let Some(ours) = self.queue_id.clone() else {
            return;
        };
        if line.expired() == Some(ours.as_str()) {
            self.finish(Verdict::Expired);
            return;
        }
        let Some(delivery) = line.delivery() else {
            return;
        };
        if delivery.queue_id != ours || !delivery.to.eq_ignore_ascii_case(&self.to) {
            return;
        }
        let tls = line
            .pid
            .and_then(|pid| self.tls.get(&(line.program.to_owned(), pid)))
            .filter(|t| t.peer.is_some() && t.peer == delivery.relay)
            .cloned();
        let o = &mut self.outcome;
        o.relay = delivery.relay.clone();
        o.tls = tls;
        o.dsn = delivery.dsn.map(str::to_owned);
        o.text = Some(delivery.text.to_owned());
        o.postfix_delay = delivery.delay;
        let verdict = match delivery.status {
            Status::Sent => Verdict::Delivered,
            Status::Deferred => Verdict::Deferred,
            Status::Bounced => Verdict::Bounced,
            Status::Expired => Verdict::Expired,
        };
        if verdict != Verdict::Delivered {
            o.reason = Some(classify(delivery.text));
        }
        self.finish(verdict);
    }

    /// Reads the queue: the queue the message is in, and its delay reason
    /// when the log has none. Returns whether the message is deferred there.
    pub fn see_queue(&mut self, queue: &[QueuedMessage]) -> bool {
        let Some(ours) = &self.queue_id else {
            return false;
        };
        let Some(message) = queue.iter().find(|m| &m.queue_id == ours) else {
            return false;
        };
        self.outcome.queue_name = Some(message.queue_name.clone());
        let reason = message
            .recipients
            .iter()
            .find(|r| r.address.eq_ignore_ascii_case(&self.to))
            .and_then(|r| r.delay_reason.clone());
        if !self.finished && message.is_deferred() {
            if let Some(text) = reason {
                self.outcome.reason = Some(classify(&text));
                self.outcome.text = Some(text);
            }
            return true;
        }
        false
    }

    /// Ends following with this verdict.
    pub fn finish(&mut self, verdict: Verdict) {
        self.outcome.verdict = verdict;
        self.finished = true;
    }
}

/// What [`send_and_follow`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Followed {
    /// What Postfix did.
    pub outcome: Outcome,
    /// From the submission to the answer (or the end of the wait).
    pub elapsed: Duration,
    /// The log read, in words; `None` when none was found.
    pub log: Option<String>,
    /// Why no log could be read, when none was.
    pub log_error: Option<String>,
}

/// The queue IDs of the messages from `from` to `to` in `queue`. Not in
/// `maildrop`: cleanup gives a message a new queue ID when pickup takes it
/// from there.
fn ids_of<'q>(queue: &'q [QueuedMessage], from: &'q str, to: &'q str) -> impl Iterator<Item = &'q str> + 'q {
    queue
        .iter()
        .filter(move |m| {
            m.queue_name != "maildrop"
                && m.sender.eq_ignore_ascii_case(from)
                && m.recipients.iter().any(|r| r.address.eq_ignore_ascii_case(to))
        })
        .map(|m| m.queue_id.as_str())
}

/// Submits `message` with the instance's `sendmail -C DIR` (its
/// `sendmail_path`).
fn submit(options: &PostfixOptions, message: &TestMessage) -> Result<(), Error> {
    let sendmail = super::postconf(options, &[schema::SENDMAIL_PATH])?.remove(0);
    let sendmail = if sendmail.is_empty() {
        "/usr/sbin/sendmail".to_owned()
    } else {
        sendmail
    };
    let config = options.on_disk(&options.config_dir);
    let command = format!(
        "{sendmail} -C {} -i -f {} {}",
        config.display(),
        message.from,
        message.to
    );
    let failed = |output: String| Error::Command {
        command: command.clone(),
        output,
    };
    let mut child = Command::new(&sendmail)
        .arg("-C")
        .arg(&config)
        .args(["-i", "-f", &message.from, "--", &message.to])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(message.text().as_bytes())
            .map_err(|e| failed(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(super::sanitized_output(&out)));
    }
    Ok(())
}

/// Submits `message` through the instance of `options` and follows it
/// until its first delivery attempt is logged or `timeout` passes.
///
/// Needs a live instance (root `/`): Postfix must run for the message to
/// leave the queue. The log is the instance's `maillog_file`, else the
/// system's mail log or the journal ([`LogSettings::locate`]); without
/// any, the queue alone is followed (it says when the message is
/// deferred, but not where a message that left it went).
pub fn send_and_follow(options: &PostfixOptions, message: &TestMessage, timeout: Duration) -> Result<Followed, Error> {
    if options.root != Path::new("/") {
        return Err(Error::NotLive {
            root: options.root.clone(),
        });
    }
    let clock = Clock::system();
    let (mut tail, log_error) = match LogSettings::locate(options).and_then(|s| s.tail(&clock)) {
        Ok(tail) => (Some(tail), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let before: BTreeSet<String> = ids_of(&queue::read(options)?, &message.from, &message.to)
        .map(str::to_owned)
        .collect();
    submit(options, message)?;
    let started = Instant::now();
    let mut follower = Follower::new(message);
    let mut asked_queue: Option<Instant> = None;
    let mut deferred_since: Option<Instant> = None;
    while !follower.finished() && started.elapsed() < timeout {
        if let Some(tail) = &mut tail {
            for text in tail.read_new()? {
                if let Some(line) = super::log::parse_line(&text, &clock) {
                    follower.feed(&line);
                }
            }
            if follower.finished() {
                break;
            }
        }
        if asked_queue.is_none_or(|t| t.elapsed() >= QUEUE_EVERY) {
            asked_queue = Some(Instant::now());
            let queue = queue::read(options)?;
            if follower.queue_id().is_none() {
                let new = ids_of(&queue, &message.from, &message.to).find(|id| !before.contains(*id));
                if let Some(id) = new.map(str::to_owned) {
                    follower.set_queue_id(&id);
                }
            }
            if follower.see_queue(&queue) {
                let since = *deferred_since.get_or_insert_with(Instant::now);
                if tail.is_none() || since.elapsed() >= LOG_GRACE {
                    follower.finish(Verdict::Deferred);
                }
            } else if tail.is_none()
                && follower
                    .queue_id()
                    .is_some_and(|id| !queue.iter().any(|m| m.queue_id == id))
            {
                follower.finish(Verdict::LeftQueue);
            }
        }
        if !follower.finished() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let elapsed = started.elapsed();
    // Where the message is now (it was last seen before the attempt).
    if let Some(id) = follower.queue_id().map(str::to_owned) {
        let queue = queue::read(options)?;
        follower.outcome.queue_name = queue.iter().find(|m| m.queue_id == id).map(|m| m.queue_name.clone());
    }
    Ok(Followed {
        outcome: follower.outcome().clone(),
        elapsed,
        log: tail.as_ref().map(|t| t.settings().source.to_string()),
        log_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::log::parse_line;

    const UTC: Clock = Clock {
        now: 1_795_564_246,
        utc_offset: 0,
    };

    fn message() -> TestMessage {
        TestMessage {
            from: "s@ok.example".into(),
            to: "r@remote.example".into(),
            token: "18f0a1b2c3.4d2".into(),
        }
    }

    #[test]
    fn addresses_are_checked() {
        let m = TestMessage::new("Alice.B+test@Shop.EXAMPLE", "r@remote.example").unwrap();
        assert_eq!(m.from(), "Alice.B+test@shop.example");
        for bad in [
            "-oQ/tmp@x.example",
            "a b@x.example",
            "a@",
            "plain",
            "a\n@x.example",
            "<a>@x.example",
            "a@x..example",
        ] {
            let err = TestMessage::new(bad, "r@remote.example").unwrap_err();
            assert!(err.to_string().starts_with("from: "), "{bad:?}: {err}");
        }
        assert!(TestMessage::new("a@x.example", "-f@x.example").is_err());
        let text = message().text();
        assert!(text.contains("Message-ID: <smarthost-test.18f0a1b2c3.4d2@ok.example>\n"));
        assert!(text.contains("X-Smarthost-Test: 18f0a1b2c3.4d2\n"));
    }

    /// Lines of a delivery logged by Postfix 3.7.11 (the Message-ID as
    /// `send_and_follow` sets it).
    #[test]
    fn a_delivery_is_followed_through_the_log() {
        let lines = [
            "Nov 24 23:49:13 pf postfix/smtp[28915]: Verified TLS connection established to localhost[127.0.0.1]:44881: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
            "Nov 24 23:49:13 pf postfix/pickup[28903]: C52969BE0DB: uid=0 from=<s@ok.example>",
            "Nov 24 23:49:13 pf postfix/cleanup[28908]: C52969BE0DB: message-id=<smarthost-test.18f0a1b2c3.4d2@ok.example>",
            "Nov 24 23:49:13 pf postfix/qmgr[28904]: C52969BE0DB: from=<s@ok.example>, size=287, nrcpt=1 (queue active)",
            "Nov 24 23:49:13 pf postfix/smtp[28916]: Untrusted TLS connection established to other[127.0.0.2]:25: TLSv1.3 with cipher X",
            "Nov 24 23:49:14 pf postfix/smtp[28915]: C52969BE0DB: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0.28, delays=0.02/0.03/0.18/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)",
        ];
        let mut follower = Follower::new(&message());
        for line in lines {
            follower.feed(&parse_line(line, &UTC).unwrap());
        }
        assert!(follower.finished());
        let o = follower.outcome();
        assert_eq!(o.verdict, Verdict::Delivered);
        assert_eq!(o.queue_id.as_deref(), Some("C52969BE0DB"));
        assert_eq!(o.relay.as_ref().unwrap().port, Some(44881));
        assert!(o.tls.as_ref().unwrap().is_verified());
        assert_eq!(o.text.as_deref(), Some("250 2.0.0 Ok: queued"));
        assert_eq!(o.reason, None);
    }

    #[test]
    fn a_deferral_is_classified_and_other_messages_are_ignored() {
        let lines = [
            "Nov 24 23:49:13 pf postfix/cleanup[28908]: C850A9BE0C7: message-id=<smarthost-test.18f0a1b2c3.4d2@ok.example>",
            "Nov 24 23:49:14 pf postfix/smtp[28930]: AAAAAAAAAA: to=<r@remote.example>, relay=none, delay=0.05, dsn=4.4.1, status=deferred (connect to localhost[127.0.0.1]:1: Connection refused)",
            "Nov 24 23:49:14 pf postfix/smtp[28925]: C850A9BE0C7: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0.24, delays=0.03/0.02/0.18/0, dsn=4.7.8, status=deferred (SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid)",
        ];
        let mut follower = Follower::new(&message());
        follower.feed(&parse_line(lines[0], &UTC).unwrap());
        follower.feed(&parse_line(lines[1], &UTC).unwrap());
        assert!(!follower.finished());
        follower.feed(&parse_line(lines[2], &UTC).unwrap());
        let o = follower.outcome();
        assert_eq!((o.verdict, o.reason), (Verdict::Deferred, Some(Reason::AuthRejected)));
        assert_eq!(o.dsn.as_deref(), Some("4.7.8"));
        assert_eq!(o.tls, None);
    }

    #[test]
    fn the_queue_fills_in_without_a_log() {
        let mut follower = Follower::new(&message());
        let queue = queue::parse(r#"{"queue_name": "deferred", "queue_id": "DC65C9BE0F3", "arrival_time": 1795564153, "message_size": 289, "forced_expire": false, "sender": "s@ok.example", "recipients": [{"address": "r@remote.example", "delay_reason": "connect to localhost[127.0.0.1]:39571: Connection refused"}]}"#).unwrap();
        assert!(!follower.see_queue(&queue));
        let id = ids_of(&queue, "s@ok.example", "r@remote.example").next().unwrap();
        follower.set_queue_id(id);
        assert!(follower.see_queue(&queue));
        assert_eq!(follower.outcome().reason, Some(Reason::ConnectionRefused));
        assert_eq!(follower.outcome().queue_name.as_deref(), Some("deferred"));
    }
}
