//! SPF records (RFC 7208): a lossless parser and printer that follows the
//! RFC's grammar exactly, and [`merge`], which authorizes a relay in a
//! domain's existing record.
//!
//! Parsing keeps every term's written form and the spaces between terms, so
//! printing an unedited record gives back the same text; an edit adds or
//! removes whole terms and leaves the others as they were written.
//!
//! # What the parser accepts
//!
//! Exactly the records of the ABNF of RFC 7208 (sections 4.6.1, 5, 6, 7.1
//! and 12), and nothing else:
//!
//! - `v=spf1` (any case), then terms separated by one or more spaces, and
//!   optional trailing spaces (4.6.1). Tabs and non-ASCII characters are
//!   refused.
//! - Mechanisms (5): `all`; `include:` and `exists:` with a domain-spec;
//!   `a` and `mx` with an optional `:domain-spec` and an optional
//!   dual-cidr-length (`/24`, `//64`, `/24//64`); `ptr` with an optional
//!   `:domain-spec`; `ip4:` with a dotted quad without leading zeros and
//!   `ip6:` with an RFC 4291 address, each with an optional prefix length.
//!   Prefix lengths have no leading zero and stay in range: 0-32 for IPv4,
//!   0-128 for IPv6 (5.6). Names are case-insensitive; a qualifier `+`,
//!   `-`, `~` or `?` may precede a mechanism, never a modifier.
//! - Modifiers (6): `redirect=` and `exp=` with a domain-spec, each at most
//!   once; unknown modifiers `name=macro-string` where the name is a letter
//!   followed by letters, digits, `-`, `_` or `.` (they may repeat).
//! - Domain-specs (7.1): a macro-string that ends either in a dot and a top
//!   label (`example.com`, `example.com.`; the top label is letters and
//!   digits with at least one letter, or holds a `-` between letters or
//!   digits) or in a macro. So `a:museum`, `a:abc.123`, `a:example.com:8080`
//!   and `include:a.example/24` are refused, while `a:foo:bar/baz.example.com`
//!   (the characters `:` and `/` are literals) is accepted.
//! - Macro-strings (7.1): visible ASCII except `%`, the escapes `%%`, `%_`,
//!   `%-`, and macros `%{` letter, digits, optional `r`, delimiters
//!   (`.-+,/_=`) `}`. The letters are `s l o d i p h v` (any case); `c`, `r`
//!   and `t` only outside domain-specs, since RFC 7208 7.2 allows them in
//!   explanation text only. A digit count of zero is refused (7.1: "the
//!   value MUST be nonzero"). A lone `%`, `%(ir)` or an unclosed `%{` is
//!   refused.
//!
//! # Counting lookups
//!
//! An evaluator (RFC 7208 4.6.2, 6.1) checks the mechanisms from left to
//! right and stops at the first that matches; `all` always matches, so the
//! terms after it are never evaluated, and `redirect=` is only followed when
//! no mechanism matched and is ignored when the record has an `all`.
//! [`SpfRecord::evaluation_order`] gives the terms in that order for a
//! sender nothing matches, the worst case; [`SpfRecord::lookups`] counts the
//! DNS-mechanism terms among them ([`LOOKUP_LIMIT`]). The DNS assistant
//! (`smarthost_core::dns`, feature `dns`) follows includes and redirects the
//! same way and also counts void lookups ([`VOID_LOOKUP_LIMIT`]) and MX
//! records ([`MX_RECORD_LIMIT`]).

use std::fmt;
use std::net::Ipv6Addr;

use serde::Serialize;
use winnow::ascii::Caseless;
use winnow::Parser;

use crate::error::Error;
use crate::preset::{Provider, SpfRequirement};
use crate::relay::Host;
use crate::smarthost::Smarthost;

/// RFC 7208 4.6.4: at most 10 terms that cause DNS lookups (`include`, `a`,
/// `mx`, `ptr`, `exists`, `redirect`) during an evaluation, includes
/// followed.
pub const LOOKUP_LIMIT: usize = 10;

/// RFC 7208 4.6.4: at most 2 "void lookups" (an empty answer or NXDOMAIN)
/// during an evaluation.
pub const VOID_LOOKUP_LIMIT: usize = 2;

/// RFC 7208 4.6.4: an `mx` mechanism whose domain has more than 10 MX
/// records is a permanent error.
pub const MX_RECORD_LIMIT: usize = 10;

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

