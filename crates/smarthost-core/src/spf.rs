//! SPF records (RFC 7208): a lossless parser and printer, and [`merge`],
//! which authorizes a relay in a domain's existing record.
//!
//! Parsing keeps every term's written form and the spaces between terms, so
//! printing an unedited record gives back the same text; an edit adds or
//! removes whole terms and leaves the others as they were written.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;
use winnow::ascii::Caseless;
use winnow::combinator::opt;
use winnow::token::one_of;
use winnow::Parser;

use crate::error::Error;
use crate::preset::{Provider, SpfRequirement};
use crate::relay::Host;
use crate::smarthost::Smarthost;

/// RFC 7208 4.6.4: at most 10 terms that cause DNS lookups.
pub const LOOKUP_LIMIT: usize = 10;

/// The result a directive gives when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Qualifier {
    /// `+` (the default).
    Pass,
    /// `-`.
    Fail,
    /// `~`.
    SoftFail,
    /// `?`.
    Neutral,
}

/// An SPF mechanism. Domain specs are kept as written (they may hold macros).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "mechanism", content = "value", rename_all = "lowercase")]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:<domain-spec>`.
    Include(String),
    /// `a[:<domain-spec>][/<cidr>]`: everything after `a`.
    A(String),
    /// `mx[:<domain-spec>][/<cidr>]`: everything after `mx`.
    Mx(String),
    /// `ptr[:<domain-spec>]`: everything after `ptr`.
    Ptr(String),
    /// `ip4:<network>[/<len>]`.
    Ip4(String),
    /// `ip6:<network>[/<len>]`.
    Ip6(String),
    /// `exists:<domain-spec>`.
    Exists(String),
}

/// One term of a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Term {
    /// A mechanism with its qualifier.
    Directive {
        /// The qualifier.
        qualifier: Qualifier,
        /// The mechanism.
        #[serde(flatten)]
        mechanism: Mechanism,
    },
    /// `name=value`: `redirect`, `exp` or an unknown modifier.
    Modifier {
        /// The name, lower case.
        name: String,
        /// The value as written.
        value: String,
    },
}

impl Term {
    /// Whether evaluating this term costs a DNS lookup (RFC 7208 4.6.4).
    pub fn is_lookup(&self) -> bool {
        match self {
            Term::Directive { mechanism, .. } => matches!(
                mechanism,
                Mechanism::Include(_) | Mechanism::A(_) | Mechanism::Mx(_) | Mechanism::Ptr(_) | Mechanism::Exists(_)
            ),
            Term::Modifier { name, .. } => name == "redirect",
        }
    }

    fn is_all(&self) -> bool {
        matches!(
            self,
            Term::Directive {
                mechanism: Mechanism::All,
                ..
            }
        )
    }
}

/// A term as written: the spaces before it, its text, and its meaning.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Written {
    space: String,
    text: String,
    term: Term,
}

/// A parsed SPF record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfRecord {
    version: String,
    terms: Vec<Written>,
    trailing: String,
}

