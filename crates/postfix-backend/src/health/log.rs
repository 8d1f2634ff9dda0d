//! Postfix's mail log: its lines parsed (no I/O), and where an instance
//! logs, read.
//!
//! A line is `TIME HOST PROGRAM[PID]: MESSAGE`, with TIME in the
//! traditional syslog form (`Nov 24 23:49:13`, local time, no year: what
//! Postfix's own `maillog_file` and a default rsyslog write) or RFC 3339
//! (`2026-11-24T23:49:13.123456+00:00`: rsyslog's high-precision format,
//! and `journalctl -o short-iso-precise` without the colon in the
//! offset). The messages this module understands, as Postfix 3.7.11
//! writes them:
//!
//! ```text
//! postfix/cleanup[28908]: C52969BE0DB: message-id=<...>
//! postfix/qmgr[28904]: C52969BE0DB: from=<s@ok.example>, size=287, nrcpt=1 (queue active)
//! postfix/smtp[28915]: Verified TLS connection established to localhost[127.0.0.1]:44881: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) ...
//! postfix/smtp[28915]: C52969BE0DB: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0.28, delays=0.02/0.03/0.18/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)
//! postfix/qmgr[28904]: C52969BE0DB: removed
//! ```

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::error::Error;
use crate::schema;
use crate::PostfixOptions;

/// Seconds since the Unix epoch, UTC.
pub type UnixTime = i64;

/// What a syslog time without year and zone needs to become a
/// [`UnixTime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Now: a date later than now (by more than a day) is from last year.
    pub now: UnixTime,
    /// The offset of the log's local time from UTC, in seconds (`date
    /// +%z`; 0 on a server in UTC).
    pub utc_offset: i64,
}

impl Clock {
    /// This machine's clock and UTC offset (`date +%z`, 0 when it cannot
    /// be asked).
    pub fn system() -> Clock {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let utc_offset = Command::new("date")
            .arg("+%z")
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|o| parse_offset(String::from_utf8_lossy(&o.stdout).trim()))
            .unwrap_or(0);
        Clock { now, utc_offset }
    }
}

/// One line of the mail log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// When, if the time could be read.
    pub time: Option<UnixTime>,
    /// The program, e.g. `postfix/smtp` (`postfix-out/smtp` for an
    /// instance whose `syslog_name` is `postfix-out`; a master.cf service
    /// logs under its own name, e.g. `postfix/smarthost-tls`).
    pub program: &'a str,
    /// The process ID.
    pub pid: Option<u32>,
    /// The message after `PROGRAM[PID]: `.
    pub message: &'a str,
}

/// A delivery attempt (`to=<...>, relay=..., status=...`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryLine<'a> {
    /// The queue ID.
    pub queue_id: &'a str,
    /// The recipient.
    pub to: &'a str,
    /// The host that was tried: `None` for `relay=none` (no connection)
    /// and for local deliveries.
    pub relay: Option<RelayAddr>,
    /// `relay=` as logged (`localhost[127.0.0.1]:2525`, `none`, `local`).
    pub relay_field: &'a str,
    /// Postfix's delay, in seconds, as logged.
    pub delay: Option<f64>,
    /// The DSN status (`2.0.0`, `4.7.8`, ...).
    pub dsn: Option<&'a str>,
    /// The outcome.
    pub status: Status,
    /// Postfix's words in parentheses after the status: the relay's reply,
    /// or why there was none. Peer text: sanitize before showing it.
    pub text: &'a str,
}

/// The outcome of a delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Handed over (`status=sent`).
    Sent,
    /// Will be tried again (`status=deferred`).
    Deferred,
    /// Returned to the sender (`status=bounced`).
    Bounced,
    /// Given up after `maximal_queue_lifetime` (`status=expired`).
    Expired,
}