impl Qualifier {
    fn symbol(self) -> char {
        match self {
            Qualifier::Pass => '+',
            Qualifier::Fail => '-',
            Qualifier::SoftFail => '~',
            Qualifier::Neutral => '?',
        }
    }
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

impl Mechanism {
    /// The domain-spec the mechanism names, as written: `example.com` for
    /// `include:example.com`, `a:example.com/24` and `ptr:example.com`;
    /// `None` for `all`, `ip4`, `ip6`, and for `a`, `mx` and `ptr` without
    /// one (they then use the domain being checked).
    pub fn domain_spec(&self) -> Option<&str> {
        match self {
            Mechanism::Include(d) | Mechanism::Exists(d) => Some(d),
            Mechanism::A(args) | Mechanism::Mx(args) => args.strip_prefix(':').map(|s| split_dual_cidr(s).0),
            Mechanism::Ptr(args) => args.strip_prefix(':'),
            Mechanism::All | Mechanism::Ip4(_) | Mechanism::Ip6(_) => None,
        }
    }
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

    /// Parses one term (a directive or a modifier) by the grammar of RFC
    /// 7208 4.6.1; the error says what is wrong and cites the section.
    pub fn parse(text: &str) -> Result<Term, Error> {
        parse_term(text).map_err(|reason| Error::invalid("spf term", text, reason))
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

    fn is_modifier(&self, wanted: &str) -> bool {
        matches!(self, Term::Modifier { name, .. } if name == wanted)
    }

    /// The canonical text, lower case: two terms with the same key mean
    /// the same thing.
    fn key(&self) -> String {
        Show(self).to_string().to_ascii_lowercase()
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

// ---------------------------------------------------------------------------
// The grammar of RFC 7208 section 12 (the collected ABNF).

/// `toplabel = ( *alphanum ALPHA *alphanum ) /
///             ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
fn is_toplabel(s: &str) -> bool {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return false;
    };
    if b.iter().all(u8::is_ascii_alphanumeric) {
        return b.iter().any(u8::is_ascii_alphabetic);
    }
    b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
}

/// Where a macro-string appears: RFC 7208 7.2 allows the letters `c`, `r`
/// and `t` only in explanation text, so not in a domain-spec.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    DomainSpec,
    Other,
}

/// Checks the inside of `%{...}`: `macro-letter transformers *delimiter`,
/// with `transformers = *DIGIT [ "r" ]`.
fn check_macro_body(body: &str, context: Context) -> Result<(), String> {
    let mut chars = body.chars().peekable();
    let letter = chars.next().map(|c| c.to_ascii_lowercase());
    match letter {
        Some('s' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v') => {}
        Some('c' | 'r' | 't') if context == Context::Other => {}
        Some(l @ ('c' | 'r' | 't')) => {
            return Err(format!(
                "the macro %{{{body}}} uses the letter {l:?}, which RFC 7208 7.2 allows only in explanation text, not in a domain"
            ))
        }
        _ => {
            return Err(format!(
                "%{{{body}}} is not a macro: a macro is %{{ then one of the letters s l o d i p h v, digits, an optional r, delimiters (.-+,/_=) and }} (RFC 7208 7.1)"
            ))
        }
    }
    let mut digits = String::new();
    while let Some(d) = chars.next_if(char::is_ascii_digit) {
        digits.push(d);
    }
    if !digits.is_empty() && digits.bytes().all(|d| d == b'0') {
        return Err(format!(
            "the macro %{{{body}}} keeps 0 labels; the number MUST be nonzero (RFC 7208 7.1)"
        ));
    }
    let _ = chars.next_if(|c| c.eq_ignore_ascii_case(&'r'));
    match chars.find(|c| !matches!(c, '.' | '-' | '+' | ',' | '/' | '_' | '=')) {
        None => Ok(()),
        Some(c) => Err(format!(
            "the macro %{{{body}}} has {c:?} where only digits, r and the delimiters .-+,/_= may follow the letter (RFC 7208 7.1)"
        )),
    }
}

/// Checks a `macro-string` (RFC 7208 7.1); returns whether it ends in a
/// `macro-expand`.
fn check_macro_string(s: &str, context: Context) -> Result<bool, String> {
    let mut ends_in_macro = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match c {
            '%' => {
                let after = &rest[1..];
                if let Some(tail) = after.strip_prefix(['%', '_', '-']) {
                    rest = tail;
                } else if let Some(open) = after.strip_prefix('{') {
                    let Some(close) = open.find('}') else {
                        return Err(format!(
                            "{rest:?} opens a macro with %{{ that no }} closes (RFC 7208 7.1)"
                        ));
                    };
                    check_macro_body(&open[..close], context)?;
                    rest = &open[close + 1..];
                } else {
                    let shown: String = rest.chars().take(2).collect();
                    return Err(format!(
                        "{shown:?}: '%' starts a macro (%{{...}}) or an escape (%%, %_, %-); write %% for a literal '%' (RFC 7208 7.1)"
                    ));
                }
                ends_in_macro = true;
            }
            '!'..='~' => {
                rest = &rest[1..];
                ends_in_macro = false;
            }
            other => {
                return Err(format!(
                    "contains {other:?}; only visible ASCII characters may appear (RFC 7208 7.1)"
                ))
            }
        }
    }
    Ok(ends_in_macro)
}

/// `domain-spec = macro-string domain-end`,
/// `domain-end = ( "." toplabel [ "." ] ) / macro-expand` (RFC 7208 7.1).
fn check_domain_spec(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("the domain is empty (RFC 7208 7.1)".to_owned());
    }
    if check_macro_string(s, Context::DomainSpec)? {
        return Ok(());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    match name.rfind('.') {
        Some(dot) if is_toplabel(&name[dot + 1..]) => Ok(()),
        Some(dot) => Err(format!(
            "the domain {s:?} ends in {:?}, which is not a top label: letters and digits with at least one letter, or with a '-' inside (RFC 7208 7.1)",
            &name[dot + 1..]
        )),
        None => Err(format!(
            "the domain {s:?} ends neither in a dot and a top label (as in example.com) nor in a macro (RFC 7208 7.1)"
        )),
    }
}

/// `ip4-cidr-length = "/" ("0" / %x31-39 0*1DIGIT)` (0-32) and
/// `ip6-cidr-length = "/" ("0" / %x31-39 0*2DIGIT)` (0-128), RFC 7208 5.6.
fn check_cidr(digits: &str, max: u8) -> Result<(), String> {
    let family = if max == 32 { "IPv4" } else { "IPv6" };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "the {family} prefix length {digits:?} is not a number (RFC 7208 5.6)"
        ));
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(format!(
            "the {family} prefix length {digits:?} has a leading zero (RFC 7208 5.6)"
        ));
    }
    if digits.len() > 3 || digits.parse::<u8>().map_or(true, |n| n > max) {
        return Err(format!(
            "the {family} prefix length {digits} is out of range 0-{max} (RFC 7208 5.6)"
        ));
    }
    Ok(())
}

