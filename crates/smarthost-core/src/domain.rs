//! Domain names: hosted domains and relay host names, normalized.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;
use crate::text::reject_separators;

/// Longest domain name in bytes, without the trailing dot (RFC 1035 2.3.4).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label in bytes (RFC 1035 2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// A validated, normalized DNS name such as `example.com`.
///
/// Normalization: lower case, no trailing dot, internationalized names in
/// their ASCII form (A-labels, `xn--...`, UTS #46). Two spellings of the same
/// domain are equal after parsing. Every label is 1 to 63 bytes of letters,
/// digits and inner hyphens; the whole name is at most 253 bytes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Parses and normalizes a domain name; errors name the field `domain`.
    pub fn parse(input: &str) -> Result<Self, Error> {
        Self::parse_field("domain", input)
    }

    pub(crate) fn parse_field(field: &str, input: &str) -> Result<Self, Error> {
        reject_separators(field, input)?;
        if input.is_empty() {
            return Err(Error::invalid(field, input, "is empty"));
        }
        if let Some(c) = input.chars().find(|c| matches!(c, '[' | ']')) {
            return Err(Error::invalid(
                field,
                input,
                format!("contains '{c}': brackets are only allowed around a relay host, as in [smtp.example.com]:587"),
            ));
        }
        if input.contains('@') {
            return Err(Error::invalid(
                field,
                input,
                "contains '@': give the domain (example.com), not an address",
            ));
        }
        if input.contains(':') {
            return Err(Error::invalid(
                field,
                input,
                "contains ':': a port belongs to a relay host, not to a domain",
            ));
        }
        let trimmed = input.strip_suffix('.').unwrap_or(input);
        if trimmed.is_empty() || trimmed.starts_with('.') || trimmed.contains("..") {
            return Err(Error::invalid(
                field,
                input,
                "has an empty label (two dots in a row, or a leading dot)",
            ));
        }
        let ascii = if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            idna::domain_to_ascii_strict(trimmed)
                .map_err(|_| Error::invalid(field, input, "is not a valid internationalized domain name (IDNA)"))?
        };
        if ascii.len() > MAX_NAME_LEN {
            return Err(Error::invalid(
                field,
                input,
                format!(
                    "is {} bytes long; a domain name has at most {MAX_NAME_LEN}",
                    ascii.len()
                ),
            ));
        }
        for label in ascii.split('.') {
            if label.len() > MAX_LABEL_LEN {
                return Err(Error::invalid(
                    field,
                    input,
                    format!(
                        "has a label of {} bytes; a label has at most {MAX_LABEL_LEN}",
                        label.len()
                    ),
                ));
            }
            if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-')) {
                return Err(Error::invalid(
                    field,
                    input,
                    format!("contains {c:?}; a host name has only letters, digits, '-' and '.'"),
                ));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(Error::invalid(
                    field,
                    input,
                    format!("label {label:?} starts or ends with '-'"),
                ));
            }
        }
        if ascii
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(Error::invalid(
                field,
                input,
                "looks like an IP address, not a domain name (its last label is all digits)",
            ));
        }
        Ok(DomainName(ascii))
    }

    /// The normalized ASCII form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The domain this one is directly below, if any (`a.b.example` → `b.example`).
    pub fn parent(&self) -> Option<DomainName> {
        self.0
            .split_once('.')
            .map(|(_, rest)| DomainName(rest.to_owned()))
            .filter(|p| p.0.contains('.'))
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({:?})", self.0)
    }
}

impl FromStr for DomainName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for DomainName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for DomainName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DomainName::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_case_trailing_dot_and_idna() {
        assert_eq!(DomainName::parse("Example.COM.").unwrap().as_str(), "example.com");
        assert_eq!(
            DomainName::parse("bücher.example").unwrap().as_str(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            DomainName::parse("BÜCHER.example").unwrap(),
            DomainName::parse("xn--bcher-kva.example").unwrap()
        );
    }

    #[test]
    fn parent_stops_below_the_top_level() {
        let d = DomainName::parse("a.b.example").unwrap();
        assert_eq!(d.parent().unwrap().as_str(), "b.example");
        assert_eq!(d.parent().unwrap().parent(), None);
    }
}