impl Status {
    fn parse(word: &str) -> Option<Status> {
        match word {
            "sent" => Some(Status::Sent),
            "deferred" => Some(Status::Deferred),
            "bounced" => Some(Status::Bounced),
            "expired" => Some(Status::Expired),
            _ => None,
        }
    }

    /// The word Postfix logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sent => "sent",
            Status::Deferred => "deferred",
            Status::Bounced => "bounced",
            Status::Expired => "expired",
        }
    }
}

/// A host Postfix connected to: `localhost[127.0.0.1]:2525`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RelayAddr {
    /// The host name (or the address again when it has none).
    pub host: String,
    /// The IP address.
    pub address: String,
    /// The port, when logged.
    pub port: Option<u16>,
}

impl RelayAddr {
    /// Parses `host[address]:port` (or without `:port`).
    pub fn parse(text: &str) -> Option<RelayAddr> {
        let open = text.find('[')?;
        let close = text.rfind(']')?;
        if close < open {
            return None;
        }
        let port = match &text[close + 1..] {
            "" => None,
            rest => Some(rest.strip_prefix(':')?.parse().ok()?),
        };
        Some(RelayAddr {
            host: text[..open].to_owned(),
            address: text[open + 1..close].to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for RelayAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]", self.host, self.address)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// A TLS connection Postfix's SMTP client established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsLine {
    /// `Verified` (chain and name checked), `Trusted` (chain checked),
    /// `Untrusted` or `Anonymous`.
    pub trust: String,
    /// The peer.
    pub peer: Option<RelayAddr>,
    /// The protocol, e.g. `TLSv1.3`.
    pub protocol: String,
    /// The cipher, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
}

impl TlsLine {
    /// Whether the certificate was verified (chain, and name for
    /// `Verified`).
    pub fn is_verified(&self) -> bool {
        self.trust == "Verified" || self.trust == "Trusted"
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil year of a Unix time.
fn year_of(t: UnixTime) -> i64 {
    let days = t.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

fn hms(text: &str) -> Option<i64> {
    let mut parts = text.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let s: i64 = parts.next()?.split('.').next()?.parse().ok()?;
    (parts.next().is_none() && h < 24 && m < 60 && s < 61).then_some(h * 3600 + m * 60 + s)
}

/// `+0100`, `+01:00`, `-0500`, `Z`: the offset in seconds.
fn parse_offset(text: &str) -> Option<i64> {
    if text == "Z" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..].parse().ok()?;
    Some(sign * (h * 3600 + m * 60))
}

/// `2026-11-24T23:49:13.123456+00:00` (or `+0000`, `Z`).
fn parse_rfc3339(text: &str) -> Option<UnixTime> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: i64 = d.next()?.parse().ok()?;
    let day: i64 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let zone_at = rest.find(['+', '-', 'Z'])?;
    let seconds = hms(&rest[..zone_at])?;
    let offset = parse_offset(&rest[zone_at..])?;
    Some(days_from_civil(year, month, day) * 86_400 + seconds - offset)
}

/// `Nov 24 23:49:13` in the log's local time: the latest such moment that
/// is not more than a day after `clock.now`.
fn parse_syslog(month: &str, day: &str, time: &str, clock: &Clock) -> Option<UnixTime> {
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    if !(1..=31).contains(&day) {
        return None;
    }
    let seconds = hms(time)?;
    let at = |year: i64| days_from_civil(year, month, day) * 86_400 + seconds - clock.utc_offset;
    let year = year_of(clock.now + clock.utc_offset);
    let t = at(year);
    Some(if t > clock.now + 86_400 { at(year - 1) } else { t })
}

/// Parses one line of the mail log; `None` for a line of another shape.
pub fn parse_line<'a>(line: &'a str, clock: &Clock) -> Option<LogLine<'a>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut words = line.splitn(2, ' ');
    let first = words.next()?;
    let (time, rest) = if first.len() >= 19 && first.as_bytes().get(10) == Some(&b'T') {
        (parse_rfc3339(first), words.next()?)
    } else {
        // `Nov  4 01:02:03`: the day may be padded with a space.
        let rest = words.next()?.trim_start();
        let (day, rest) = rest.split_once(' ')?;
        let (clock_time, rest) = rest.split_once(' ')?;
        (parse_syslog(first, day, clock_time, clock), rest)
    };
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, message) = rest.split_once(": ")?;
    if tag.contains(' ') {
        return None;
    }
    let (program, pid) = match tag.split_once('[') {
        Some((program, pid)) => (program, pid.strip_suffix(']').and_then(|p| p.parse().ok())),
        None => (tag, None),
    };
    Some(LogLine {
        time,
        program,
        pid,
        message,
    })
}