/// Splits a trailing `dual-cidr-length` (`/24`, `//64`, `/24//64`) off the
/// arguments of `a` or `mx`. A domain-spec ends in a top label or a macro,
/// never in `/` and digits, so the split is unambiguous.
fn split_dual_cidr(s: &str) -> (&str, Option<&str>, Option<&str>) {
    fn trailing_number(s: &str, slashes: &str) -> Option<(usize, usize)> {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let before = &s[..s.len() - digits];
        (digits > 0 && before.ends_with(slashes)).then(|| (before.len() - slashes.len(), before.len()))
    }
    let mut rest = s;
    let mut v6 = None;
    if let Some((cut, start)) = trailing_number(rest, "//") {
        v6 = Some(&rest[start..]);
        rest = &rest[..cut];
    }
    let mut v4 = None;
    if let Some((cut, start)) = trailing_number(rest, "/") {
        // `//64` alone was taken above; a `/` left before the digits here
        // is a real ip4-cidr-length.
        v4 = Some(&rest[start..]);
        rest = &rest[..cut];
    }
    (rest, v4, v6)
}

/// `a` and `mx`: `[ ":" domain-spec ] [ dual-cidr-length ]`.
fn check_a_args(mechanism: &str, args: &str) -> Result<(), String> {
    let (domain, v4, v6) = split_dual_cidr(args);
    if let Some(v4) = v4 {
        check_cidr(v4, 32)?;
    }
    if let Some(v6) = v6 {
        check_cidr(v6, 128)?;
    }
    if domain.is_empty() {
        return Ok(());
    }
    match domain.strip_prefix(':') {
        Some(spec) => check_domain_spec(spec),
        None => Err(format!(
            "{mechanism} is followed by {domain:?}: expected :domain, /prefix-length or //ipv6-prefix-length (RFC 7208 5.3, 5.4)"
        )),
    }
}

