//! [`Mailbox`]: one sender address, the key of a per-mailbox smarthost.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::domain::DomainName;
use crate::error::Error;
use crate::text::reject_separators;

/// Longest local part in bytes (RFC 5321 4.5.3.1.1).
pub const MAX_LOCAL_LEN: usize = 64;

/// A validated, normalized mailbox address such as `alice@example.com`.
///
/// Normalization: the domain as [`DomainName`] normalizes it, the local part
/// in lower case, because Postfix folds lookup keys to lower case (a
/// mailbox key matches `Alice@` and `alice@` alike). The local part is 1 to
/// 64 bytes of RFC 5322 `atext` and inner dots, without `#` (a table
/// comment) and `=`; quoted local parts are refused.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mailbox {
    local: String,
    domain: DomainName,
}

impl Mailbox {
    /// Parses and normalizes an address; errors name `field`.
    pub fn parse_field(field: &str, input: &str) -> Result<Self, Error> {
        reject_separators(field, input)?;
        let Some((local, domain)) = input.rsplit_once('@') else {
            return Err(Error::invalid(
                field,
                input,
                "has no '@': give a whole address (alice@example.com); a domain's smarthost is set with domain set",
            ));
        };
        if local.is_empty() {
            return Err(Error::invalid(field, input, "has an empty local part"));
        }
        if local.len() > MAX_LOCAL_LEN {
            return Err(Error::invalid(
                field,
                input,
                format!("has a local part of {} bytes; at most {MAX_LOCAL_LEN}", local.len()),
            ));
        }
        if let Some(c) = local.chars().find(|c| !allowed(*c)) {
            return Err(Error::invalid(
                field,
                input,
                format!("has {c:?} in its local part; letters, digits, dots and !$%&'*+-/?^_`{{|}}~ are allowed"),
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(Error::invalid(
                field,
                input,
                "has a dot at the start or end of its local part, or two in a row",
            ));
        }
        let domain = DomainName::parse_field(field, domain)?;
        Ok(Mailbox {
            local: local.to_ascii_lowercase(),
            domain,
        })
    }

    /// The local part, in lower case.
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &DomainName {
        &self.domain
    }
}

/// RFC 5322 `atext` and the dot, without `#` and `=`.
fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!$%&'*+-/?^_`{|}~.".contains(c)
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({self})")
    }
}

impl std::str::FromStr for Mailbox {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Mailbox::parse_field("mailbox", s)
    }
}

impl Serialize for Mailbox {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_refuses() {
        let m = Mailbox::parse_field("mailbox", "Alice.B+x@Example.COM.").unwrap();
        assert_eq!(m.to_string(), "alice.b+x@example.com");
        assert_eq!(m.domain().as_str(), "example.com");
        for bad in [
            "example.com",
            "@example.com",
            "a#b@example.com",
            "a=b@example.com",
            "a..b@example.com",
            ".a@example.com",
            "\"a b\"@example.com",
            "a@b@[1.2.3.4]",
            "a\n@example.com",
        ] {
            let err = Mailbox::parse_field("mailboxes", bad).unwrap_err().to_string();
            assert!(err.starts_with("mailboxes"), "{bad}: {err}");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Mailbox::parse_field("m", &long).is_err());
    }
}