/// Whether `id` looks like a Postfix queue ID: short (hex) or long
/// (`enable_long_queue_ids`: letters and digits).
fn is_queue_id(id: &str) -> bool {
    (5..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `<address>` at the start of `text`: the address and the rest.
fn angle(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], &rest[end + 1..]))
}

impl<'a> LogLine<'a> {
    /// The queue ID the message starts with (`C52969BE0DB: ...`).
    pub fn queue_id(&self) -> Option<&'a str> {
        let (id, _) = self.message.split_once(": ")?;
        is_queue_id(id).then_some(id)
    }

    /// The message after the queue ID.
    fn after_queue_id(&self) -> Option<(&'a str, &'a str)> {
        let id = self.queue_id()?;
        Some((id, &self.message[id.len() + 2..]))
    }

    /// Whether the line comes from the instance whose `syslog_name` is
    /// `syslog_name` (`postfix/...`, or `postfix/submission/smtpd` for a
    /// service that sets its own).
    pub fn is_from(&self, syslog_name: &str) -> bool {
        self.program
            .strip_prefix(syslog_name)
            .is_some_and(|rest| rest.starts_with('/'))
    }

    /// A delivery attempt: `QID: to=<...>, relay=..., ..., status=WORD (TEXT)`.
    pub fn delivery(&self) -> Option<DeliveryLine<'a>> {
        let (queue_id, rest) = self.after_queue_id()?;
        let rest = rest.strip_prefix("to=")?;
        let (to, mut rest) = angle(rest)?;
        let mut delivery = DeliveryLine {
            queue_id,
            to,
            relay: None,
            relay_field: "",
            delay: None,
            dsn: None,
            status: Status::Sent,
            text: "",
        };
        loop {
            rest = rest.strip_prefix(", ")?;
            if let Some(status) = rest.strip_prefix("status=") {
                let (word, text) = status.split_once(' ').unwrap_or((status, ""));
                delivery.status = Status::parse(word)?;
                delivery.text = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')).unwrap_or(text);
                return Some(delivery);
            }
            let end = rest.find(", ").unwrap_or(rest.len());
            let (field, value) = rest[..end].split_once('=')?;
            match field {
                "relay" => {
                    delivery.relay_field = value;
                    delivery.relay = RelayAddr::parse(value);
                }
                "delay" => delivery.delay = value.parse().ok(),
                "dsn" => delivery.dsn = Some(value),
                // orig_to=<a, b> would hold ", " inside the brackets.
                "orig_to" => {
                    let (_, after) = angle(&rest[field.len() + 1..])?;
                    rest = after;
                    continue;
                }
                _ => {}
            }
            rest = &rest[end..];
        }
    }

    /// A TLS connection: `Verified TLS connection established to
    /// HOST[IP]:PORT: TLSv1.3 with cipher NAME ...`.
    pub fn tls(&self) -> Option<TlsLine> {
        let (trust, rest) = self.message.split_once(" TLS connection established to ")?;
        if !matches!(trust, "Verified" | "Trusted" | "Untrusted" | "Anonymous") {
            return None;
        }
        let (peer, rest) = rest.split_once(": ")?;
        let (protocol, rest) = rest.split_once(" with cipher ")?;
        let cipher = rest.split_whitespace().next().unwrap_or("");
        Some(TlsLine {
            trust: trust.to_owned(),
            peer: RelayAddr::parse(peer),
            protocol: protocol.to_owned(),
            cipher: cipher.to_owned(),
        })
    }

    /// cleanup's `QID: message-id=<...>`: the queue ID and the Message-ID.
    pub fn message_id(&self) -> Option<(&'a str, &'a str)> {
        let (queue_id, rest) = self.after_queue_id()?;
        let (id, _) = angle(rest.strip_prefix("message-id=")?)?;
        Some((queue_id, id))
    }

    /// qmgr's `QID: from=<sender>, size=..., nrcpt=... (queue active)`:
    /// the queue ID and the envelope sender (empty for `<>`).
    pub fn sender(&self) -> Option<(&'a str, &'a str)> {
        let (queue_id, rest) = self.after_queue_id()?;
        let (sender, _) = angle(rest.strip_prefix("from=")?)?;
        Some((queue_id, sender))
    }

    /// qmgr's `QID: from=<...>, status=expired, returned to sender`.
    pub fn expired(&self) -> Option<&'a str> {
        let (queue_id, rest) = self.after_queue_id()?;
        (rest.starts_with("from=") && rest.contains(", status=expired")).then_some(queue_id)
    }
}