/// `ip4-network = qnum "." qnum "." qnum "." qnum`, no leading zeros.
fn is_ip4_network(s: &str) -> bool {
    let qnum = |q: &str| {
        !q.is_empty()
            && q.len() <= 3
            && q.bytes().all(|b| b.is_ascii_digit())
            && (q.len() == 1 || !q.starts_with('0'))
            && q.parse::<u16>().is_ok_and(|n| n <= 255)
    };
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4 && parts.iter().all(|q| qnum(q))
}

/// `ip6-network` as per RFC 4291 2.2 (hex groups, `::`, an embedded dotted
/// quad).
fn is_ip6_network(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') && s.parse::<Ipv6Addr>().is_ok()
}

/// `ip4:` / `ip6:` arguments: `network [ "/" length ]`.
fn check_network(mechanism: &str, args: &str) -> Result<(), String> {
    let (v6, max, family) = match mechanism {
        "ip4" => (false, 32, "an IPv4 address (dotted quad without leading zeros)"),
        _ => (true, 128, "an IPv6 address"),
    };
    let Some(value) = args.strip_prefix(':') else {
        return Err(format!(
            "{mechanism} needs {family}: {mechanism}:<network>[/<length>] (RFC 7208 5.6)"
        ));
    };
    let (network, length) = match value.split_once('/') {
        Some((n, l)) => (n, Some(l)),
        None => (value, None),
    };
    let ok = if v6 {
        is_ip6_network(network)
    } else {
        is_ip4_network(network)
    };
    if !ok {
        return Err(format!("{network:?} is not {family} (RFC 7208 5.6)"));
    }
    match length {
        Some(l) => check_cidr(l, max),
        None => Ok(()),
    }
}

/// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`
fn is_modifier_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn parse_term(text: &str) -> Result<Term, String> {
    let (qualifier, body) = match text.chars().next() {
        Some('+') => (Some(Qualifier::Pass), &text[1..]),
        Some('-') => (Some(Qualifier::Fail), &text[1..]),
        Some('~') => (Some(Qualifier::SoftFail), &text[1..]),
        Some('?') => (Some(Qualifier::Neutral), &text[1..]),
        _ => (None, text),
    };
    let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
    let (name, args) = body.split_at(name_end);
    let lower = name.to_ascii_lowercase();
    if let Some(value) = args.strip_prefix('=') {
        if !is_modifier_name(name) {
            return Err(format!(
                "{name:?} is not a modifier name: a letter, then letters, digits, '-', '_' or '.' (RFC 7208 4.6.1)"
            ));
        }
        if qualifier.is_some() {
            return Err(format!("the modifier {lower}= takes no qualifier (RFC 7208 4.6.1)"));
        }
        match lower.as_str() {
            "redirect" | "exp" => {
                check_domain_spec(value).map_err(|e| format!("{lower}= needs a domain: {e}"))?;
            }
            _ => {
                check_macro_string(value, Context::Other).map_err(|e| format!("the modifier {lower}= {e}"))?;
            }
        }
        return Ok(Term::Modifier {
            name: lower,
            value: value.to_owned(),
        });
    }
    let domain_arg = |mechanism: &str, section: &str| -> Result<String, String> {
        let spec = args
            .strip_prefix(':')
            .ok_or_else(|| format!("{mechanism} needs a domain: {mechanism}:<domain> (RFC 7208 {section})"))?;
        check_domain_spec(spec)?;
        Ok(spec.to_owned())
    };
    let mechanism = match lower.as_str() {
        "all" if args.is_empty() => Mechanism::All,
        "all" => return Err(format!("all takes no argument, found {args:?} (RFC 7208 5.1)")),
        "include" => Mechanism::Include(domain_arg("include", "5.2")?),
        "exists" => Mechanism::Exists(domain_arg("exists", "5.7")?),
        "a" => {
            check_a_args("a", args)?;
            Mechanism::A(args.to_owned())
        }
        "mx" => {
            check_a_args("mx", args)?;
            Mechanism::Mx(args.to_owned())
        }
        "ptr" if args.is_empty() => Mechanism::Ptr(String::new()),
        "ptr" => {
            domain_arg("ptr", "5.5")?;
            Mechanism::Ptr(args.to_owned())
        }
        "ip4" => {
            check_network("ip4", args)?;
            Mechanism::Ip4(args[1..].to_owned())
        }
        "ip6" => {
            check_network("ip6", args)?;
            Mechanism::Ip6(args[1..].to_owned())
        }
        _ => {
            return Err(format!(
                "{name:?} is not an SPF mechanism (all, include, a, mx, ptr, ip4, ip6, exists; RFC 7208 5) nor a modifier (name=value; RFC 7208 6)"
            ))
        }
    };
    Ok(Term::Directive {
        qualifier: qualifier.unwrap_or(Qualifier::Pass),
        mechanism,
    })
}

