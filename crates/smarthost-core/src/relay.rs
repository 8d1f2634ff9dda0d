//! [`RelayHost`]: where mail is handed over, parsed from what users type.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use winnow::combinator::{alt, delimited, eof, opt, preceded, terminated};
use winnow::token::{rest, take_till, take_while};
use winnow::Parser;

use crate::domain::DomainName;
use crate::error::Error;
use crate::text::reject_separators;

/// The SMTP port Postfix uses when a relay host is given without one.
pub const DEFAULT_PORT: u16 = 25;

const FIELD: &str = "relay";
const FORMS: &str = "expected host, host:port, [host]:port, an IPv4 address or [ipv6:address]:port";

/// The host part of a relay: a DNS name or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// A DNS name, normalized.
    Name(DomainName),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 address.
    Ipv6(Ipv6Addr),
}

impl fmt::Display for Host {
    /// The bare host: `smtp.example.com`, `192.0.2.1` or `2001:db8::1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(n) => n.fmt(f),
            Host::Ipv4(a) => a.fmt(f),
            Host::Ipv6(a) => a.fmt(f),
        }
    }
}

/// A relay host: host, port, and whether the host's MX records are looked up.
///
/// Parsed from every form a user types (see [`RelayHost::parse`]) and
/// displayed in Postfix's nexthop form, always with the port:
/// `[smtp.example.com]:587`, `smtp.example.com:25` (MX lookup),
/// `[192.0.2.1]:25`, `[ipv6:2001:db8::1]:587`.
///
/// Brackets mean "connect to this host itself, no MX lookup" (Postfix
/// semantics). An IP address never gets an MX lookup. Without a port the port
/// is [`DEFAULT_PORT`] (25), as in Postfix; submission relays usually need 587
/// or 465, so give the port explicitly.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelayHost {
    host: Host,
    port: u16,
    mx_lookup: bool,
}

/// The pieces of what the user typed, before validation.
struct Shape<'a> {
    bracketed: bool,
    host: &'a str,
    port: Option<&'a str>,
}

fn shape<'a>(input: &mut &'a str) -> winnow::Result<Shape<'a>> {
    let port = opt(preceded(':', take_while(0.., |c: char| c != ':')));
    let mut bracketed = (delimited('[', take_till(0.., ']'), ']'), port, eof).map(|(host, port, _)| Shape {
        bracketed: true,
        host,
        port,
    });
    // A bare IPv6 address has colons in it and no port.
    let bare_ipv6 = terminated(rest, eof)
        .verify(|s: &str| s.parse::<Ipv6Addr>().is_ok())
        .map(|host| Shape {
            bracketed: false,
            host,
            port: None,
        });
    let port = opt(preceded(':', take_while(0.., |c: char| c != ':')));
    let bare = (take_till(0.., ':'), port, eof).map(|(host, port, _)| Shape {
        bracketed: false,
        host,
        port,
    });
    if input.starts_with('[') {
        bracketed.parse_next(input)
    } else {
        alt((bare_ipv6, bare)).parse_next(input)
    }
}