/// Where an instance's mail log is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogSource {
    /// A file: the instance's `maillog_file`, or the system's
    /// `/var/log/mail.log` (Debian, Ubuntu, SUSE) or `/var/log/maillog`
    /// (RHEL and its kin).
    File(PathBuf),
    /// The systemd journal (`journalctl`, facility mail).
    Journal,
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogSource::File(path) => write!(f, "{}", path.display()),
            LogSource::Journal => f.write_str("the systemd journal (facility mail)"),
        }
    }
}

/// What an instance says about its log: `maillog_file` and `syslog_name`
/// (`postconf -c DIR -h -x`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// Where the log is.
    pub source: LogSource,
    /// The instance's `syslog_name` (`postfix` by default): its lines are
    /// `syslog_name/...`.
    pub syslog_name: String,
}

impl LogSettings {
    /// Finds the instance's log: its `maillog_file` when set, else
    /// [`schema::SYSTEM_MAIL_LOGS`] (the first that exists), else the
    /// journal when journald runs.
    pub fn locate(options: &PostfixOptions) -> Result<LogSettings, Error> {
        let values = super::postconf(options, &[schema::MAILLOG_FILE, schema::SYSLOG_NAME])?;
        let (maillog_file, syslog_name) = (&values[0], &values[1]);
        let syslog_name = if syslog_name.is_empty() {
            "postfix".to_owned()
        } else {
            syslog_name.clone()
        };
        if !maillog_file.is_empty() {
            return Ok(LogSettings {
                source: LogSource::File(options.on_disk(Path::new(maillog_file))),
                syslog_name,
            });
        }
        for file in schema::SYSTEM_MAIL_LOGS {
            let path = options.on_disk(Path::new(file));
            if path.is_file() {
                return Ok(LogSettings {
                    source: LogSource::File(path),
                    syslog_name,
                });
            }
        }
        if Path::new(schema::JOURNALD_SOCKET).exists() {
            return Ok(LogSettings {
                source: LogSource::Journal,
                syslog_name,
            });
        }
        Err(Error::NoMailLog {
            looked: format!(
                "{} is empty, none of {} exists, and journald does not run",
                schema::MAILLOG_FILE,
                schema::SYSTEM_MAIL_LOGS.join(", ")
            ),
        })
    }