/// `v=spf1` (any case) followed by a space or the end.
fn is_spf(txt: &str) -> bool {
    let mut input = txt;
    let version: winnow::Result<&str> = Caseless("v=spf1").parse_next(&mut input);
    version.is_ok() && (input.is_empty() || input.starts_with(' '))
}

impl SpfRecord {
    /// Whether a TXT string is an SPF record (`v=spf1` then a space or the
    /// end; RFC 7208 4.5).
    pub fn is_spf(txt: &str) -> bool {
        is_spf(txt)
    }

    /// Parses a record by the grammar of RFC 7208 (see the [module
    /// documentation](self) for what is accepted). Errors name the field
    /// `spf`, the bad term and the RFC section.
    pub fn parse(text: &str) -> Result<SpfRecord, Error> {
        if !is_spf(text) {
            return Err(Error::invalid(
                "spf",
                text,
                "does not start with v=spf1 followed by a space or the end (RFC 7208 4.5)",
            ));
        }
        let (version, mut rest) = text.split_at(6);
        let mut terms = Vec::new();
        loop {
            let space_len = rest.len() - rest.trim_start_matches(' ').len();
            let (space, after) = rest.split_at(space_len);
            if after.is_empty() {
                let record = SpfRecord {
                    version: version.to_owned(),
                    terms,
                    trailing: space.to_owned(),
                };
                return record
                    .check_modifiers()
                    .map(|()| record)
                    .map_err(|reason| Error::invalid("spf", text, reason));
            }
            let end = after.find(' ').unwrap_or(after.len());
            let (word, next) = after.split_at(end);
            let term = parse_term(word).map_err(|reason| Error::invalid("spf", text, format!("{word:?}: {reason}")))?;
            terms.push(Written {
                space: space.to_owned(),
                text: word.to_owned(),
                term,
            });
            rest = next;
        }
    }

    /// RFC 7208 6: `redirect` and `exp` at most once each.
    fn check_modifiers(&self) -> Result<(), String> {
        for name in ["redirect", "exp"] {
            let count = self.terms().filter(|t| t.is_modifier(name)).count();
            if count > 1 {
                return Err(format!(
                    "{name}= appears {count} times; it may appear at most once (RFC 7208 6)"
                ));
            }
        }
        Ok(())
    }

    /// The terms, in order.
    pub fn terms(&self) -> impl Iterator<Item = &Term> {
        self.terms.iter().map(|w| &w.term)
    }

    /// The terms an evaluator reaches, in the order it evaluates them, for
    /// a sender that no mechanism matches (the worst case): the mechanisms
    /// from left to right up to and including the first `all`, then the
    /// `redirect` modifier if the record has no `all` (RFC 7208 4.6.2, 6.1).
    /// `exp` and unknown modifiers are not evaluated.
    pub fn evaluation_order(&self) -> Vec<&Term> {
        let mut out = Vec::new();
        for t in self.terms() {
            if let Term::Directive { .. } = t {
                out.push(t);
                if t.is_all() {
                    return out;
                }
            }
        }
        out.extend(self.terms().filter(|t| t.is_modifier("redirect")));
        out
    }

    /// The terms that are written but never evaluated: mechanisms after
    /// the first `all`, and `redirect` when the record has an `all`.
    pub fn unreached(&self) -> Vec<&Term> {
        let Some(all) = self.terms.iter().position(|w| w.term.is_all()) else {
            return Vec::new();
        };
        self.terms
            .iter()
            .enumerate()
            .filter(|(i, w)| match &w.term {
                Term::Directive { .. } => *i > all,
                t => t.is_modifier("redirect"),
            })
            .map(|(_, w)| &w.term)
            .collect()
    }

