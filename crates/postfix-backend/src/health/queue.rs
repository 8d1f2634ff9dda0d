//! Postfix's queue, as `postqueue -j` reports it (Postfix 3.1 and later):
//! one JSON object per line and message.
//!
//! ```text
//! {"queue_name": "deferred", "queue_id": "C850A9BE0C7", "arrival_time": 1795564153, "message_size": 290, "forced_expire": false, "sender": "s@badpw.example", "recipients": [{"address": "r@remote.example", "delay_reason": "SASL authentication failed; server localhost[127.0.0.1] said: 535 5.7.8 Authentication credentials invalid"}]}
//! ```
//!
//! `postqueue -j` also works while the instance is stopped (as root it
//! reads the queue directly, with a warning on stderr).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::PostfixOptions;

/// One message in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedMessage {
    /// `incoming`, `active`, `deferred`, `hold` or `maildrop`.
    pub queue_name: String,
    /// The queue ID.
    pub queue_id: String,
    /// When it arrived, seconds since the Unix epoch.
    pub arrival_time: i64,
    /// Its size in bytes.
    #[serde(default)]
    pub message_size: u64,
    /// Whether `postsuper -e` marked it to expire.
    #[serde(default)]
    pub forced_expire: bool,
    /// The envelope sender (empty for `<>`).
    pub sender: String,
    /// The recipients still to deliver.
    #[serde(default)]
    pub recipients: Vec<QueuedRecipient>,
}

/// A recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecipient {
    /// The address.
    pub address: String,
    /// Why the last attempt failed, in Postfix's words (peer text:
    /// sanitize it before showing it).
    #[serde(default)]
    pub delay_reason: Option<String>,
}

impl QueuedMessage {
    /// Whether the message waits for a retry (the `deferred` queue).
    pub fn is_deferred(&self) -> bool {
        self.queue_name == "deferred"
    }

    /// Whether a relay holds the message up: it waits in the `deferred`
    /// queue, or it is back in `active` for a retry (or on its way to
    /// `deferred`) with a delay reason from an earlier attempt.
    pub fn is_held_up(&self) -> bool {
        self.is_deferred() || (self.queue_name == "active" && self.recipients.iter().any(|r| r.delay_reason.is_some()))
    }
}

/// Parses `postqueue -j` output.
pub fn parse(text: &str) -> Result<Vec<QueuedMessage>, Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| Error::QueueReport {
                reason: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// The instance's queue: `postqueue [-c DIR] -j`. An instance without
/// main.cf is refused without asking postqueue, which would fail after
/// Postfix's one-second sleep.
pub fn read(options: &PostfixOptions) -> Result<Vec<QueuedMessage>, Error> {
    if !options.main_cf_exists() {
        let main_cf = options.on_disk(&options.config_dir).join(crate::schema::MAIN_CF);
        return Err(Error::io(main_cf, std::io::ErrorKind::NotFound.into()));
    }
    let mut argv = vec!["postqueue".to_owned()];
    argv.extend(options.config_args());
    argv.push("-j".to_owned());
    parse(&super::run(&argv)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postqueue_json_of_postfix_3_7_11() {
        let text = r#"{"queue_name": "deferred", "queue_id": "D959B9BE0F2", "arrival_time": 1795564153, "message_size": 289, "forced_expire": false, "sender": "s@hang.example", "recipients": [{"address": "r@remote.example", "delay_reason": "conversation with localhost[127.0.0.1] timed out while receiving the initial server greeting"}]}
{"queue_name": "active", "queue_id": "E21F19BE0F4", "arrival_time": 1795564153, "message_size": 288, "forced_expire": false, "sender": "", "recipients": [{"address": "s@dns.example"}]}
"#;
        let queue = parse(text).unwrap();
        assert_eq!(queue.len(), 2);
        assert!(queue[0].is_deferred() && !queue[1].is_deferred());
        assert!(queue[0].is_held_up() && !queue[1].is_held_up());
        assert_eq!(queue[0].sender, "s@hang.example");
        assert!(queue[0].recipients[0]
            .delay_reason
            .as_deref()
            .unwrap()
            .contains("timed out"));
        assert_eq!(queue[1].recipients[0].delay_reason, None);
        assert!(parse("").unwrap().is_empty());
        let err = parse("{\"queue_name\": 1}\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
    }
}