fn domain_spec(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn cidr(s: &str, max: u8) -> bool {
    !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u8>().is_ok_and(|n| n <= max)
}

/// Checks `[:domain-spec][/cidr[//cidr6]]` of `a` and `mx`.
fn a_args(s: &str) -> bool {
    let (domain, cidrs) = match s.find('/') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let domain_ok = domain.is_empty() || domain.strip_prefix(':').is_some_and(domain_spec);
    let cidr_ok = match cidrs {
        None => true,
        Some(c) => match c.split_once("//") {
            Some((v4, v6)) => (v4.is_empty() || cidr(v4, 32)) && cidr(v6, 128),
            None => cidr(c, 32) || c.strip_prefix('/').is_some_and(|v6| cidr(v6, 128)),
        },
    };
    domain_ok && cidr_ok
}

fn network<A: std::str::FromStr>(s: &str, max: u8) -> bool {
    match s.split_once('/') {
        Some((addr, len)) => addr.parse::<A>().is_ok() && cidr(len, max),
        None => s.parse::<A>().is_ok(),
    }
}

fn parse_term(text: &str) -> Result<Term, String> {
    let mut input = text;
    let qualifier = opt(one_of(['+', '-', '~', '?']))
        .parse_next(&mut input)
        .map_err(|_: winnow::error::ContextError| "unreadable".to_owned())?;
    let qualifier = match qualifier {
        Some('-') => Qualifier::Fail,
        Some('~') => Qualifier::SoftFail,
        Some('?') => Qualifier::Neutral,
        _ => Qualifier::Pass,
    };
    let name_end = input.find([':', '/', '=']).unwrap_or(input.len());
    let (name, args) = input.split_at(name_end);
    let name = name.to_ascii_lowercase();
    if let Some(value) = args.strip_prefix('=') {
        let valid_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if text.starts_with(['+', '-', '~', '?']) || !valid_name {
            return Err(format!("{text:?} is not a valid modifier"));
        }
        if matches!(name.as_str(), "redirect" | "exp") && !domain_spec(value) {
            return Err(format!("{name}= needs a domain"));
        }
        return Ok(Term::Modifier {
            name,
            value: value.to_owned(),
        });
    }
    let arg = |prefix: char| args.strip_prefix(prefix).filter(|v| domain_spec(v));
    let mechanism = match name.as_str() {
        "all" if args.is_empty() => Mechanism::All,
        "include" => Mechanism::Include(arg(':').ok_or("include: needs a domain")?.to_owned()),
        "exists" => Mechanism::Exists(arg(':').ok_or("exists: needs a domain")?.to_owned()),
        "a" if a_args(args) => Mechanism::A(args.to_owned()),
        "mx" if a_args(args) => Mechanism::Mx(args.to_owned()),
        "ptr" if args.is_empty() || arg(':').is_some() => Mechanism::Ptr(args.to_owned()),
        "ip4" => match args.strip_prefix(':').filter(|n| network::<Ipv4Addr>(n, 32)) {
            Some(n) => Mechanism::Ip4(n.to_owned()),
            None => return Err(format!("{text:?}: ip4: needs an IPv4 address or network")),
        },
        "ip6" => match args.strip_prefix(':').filter(|n| network::<Ipv6Addr>(n, 128)) {
            Some(n) => Mechanism::Ip6(n.to_owned()),
            None => return Err(format!("{text:?}: ip6: needs an IPv6 address or network")),
        },
        "all" | "a" | "mx" | "ptr" => return Err(format!("{text:?} has invalid arguments")),
        _ => return Err(format!("{text:?} is not an SPF mechanism")),
    };
    Ok(Term::Directive { qualifier, mechanism })
}

/// `v=spf1` (any case) followed by a space or the end.
fn is_spf(txt: &str) -> bool {
    let mut input = txt;
    let version: winnow::Result<&str> = Caseless("v=spf1").parse_next(&mut input);
    version.is_ok() && (input.is_empty() || input.starts_with(' '))
}

impl SpfRecord {
    /// Whether a TXT string is an SPF record (`v=spf1` then a space or the end).
    pub fn is_spf(txt: &str) -> bool {
        is_spf(txt)
    }

    /// Parses a record. Errors name the field `spf` and the bad term.
    pub fn parse(text: &str) -> Result<SpfRecord, Error> {
        if !is_spf(text) {
            return Err(Error::invalid("spf", text, "does not start with v=spf1"));
        }
        let (version, mut rest) = text.split_at(6);
        let mut terms = Vec::new();
        loop {
            let space_len = rest.len() - rest.trim_start_matches(' ').len();
            let (space, after) = rest.split_at(space_len);
            if after.is_empty() {
                return Ok(SpfRecord {
                    version: version.to_owned(),
                    terms,
                    trailing: space.to_owned(),
                });
            }
            let end = after.find(' ').unwrap_or(after.len());
            let (word, next) = after.split_at(end);
            let term = parse_term(word).map_err(|reason| Error::invalid("spf", text, reason))?;
            terms.push(Written {
                space: space.to_owned(),
                text: word.to_owned(),
                term,
            });
            rest = next;
        }
    }

    /// The terms, in order.
    pub fn terms(&self) -> impl Iterator<Item = &Term> {
        self.terms.iter().map(|w| &w.term)
    }

    /// How many terms cost a DNS lookup, without following includes.
    pub fn lookups(&self) -> usize {
        self.terms().filter(|t| t.is_lookup()).count()
    }

    /// Whether a term with the same meaning is present (case-insensitive).
    pub fn contains(&self, term: &Term) -> bool {
        let norm = |t: &Term| format!("{}", Show(t)).to_ascii_lowercase();
        let wanted = norm(term);
        self.terms().any(|t| norm(t) == wanted)
    }

    /// Inserts a term where it takes effect: before `all`, else after the
    /// last mechanism (modifiers stay last).
    pub fn insert(&mut self, term: Term) {
        let at = self
            .terms
            .iter()
            .position(|w| w.term.is_all())
            .or_else(|| {
                self.terms
                    .iter()
                    .rposition(|w| matches!(w.term, Term::Directive { .. }))
                    .map(|i| i + 1)
            })
            .unwrap_or(0);
        let written = Written {
            space: " ".into(),
            text: Show(&term).to_string(),
            term,
        };
        self.terms.insert(at, written);
    }

    /// Problems worth a warning: too many lookups, `+all`, `ptr`.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let lookups = self.lookups();
        if lookups > LOOKUP_LIMIT {
            out.push(format!(
                "the record needs {lookups} DNS lookups before following includes; more than {LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)"
            ));
        }
        for t in self.terms() {
            match t {
                Term::Directive {
                    qualifier: Qualifier::Pass,
                    mechanism: Mechanism::All,
                } => out.push(
                    "+all authorizes every server on the internet to send as this domain; use ~all or -all".to_owned(),
                ),
                Term::Directive {
                    mechanism: Mechanism::Ptr(_),
                    ..
                } => out.push(
                    "ptr is slow and unreliable, and RFC 7208 5.5 says not to use it; list the addresses instead"
                        .to_owned(),
                ),
                _ => {}
            }
        }
        out
    }
}