    /// How many terms that cost a DNS lookup an evaluator reaches in this
    /// record, without following includes (see
    /// [`SpfRecord::evaluation_order`]).
    pub fn lookups(&self) -> usize {
        self.evaluation_order().into_iter().filter(|t| t.is_lookup()).count()
    }

    /// Whether a term with the same meaning is present (case-insensitive).
    pub fn contains(&self, term: &Term) -> bool {
        let wanted = term.key();
        self.terms().any(|t| t.key() == wanted)
    }

    /// Whether a term with the same meaning is evaluated (present and not
    /// after `all`; see [`SpfRecord::evaluation_order`]).
    pub fn reaches(&self, term: &Term) -> bool {
        let wanted = term.key();
        self.evaluation_order().into_iter().any(|t| t.key() == wanted)
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

    /// Removes every term with the same meaning as `term`; returns how many.
    pub fn remove(&mut self, term: &Term) -> usize {
        let wanted = term.key();
        let before = self.terms.len();
        self.terms.retain(|w| w.term.key() != wanted);
        before - self.terms.len()
    }

    /// How the evaluation ends for a sender nothing matches: the first
    /// `all` (with its qualifier), else `redirect=`, else neutral.
    fn ending(&self) -> String {
        for t in self.evaluation_order() {
            match t {
                Term::Directive {
                    qualifier,
                    mechanism: Mechanism::All,
                } => return format!("{}all", qualifier.symbol()),
                Term::Modifier { name, value } => return format!("{name}={}", value.to_ascii_lowercase()),
                _ => {}
            }
        }
        "no all (neutral)".to_owned()
    }

    /// Problems worth a warning: too many lookups, `+all`, `ptr`, terms
    /// that are never evaluated.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let lookups = self.lookups();
        if lookups > LOOKUP_LIMIT {
            out.push(format!(
                "the record needs {lookups} DNS lookups before following includes; more than {LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)"
            ));
        }
        for t in self.evaluation_order() {
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
        let unreached = self.unreached();
        if !unreached.is_empty() {
            let shown: Vec<String> = unreached.iter().map(|t| Show(t).to_string()).collect();
            out.push(format!(
                "{} never evaluated: evaluation stops at all, and redirect= is ignored when the record has an all (RFC 7208 4.6.2, 6.1)",
                match shown.as_slice() {
                    [one] => format!("{one} is"),
                    many => format!("{} are", many.join(", ")),
                }
            ));
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

impl fmt::Display for Term {
    /// The canonical form: no `+`, lower-case mechanism names, arguments
    /// as written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Show(self).fmt(f)
    }
}

/// A term written in its canonical form.
struct Show<'a>(&'a Term);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Term::Modifier { name, value } => write!(f, "{name}={value}"),
            Term::Directive { qualifier, mechanism } => {
                if *qualifier != Qualifier::Pass {
                    write!(f, "{}", qualifier.symbol())?;
                }
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
/// strings: keeps every other term as written, inserts before `all` (and
/// moves the term there if it was written after `all`, where it is never
/// evaluated), never proposes two records, and warns about the lookup
/// limit, `+all`, `ptr`, and records whose endings (`all`, `redirect=`)
/// differ: the first record's ending is kept.
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
        let kept = record.ending();
        let mut endings = vec![kept.clone()];
        let mut dropped = Vec::new();
        for other in others {
            let other = SpfRecord::parse(other)?;
            for t in other.evaluation_order() {
                if matches!(t, Term::Directive { .. }) && !t.is_all() && !record.contains(t) {
                    record.insert(t.clone());
                }
            }
            endings.push(other.ending());
            dropped.extend(
                other
                    .terms()
                    .filter(|t| matches!(t, Term::Modifier { .. }) && !record.contains(t))
                    .map(|t| Show(t).to_string()),
            );
        }
        if endings.iter().any(|e| *e != kept) {
            warnings.push(format!(
                "the records end differently ({}); the merged record keeps the first one's ({kept}): check that this is the policy you want",
                endings.join(", ")
            ));
        }
        if !dropped.is_empty() {
            warnings.push(format!(
                "the merged record drops the other records' modifiers: {}",
                dropped.join(", ")
            ));
        }
    }
    if !record.reaches(term) {
        if record.remove(term) > 0 {
            warnings.push(format!(
                "{} was written after all, where it is never evaluated (RFC 7208 4.6.2); it is moved before all",
                Show(term)
            ));
        }
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