fn parse_port(text: &str) -> Result<u16, Error> {
    if text.is_empty() {
        return Err(Error::invalid(
            "relay.port",
            text,
            "is empty: remove the ':' or give a port such as 587",
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid("relay.port", text, "is not a number"));
    }
    match text.parse::<u32>() {
        Ok(0) => Err(Error::invalid(
            "relay.port",
            text,
            "port 0 is not a valid port (1-65535)",
        )),
        Ok(p) if p <= u32::from(u16::MAX) => Ok(p as u16),
        _ => Err(Error::invalid("relay.port", text, "is out of range (1-65535)")),
    }
}

impl RelayHost {
    /// Builds a relay host from its parts. An IP address cannot have an MX
    /// lookup; asking for one is an error.
    pub fn new(host: Host, port: u16, mx_lookup: bool) -> Result<Self, Error> {
        if port == 0 {
            return Err(Error::invalid(
                "relay.port",
                "0",
                "port 0 is not a valid port (1-65535)",
            ));
        }
        if mx_lookup && !matches!(host, Host::Name(_)) {
            return Err(Error::invalid(
                FIELD,
                host.to_string(),
                "an IP address has no MX records to look up",
            ));
        }
        Ok(RelayHost { host, port, mx_lookup })
    }

    /// Parses what a user types: `smtp.example.com`, `smtp.example.com:587`,
    /// `[smtp.example.com]`, `[smtp.example.com]:587`, `192.0.2.1`,
    /// `192.0.2.1:2525`, `2001:db8::1`, `[2001:db8::1]:587` or Postfix's
    /// `[ipv6:2001:db8::1]:587`. Internationalized names are converted to
    /// A-labels. Errors name the field `relay` and say what is wrong.
    pub fn parse(input: &str) -> Result<Self, Error> {
        reject_separators(FIELD, input)?;
        if input.is_empty() {
            return Err(Error::invalid(FIELD, input, "is empty"));
        }
        let opens = input.matches('[').count();
        let closes = input.matches(']').count();
        if opens > closes {
            return Err(Error::invalid(FIELD, input, "has '[' without a closing ']'"));
        }
        if closes > opens {
            return Err(Error::invalid(FIELD, input, "has ']' without an opening '['"));
        }
        if opens > 1 || (opens == 1 && !input.starts_with('[')) {
            return Err(Error::invalid(
                FIELD,
                input,
                "brackets must enclose the whole host, as in [smtp.example.com]:587",
            ));
        }
        let shape = shape.parse(input).map_err(|_| {
            let reason = if opens == 1 {
                "only ':port' may follow the closing ']'".to_owned()
            } else {
                format!("has more than one ':'; {FORMS}")
            };
            Error::invalid(FIELD, input, reason)
        })?;
        let port = match shape.port {
            Some(p) => parse_port(p)?,
            None => DEFAULT_PORT,
        };
        let field = "relay.host";
        if shape.host.is_empty() {
            return Err(Error::invalid(field, shape.host, format!("is empty; {FORMS}")));
        }
        let ipv6_prefix = shape.host.get(..5).filter(|p| p.eq_ignore_ascii_case("ipv6:"));
        let host = if let Some(v6) = ipv6_prefix.filter(|_| shape.bracketed).map(|_| &shape.host[5..]) {
            Host::Ipv6(
                v6.parse()
                    .map_err(|_| Error::invalid(field, v6, "is not a valid IPv6 address"))?,
            )
        } else if shape.host.contains(':') {
            Host::Ipv6(
                shape
                    .host
                    .parse()
                    .map_err(|_| Error::invalid(field, shape.host, "is not a valid IPv6 address"))?,
            )
        } else if let Ok(v4) = shape.host.parse::<Ipv4Addr>() {
            Host::Ipv4(v4)
        } else if shape.host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(Error::invalid(field, shape.host, "is not a valid IPv4 address"));
        } else {
            Host::Name(DomainName::parse_field(field, shape.host)?)
        };
        let mx_lookup = !shape.bracketed && matches!(host, Host::Name(_));
        Ok(RelayHost { host, port, mx_lookup })
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the host's MX (and, for Postfix, SRV) records are looked up
    /// instead of connecting to the host itself. Only Postfix can do this.
    pub fn mx_lookup(&self) -> bool {
        self.mx_lookup
    }
}

impl fmt::Display for RelayHost {
    /// Postfix's nexthop form, always with the port.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.mx_lookup) {
            (Host::Name(n), true) => write!(f, "{n}:{}", self.port),
            (Host::Ipv6(a), _) => write!(f, "[ipv6:{a}]:{}", self.port),
            (host, _) => write!(f, "[{host}]:{}", self.port),
        }
    }
}

impl FromStr for RelayHost {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl Serialize for RelayHost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RelayHost {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RelayHost::parse(&s).map_err(serde::de::Error::custom)
    }
}