impl fmt::Display for SpfRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.version)?;
        for w in &self.terms {
            write!(f, "{}{}", w.space, w.text)?;
        }
        f.write_str(&self.trailing)
    }
}

/// A term written in its canonical form.
struct Show<'a>(&'a Term);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Term::Modifier { name, value } => write!(f, "{name}={value}"),
            Term::Directive { qualifier, mechanism } => {
                f.write_str(match qualifier {
                    Qualifier::Pass => "",
                    Qualifier::Fail => "-",
                    Qualifier::SoftFail => "~",
                    Qualifier::Neutral => "?",
                })?;
                match mechanism {
                    Mechanism::All => f.write_str("all"),
                    Mechanism::Include(d) => write!(f, "include:{d}"),
                    Mechanism::A(a) => write!(f, "a{a}"),
                    Mechanism::Mx(a) => write!(f, "mx{a}"),
                    Mechanism::Ptr(a) => write!(f, "ptr{a}"),
                    Mechanism::Ip4(n) => write!(f, "ip4:{n}"),
                    Mechanism::Ip6(n) => write!(f, "ip6:{n}"),
                    Mechanism::Exists(d) => write!(f, "exists:{d}"),
                }
            }
        }
    }
}

/// The SPF term that authorizes a smarthost: the provider's `include:`,
/// `ip4:`/`ip6:` for a relay given by address, `a:` for any other host.
/// `None` when the provider needs no SPF entry (see [`SpfRequirement`]).
pub fn authorization(smarthost: &Smarthost) -> Option<Term> {
    let pass = |mechanism| Term::Directive {
        qualifier: Qualifier::Pass,
        mechanism,
    };
    match smarthost.relay.host() {
        Host::Ipv4(a) => Some(pass(Mechanism::Ip4(a.to_string()))),
        Host::Ipv6(a) => Some(pass(Mechanism::Ip6(a.to_string()))),
        Host::Name(name) => match Provider::for_relay(&smarthost.relay).map(|p| p.spf) {
            Some(SpfRequirement::Include(domain)) => Some(pass(Mechanism::Include(domain.to_owned()))),
            Some(SpfRequirement::NotNeeded(_)) => None,
            None => Some(pass(Mechanism::A(format!(":{name}")))),
        },
    }
}

/// What [`merge`] proposes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// The one SPF record to publish.
    pub record: String,
    /// Whether it differs from what is published.
    pub changed: bool,
    /// Things to know before publishing it.
    pub warnings: Vec<String>,
}

/// Merges `term` into a domain's SPF record, given all of the domain's TXT
/// strings: keeps every other term as written, inserts before `all`, never
/// proposes two records, and warns about the lookup limit, `+all` and `ptr`.
pub fn merge(txt_records: &[String], term: &Term) -> Result<Merged, Error> {
    let spf: Vec<&String> = txt_records.iter().filter(|t| SpfRecord::is_spf(t)).collect();
    let mut warnings = Vec::new();
    let Some((first, others)) = spf.split_first() else {
        let record = format!("v=spf1 {} ~all", Show(term));
        warnings.push(
            "the domain has no SPF record; this one ends in ~all (soft fail): list every other server that sends as the domain, then use -all".to_owned(),
        );
        return Ok(Merged {
            record,
            changed: true,
            warnings,
        });
    };
    let mut record = SpfRecord::parse(first)?;
    if !others.is_empty() {
        warnings.push(format!(
            "the domain publishes {} SPF records, which receivers treat as a permanent error (RFC 7208 4.5); they are merged into one",
            spf.len()
        ));
        for other in others {
            for t in SpfRecord::parse(other)?.terms() {
                let is_modifier = matches!(t, Term::Modifier { .. });
                if !t.is_all() && !is_modifier && !record.contains(t) {
                    record.insert(t.clone());
                }
            }
        }
    }
    if !record.contains(term) {
        record.insert(term.clone());
    }
    warnings.extend(record.warnings());
    let record = record.to_string();
    let changed = spf.len() != 1 || record != *spf[0];
    Ok(Merged {
        record,
        changed,
        warnings,
    })
}