    /// The instance's lines logged since `since` (to the end of the log).
    /// A file is read whole and its lines filtered by time; the journal
    /// is asked for them.
    pub fn read_since(&self, since: UnixTime, clock: &Clock) -> Result<Vec<String>, Error> {
        let lines = match &self.source {
            LogSource::File(path) => {
                let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
                let mut lines = Vec::new();
                for line in std::io::BufReader::new(file).split(b'\n') {
                    let line = line.map_err(|e| Error::io(path, e))?;
                    let line = String::from_utf8_lossy(&line).into_owned();
                    let recent = parse_line(&line, clock).is_some_and(|l| l.time.is_none_or(|t| t >= since));
                    if recent {
                        lines.push(line);
                    }
                }
                lines
            }
            LogSource::Journal => journal(since)?,
        };
        Ok(self.own(lines, clock))
    }

    /// Only this instance's lines.
    fn own(&self, lines: Vec<String>, clock: &Clock) -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| parse_line(l, clock).is_some_and(|l| l.is_from(&self.syslog_name)))
            .collect()
    }

    /// Starts following the log from its current end.
    pub fn tail(&self, clock: &Clock) -> Result<Tail, Error> {
        let position = match &self.source {
            LogSource::File(path) => match std::fs::metadata(path) {
                Ok(meta) => meta.len(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => return Err(Error::io(path, e)),
            },
            LogSource::Journal => 0,
        };
        Ok(Tail {
            settings: self.clone(),
            clock: *clock,
            position,
            started: clock.now,
            partial: Vec::new(),
        })
    }
}

/// `journalctl` lines of facility mail since `since`.
fn journal(since: UnixTime) -> Result<Vec<String>, Error> {
    let argv = [
        "journalctl".to_owned(),
        "--no-pager".to_owned(),
        "--quiet".to_owned(),
        "--output=short-iso-precise".to_owned(),
        format!("--since=@{since}"),
        "SYSLOG_FACILITY=2".to_owned(),
    ];
    let text = super::run(&argv)?;
    Ok(text.lines().map(str::to_owned).collect())
}

/// The lines an instance logs from some moment on.
#[derive(Debug)]
pub struct Tail {
    settings: LogSettings,
    clock: Clock,
    /// File: the offset read up to. Journal: how many lines since
    /// `started` were returned already.
    position: u64,
    started: UnixTime,
    /// The start of a line whose end was not written yet.
    partial: Vec<u8>,
}

impl Tail {
    /// Where the lines come from.
    pub fn settings(&self) -> &LogSettings {
        &self.settings
    }

    /// The instance's lines written since the last call (the first call:
    /// since [`LogSettings::tail`]). A file that shrank (rotated) is read
    /// again from its start.
    pub fn read_new(&mut self) -> Result<Vec<String>, Error> {
        let lines = match &self.settings.source {
            LogSource::File(path) => {
                let mut file = match std::fs::File::open(path) {
                    Ok(file) => file,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                    Err(e) => return Err(Error::io(path, e)),
                };
                let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
                if len < self.position {
                    self.position = 0;
                    self.partial.clear();
                }
                file.seek(SeekFrom::Start(self.position))
                    .map_err(|e| Error::io(path, e))?;
                let mut bytes = std::mem::take(&mut self.partial);
                let read = file.read_to_end(&mut bytes).map_err(|e| Error::io(path, e))?;
                self.position += read as u64;
                let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                self.partial = bytes.split_off(complete);
                String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
            }
            LogSource::Journal => {
                let all = journal(self.started)?;
                let skip = usize::try_from(self.position).unwrap_or(usize::MAX).min(all.len());
                self.position = all.len() as u64;
                all[skip..].to_vec()
            }
        };
        Ok(self.settings.own(lines, &self.clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-24 23:50:46 UTC.
    const NOW: UnixTime = 1_795_564_246;
    const UTC: Clock = Clock {
        now: NOW,
        utc_offset: 0,
    };

    #[test]
    fn times_in_every_format() {
        let syslog = parse_line("Nov 24 23:49:13 pf postfix/smtp[28915]: x", &UTC).unwrap();
        assert_eq!(syslog.time, Some(NOW - 93));
        let padded = parse_line("Nov  4 00:00:00 pf postfix/smtp[1]: x", &UTC).unwrap();
        assert_eq!(padded.time, Some(days_from_civil(2026, 11, 4) * 86_400));
        // December seen in January is last year's.
        let january = Clock {
            now: days_from_civil(2027, 1, 1) * 86_400 + 60,
            utc_offset: 0,
        };
        let december = parse_line("Dec 31 23:59:00 pf postfix/qmgr[1]: x", &january).unwrap();
        assert_eq!(december.time, Some(days_from_civil(2026, 12, 31) * 86_400 + 86_340));
        // Local time one hour east of UTC.
        let cet = Clock {
            now: NOW,
            utc_offset: 3600,
        };
        assert_eq!(
            parse_line("Nov 24 23:49:13 pf postfix/smtp[1]: x", &cet).unwrap().time,
            Some(NOW - 93 - 3600)
        );
        for rfc in [
            "2026-11-24T23:49:13.123456+00:00 pf postfix/smtp[1]: x",
            "2026-11-24T23:49:13+0000 pf postfix/smtp[1]: x",
            "2026-11-25T00:49:13.5+01:00 pf postfix/smtp[1]: x",
            "2026-11-24T23:49:13Z pf postfix/smtp[1]: x",
        ] {
            assert_eq!(parse_line(rfc, &UTC).unwrap().time, Some(NOW - 93), "{rfc}");
        }
        assert_eq!(year_of(NOW), 2026);
        assert_eq!(parse_offset("-0530"), Some(-19_800));
    }

    #[test]
    fn lines_collected_from_postfix_3_7_11() {
        let clock = UTC;
        let sent = "Nov 24 23:49:14 pf postfix/smtp[28915]: C52969BE0DB: to=<r@remote.example>, relay=localhost[127.0.0.1]:44881, delay=0.28, delays=0.02/0.03/0.18/0.04, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued)";
        let line = parse_line(sent, &clock).unwrap();
        assert_eq!((line.program, line.pid), ("postfix/smtp", Some(28915)));
        assert!(line.is_from("postfix") && !line.is_from("postfix-out") && !line.is_from("post"));
        let d = line.delivery().unwrap();
        assert_eq!(d.queue_id, "C52969BE0DB");
        assert_eq!(d.to, "r@remote.example");
        assert_eq!(
            d.relay,
            Some(RelayAddr {
                host: "localhost".into(),
                address: "127.0.0.1".into(),
                port: Some(44881)
            })
        );
        assert_eq!((d.delay, d.dsn, d.status), (Some(0.28), Some("2.0.0"), Status::Sent));
        assert_eq!(d.text, "250 2.0.0 Ok: queued");

        let refused = "Nov 24 23:49:13 pf postfix/smtp[28949]: DC65C9BE0F3: to=<r@remote.example>, relay=none, delay=0.05, delays=0/0.04/0/0, dsn=4.4.1, status=deferred (connect to localhost[127.0.0.1]:39571: Connection refused)";
        let d = parse_line(refused, &clock).unwrap().delivery().unwrap();
        assert_eq!((d.relay.as_ref(), d.relay_field), (None, "none"));
        assert_eq!(d.status, Status::Deferred);
        assert_eq!(d.text, "connect to localhost[127.0.0.1]:39571: Connection refused");

        let orig = "Nov 24 23:49:14 pf postfix/smtp[1]: ABCDEF123: to=<a@x.example>, orig_to=<b, c@y.example>, relay=none, delay=1, dsn=5.4.4, status=bounced (unable to look up host x.example: Name or service not known)";
        let d = parse_line(orig, &clock).unwrap().delivery().unwrap();
        assert_eq!((d.to, d.status, d.dsn), ("a@x.example", Status::Bounced, Some("5.4.4")));

        let tls = "Nov 24 23:49:13 pf postfix/smtp[28915]: Verified TLS connection established to localhost[127.0.0.1]:44881: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256";
        let t = parse_line(tls, &clock).unwrap().tls().unwrap();
        assert!(t.is_verified());
        assert_eq!(
            (t.protocol.as_str(), t.cipher.as_str()),
            ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
        );
        assert_eq!(t.peer.unwrap().port, Some(44881));
        let untrusted = tls.replace("Verified", "Untrusted");
        assert!(!parse_line(&untrusted, &clock).unwrap().tls().unwrap().is_verified());

        let cleanup =
            "Nov 24 23:49:13 pf postfix/cleanup[28908]: C52969BE0DB: message-id=<20261124234913.C52969BE0DB@pf.test>";
        assert_eq!(
            parse_line(cleanup, &clock).unwrap().message_id(),
            Some(("C52969BE0DB", "20261124234913.C52969BE0DB@pf.test"))
        );
        let qmgr = "Nov 24 23:49:13 pf postfix/qmgr[28904]: C52969BE0DB: from=<s@ok.example>, size=287, nrcpt=1 (queue active)";
        assert_eq!(
            parse_line(qmgr, &clock).unwrap().sender(),
            Some(("C52969BE0DB", "s@ok.example"))
        );
        let bounce = "Nov 24 23:49:13 pf postfix/qmgr[28904]: EB88D9BE0FD: from=<>, size=2151, nrcpt=1 (queue active)";
        assert_eq!(parse_line(bounce, &clock).unwrap().sender(), Some(("EB88D9BE0FD", "")));
        let expired = "Nov 24 23:49:13 pf postfix/qmgr[28904]: EB88D9BE0FD: from=<a@b.example>, status=expired, returned to sender";
        assert_eq!(parse_line(expired, &clock).unwrap().expired(), Some("EB88D9BE0FD"));

        let started = "Nov 24 23:49:13 pf postfix/master[28798]: daemon started -- version 3.7.11, configuration /tmp/x/etc/postfix";
        let line = parse_line(started, &clock).unwrap();
        assert_eq!((line.queue_id(), line.delivery(), line.tls()), (None, None, None));
        assert_eq!(parse_line("garbage", &clock), None);
    }

    #[test]
    fn relay_addresses() {
        let v6 = RelayAddr::parse("mx.example[2001:db8::1]:587").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.address.as_str(), v6.port),
            ("mx.example", "2001:db8::1", Some(587))
        );
        assert_eq!(v6.to_string(), "mx.example[2001:db8::1]:587");
        assert_eq!(RelayAddr::parse("none"), None);
        assert_eq!(RelayAddr::parse("x[1.2.3.4]").unwrap().port, None);
    }

    #[test]
    fn a_tail_returns_whole_new_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maillog");
        std::fs::write(&path, "Nov 24 23:49:13 pf postfix/qmgr[1]: old\n").unwrap();
        let settings = LogSettings {
            source: LogSource::File(path.clone()),
            syslog_name: "postfix".into(),
        };
        let mut tail = settings.tail(&UTC).unwrap();
        assert!(tail.read_new().unwrap().is_empty());
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"Nov 24 23:49:14 pf postfix/qmgr[1]: new\nNov 24 23:49:14 pf other/x[2]: not ours\nNov 24 23:49:15 pf postfix/smtp[3]: hal")
            .unwrap();
        assert_eq!(tail.read_new().unwrap(), ["Nov 24 23:49:14 pf postfix/qmgr[1]: new"]);
        f.write_all(b"f\n").unwrap();
        assert_eq!(tail.read_new().unwrap(), ["Nov 24 23:49:15 pf postfix/smtp[3]: half"]);
        let since = settings.read_since(NOW - 92, &UTC).unwrap();
        assert_eq!(since.len(), 2, "{since:?}");
    }
}
