//! The DNS assistant: does a domain's SPF record authorize its relay, what
//! record to publish instead, and are DMARC and DKIM in place. Needs the
//! `dns` feature (hickory-resolver on tokio).
//!
//! The SPF record is followed as an RFC 7208 evaluator would for a sender
//! that no mechanism matches (the worst case): mechanisms from left to
//! right up to the first `all`, includes and `redirect=` followed, the
//! `redirect=` only when the record has no `all`. Along the way it counts
//! the DNS-mechanism lookups ([`spf::LOOKUP_LIMIT`]), the void lookups
//! ([`spf::VOID_LOOKUP_LIMIT`]: `a`, `mx`, `exists`, `include` and
//! `redirect` targets that do not exist or have no record of the type
//! asked; the `a` mechanism asks for A records, or AAAA for a relay given
//! by IPv6 address) and the MX records of each `mx`
//! ([`spf::MX_RECORD_LIMIT`]), and notes the first permanent error a
//! receiver would meet. The relay is authorized when its term is reached
//! before any permanent error. Terms with macros depend on the message and
//! are counted but not followed; `ptr` depends on the sender's address and
//! is counted but not looked up.
//!
//! Hostile or broken zones cannot make it loop or fan out: an include or
//! redirect back to a domain on the current path is reported as a loop
//! (a permanent error) and not followed, each name and type is asked once,
//! and one report asks at most [`QUERY_BUDGET`] DNS queries for SPF; past
//! the budget the counts are reported as lower bounds.

use std::collections::HashMap;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;

use crate::domain::DomainName;
use crate::error::Error;
use crate::preset::{Provider, SpfRequirement};
use crate::relay::Host;
use crate::smarthost::Smarthost;
use crate::spf::{
    self, Mechanism, Merged, Qualifier, SpfRecord, Term, LOOKUP_LIMIT, MX_RECORD_LIMIT, VOID_LOOKUP_LIMIT,
};

/// At most this many DNS queries are asked to follow one domain's SPF
/// record (includes, redirects, and the `a`, `mx` and `exists` targets);
/// includes and redirects are also no longer followed once this many
/// DNS-mechanism lookups are counted. A record within the RFC's limits
/// needs at most 10 queries.
pub const QUERY_BUDGET: usize = 50;

/// Whether the domain's SPF record lets the relay send for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum SpfStatus {
    /// The record (or a record it includes) has the relay's term, and an
    /// evaluator reaches it before any permanent error.
    Authorized,
    /// It does not, or there is no usable record, or the term is only
    /// reached after a permanent error (too many lookups, a loop, ...).
    NotAuthorized,
    /// The provider needs no SPF entry; the reason.
    NotNeeded(String),
}

/// The SPF part of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpfReport {
    /// The SPF records the domain publishes (more than one is an error).
    pub published: Vec<String>,
    /// The verdict.
    #[serde(flatten)]
    pub status: SpfStatus,
    /// DNS-mechanism lookups the record needs, includes followed, in
    /// evaluation order (at most 10 allowed; RFC 7208 4.6.4). `None` when
    /// the record was not evaluated (none, several, invalid, or not needed).
    pub lookups: Option<usize>,
    /// Void lookups met on the way, up to the first permanent error (at
    /// most 2 allowed; RFC 7208 4.6.4).
    pub void_lookups: Option<usize>,
    /// The first permanent error an evaluator meets for a sender that no
    /// mechanism matches (receivers then return `permerror`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permerror: Option<String>,
    /// The record to publish instead, when a change is needed and the
    /// assistant can propose one (it cannot for an invalid record).
    pub publish: Option<Merged>,
}

/// One DKIM selector looked up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DkimReport {
    /// The selector (`s1` in `s1._domainkey.example.com`).
    pub selector: String,
    /// Whether a key is published there.
    pub found: bool,
}

/// What the assistant found for one domain and the relay its mail takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DomainReport {
    /// The domain.
    pub domain: DomainName,
    /// The relay its mail takes.
    pub relay: String,
    /// SPF.
    pub spf: SpfReport,
    /// The DMARC record, if any.
    pub dmarc: Option<String>,
    /// DKIM keys looked up.
    pub dkim: Vec<DkimReport>,
    /// What to fix.
    pub warnings: Vec<String>,
}

/// A DNS client for the assistant.
#[derive(Clone)]
pub struct DnsChecker {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DnsChecker")
    }
}

fn dns_error(name: &str, e: impl std::fmt::Display) -> Error {
    Error::Dns {
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl DnsChecker {
    /// Uses the system's resolver configuration (`/etc/resolv.conf`).
    pub fn system() -> Result<DnsChecker, Error> {
        let resolver = TokioResolver::builder_tokio()
            .and_then(|b| b.build())
            .map_err(|e| dns_error("system resolver", e))?;
        Ok(DnsChecker { resolver })
    }

    /// Asks this one server (tests, split-horizon DNS), over UDP and TCP.
    pub fn with_server(server: SocketAddr) -> Result<DnsChecker, Error> {
        let mut name_server = NameServerConfig::udp_and_tcp(server.ip());
        for connection in &mut name_server.connections {
            connection.port = server.port();
        }
        let config = ResolverConfig::from_name_servers(vec![name_server]);
        let mut builder = Resolver::builder_with_config(config, TokioRuntimeProvider::default());
        builder.options_mut().timeout = Duration::from_secs(3);
        builder.options_mut().attempts = 2;
        let resolver = builder.build().map_err(|e| dns_error(&server.to_string(), e))?;
        Ok(DnsChecker { resolver })
    }

    /// The TXT strings at `name` (each record's strings joined); none when
    /// the name or the records do not exist.
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, Error> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(dns_error(name, e)),
        }
    }

    /// The SPF part of the report for a relay that needs `term`.
    async fn spf_report(
        &self,
        domain: &DomainName,
        smarthost: &Smarthost,
        term: &Term,
        txt: &[String],
        published: Vec<String>,
        warnings: &mut Vec<String>,
    ) -> SpfReport {
        let mut report = SpfReport {
            published,
            status: SpfStatus::NotAuthorized,
            lookups: None,
            void_lookups: None,
            permerror: None,
            publish: None,
        };
        match report.published.as_slice() {
            [] => {}
            [only] => match SpfRecord::parse(only) {
                Ok(record) => {
                    let ipv6 = matches!(smarthost.relay.host(), Host::Ipv6(_));
                    let mut walk = Walk::new(self, term, ipv6);
                    walk.run(domain.as_str(), record).await;
                    if walk.found == Some(true) {
                        report.status = SpfStatus::Authorized;
                    }
                    report.lookups = Some(walk.lookups);
                    report.void_lookups = Some(walk.voids);
                    report.permerror = walk.permerror();
                    warnings.extend(walk.warnings());
                }
                Err(e) => {
                    warnings.push(format!(
                        "the published SPF record is invalid, which receivers treat as a permanent error: {e}"
                    ));
                    report.permerror = Some(e.to_string());
                }
            },
            many => {
                report.permerror = Some(format!(
                    "the domain publishes {} SPF records (RFC 7208 4.5)",
                    many.len()
                ));
            }
        }
        if report.status != SpfStatus::Authorized {
            match spf::merge(txt, term) {
                Ok(merged) => {
                    warnings.extend(merged.warnings.iter().cloned());
                    report.publish = merged.changed.then_some(merged);
                }
                Err(e) => warnings.push(format!(
                    "no record to publish is proposed until the published one is fixed: {e}"
                )),
            }
        }
        report
    }

    /// Checks `domain` for mail relayed through `smarthost`. DKIM is looked
    /// up for `selectors` and the provider's usual selectors.
    pub async fn check(
        &self,
        domain: &DomainName,
        smarthost: &Smarthost,
        selectors: &[String],
    ) -> Result<DomainReport, Error> {
        let mut warnings = Vec::new();
        let txt = self.txt(domain.as_str()).await?;
        let published: Vec<String> = txt.iter().filter(|t| SpfRecord::is_spf(t)).cloned().collect();
        let spf = match spf::authorization(smarthost) {
            None => {
                let reason = match Provider::for_relay(&smarthost.relay).map(|p| p.spf) {
                    Some(SpfRequirement::NotNeeded(reason)) => reason.to_owned(),
                    _ => "this relay needs no SPF entry".to_owned(),
                };
                for record in &published {
                    if let Err(e) = SpfRecord::parse(record) {
                        warnings.push(format!(
                            "the published SPF record is invalid, which receivers treat as a permanent error: {e}"
                        ));
                    }
                }
                SpfReport {
                    published,
                    status: SpfStatus::NotNeeded(reason),
                    lookups: None,
                    void_lookups: None,
                    permerror: None,
                    publish: None,
                }
            }
            Some(term) => {
                self.spf_report(domain, smarthost, &term, &txt, published, &mut warnings)
                    .await
            }
        };

        let dmarc_name = format!("_dmarc.{domain}");
        let dmarc = self
            .txt(&dmarc_name)
            .await?
            .into_iter()
            .find(|t| t.get(..8).is_some_and(|v| v.eq_ignore_ascii_case("v=DMARC1")));
        if dmarc.is_none() {
            warnings.push(format!(
                "no DMARC record at {dmarc_name}: publish one, e.g. \"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}\", then tighten p= once reports look clean"
            ));
        }

        let mut all_selectors: Vec<String> = selectors.to_vec();
        if let Some(p) = Provider::for_relay(&smarthost.relay) {
            all_selectors.extend(p.dkim_selectors.iter().map(|s| s.to_string()));
        }
        all_selectors.dedup();
        let mut dkim = Vec::new();
        for selector in &all_selectors {
            let name = format!("{selector}._domainkey.{domain}");
            let found = self.txt(&name).await?.iter().any(|t| {
                t.split(';')
                    .any(|tag| tag.trim().strip_prefix("p=").is_some_and(|key| !key.trim().is_empty()))
            });
            if !found {
                warnings.push(format!(
                    "no DKIM key at {name}: publish the key your relay provider gives you"
                ));
            }
            dkim.push(DkimReport {
                selector: selector.clone(),
                found,
            });
        }
        if all_selectors.is_empty() {
            warnings.push(
                "DKIM not checked: the relay's selector is not known; give it with --dkim-selector (most relays require DKIM for the sender domain)".to_owned(),
            );
        }
        Ok(DomainReport {
            domain: domain.clone(),
            relay: smarthost.relay.to_string(),
            spf,
            dmarc,
            dkim,
            warnings,
        })
    }
}

/// What a DNS query gave.
#[derive(Clone, Debug)]
enum Answer {
    /// The records of the type asked, as text.
    Found(Vec<String>),
    /// NXDOMAIN, or no record of the type asked: a void lookup.
    Void,
    /// The query failed (timeout, SERVFAIL, a name that is not one).
    Failed(String),
    /// Not asked: the query budget is spent.
    Skipped,
}

/// The first permanent error of an evaluation.
#[derive(Clone, Debug)]
enum PermError {
    /// The 11th DNS-mechanism lookup: `term` in the record of `domain`.
    Lookups { term: String, domain: String },
    /// Anything else, said in full.
    Other(String),
}

/// One walk through a domain's SPF record, as an evaluator goes for a
/// sender that no mechanism matches.
struct Walk<'a> {
    checker: &'a DnsChecker,
    wanted: &'a Term,
    address: RecordType,
    queries: usize,
    out_of_budget: bool,
    cache: HashMap<(String, RecordType), Answer>,
    /// DNS-mechanism terms reached.
    lookups: usize,
    /// Void lookups met.
    voids: usize,
    first_error: Option<PermError>,
    /// `Some(true)`: the relay's term is reached before any permanent
    /// error; `Some(false)`: only after one.
    found: Option<bool>,
    /// The domains whose records are being evaluated, outermost first.
    path: Vec<String>,
    notes: Vec<String>,
}

/// A domain-spec without macros as the name to look up; `None` when it
/// holds a macro (`%{...}`), which depends on the message. The escapes
/// `%%`, `%_` and `%-` stand for `%`, a space and `%20` (RFC 7208 7.3).
fn static_name(spec: &str) -> Option<String> {
    if spec.contains("%{") {
        return None;
    }
    let mut name = String::with_capacity(spec.len());
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some(escape @ ('%' | '_' | '-'))) => {
                chars.next();
                name.push_str(match escape {
                    '%' => "%",
                    '_' => " ",
                    _ => "%20",
                });
            }
            _ => name.push(c),
        }
    }
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

impl<'a> Walk<'a> {
    fn new(checker: &'a DnsChecker, wanted: &'a Term, ipv6: bool) -> Walk<'a> {
        Walk {
            checker,
            wanted,
            address: if ipv6 { RecordType::AAAA } else { RecordType::A },
            queries: 0,
            out_of_budget: false,
            cache: HashMap::new(),
            lookups: 0,
            voids: 0,
            first_error: None,
            found: None,
            path: Vec::new(),
            notes: Vec::new(),
        }
    }

    async fn run(&mut self, domain: &str, record: SpfRecord) {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.path.push(domain.clone());
        self.eval(domain, record).await;
        self.path.clear();
    }

    fn fail(&mut self, error: PermError) {
        if self.first_error.is_none() {
            self.first_error = Some(error);
        }
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Counts a DNS-mechanism term (RFC 7208 4.6.4).
    fn count(&mut self, term: &Term, domain: &str) {
        self.lookups += 1;
        if self.lookups == LOOKUP_LIMIT + 1 {
            self.fail(PermError::Lookups {
                term: term.to_string(),
                domain: domain.to_owned(),
            });
        }
    }

    /// Counts a void lookup (RFC 7208 4.6.4).
    fn void(&mut self, term: &Term, name: &str) {
        self.voids += 1;
        if self.voids == VOID_LOOKUP_LIMIT + 1 {
            self.fail(PermError::Other(format!(
                "{term} looks up {name}, which does not exist or has no record of the type asked: the third void lookup; more than {VOID_LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)"
            )));
        }
    }

    /// Asks one query, once per name and type, within the budget.
    async fn query(&mut self, name: &str, record_type: RecordType) -> Answer {
        let key = (name.to_owned(), record_type);
        if let Some(answer) = self.cache.get(&key) {
            return answer.clone();
        }
        if self.queries >= QUERY_BUDGET {
            self.out_of_budget = true;
            return Answer::Skipped;
        }
        self.queries += 1;
        let fqdn = format!("{name}.");
        let answer = match self.checker.resolver.lookup(fqdn.as_str(), record_type).await {
            Ok(lookup) => {
                let found: Vec<String> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.data.record_type() == record_type)
                    .map(|r| match &r.data {
                        RData::TXT(txt) => txt
                            .txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                        other => other.to_string(),
                    })
                    .collect();
                if found.is_empty() {
                    Answer::Void
                } else {
                    Answer::Found(found)
                }
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Answer::Void,
            Err(e) => Answer::Failed(e.to_string()),
        };
        self.cache.insert(key, answer.clone());
        answer
    }

    /// The one SPF record at `target`, for `term` (an include or a
    /// redirect); records a permanent error when there is none, several,
    /// or an invalid one, or when `target` is already being evaluated.
    async fn record_at(&mut self, term: &Term, target: &str) -> Option<SpfRecord> {
        if let Some(at) = self.path.iter().position(|d| d == target) {
            let cycle = self.path[at..].join(" -> ");
            self.fail(PermError::Other(format!(
                "{term} loops back: {cycle} -> {target}; an evaluator stops at the lookup limit with a permanent error (RFC 7208 4.6.4)"
            )));
            return None;
        }
        if self.lookups > QUERY_BUDGET {
            self.out_of_budget = true;
            return None;
        }
        let section = if matches!(term, Term::Modifier { .. }) {
            "6.1"
        } else {
            "5.2"
        };
        let txts = match self.query(target, RecordType::TXT).await {
            Answer::Found(txts) => txts,
            Answer::Void => {
                if self.first_error.is_none() {
                    self.void(term, target);
                }
                Vec::new()
            }
            Answer::Failed(e) => {
                self.note(format!(
                    "{term}: the TXT lookup of {target} failed ({e}); receivers return a temporary error (temperror) until it answers"
                ));
                return None;
            }
            Answer::Skipped => return None,
        };
        let records: Vec<&String> = txts.iter().filter(|t| SpfRecord::is_spf(t)).collect();
        match records.as_slice() {
            [] => self.fail(PermError::Other(format!(
                "{term}: {target} publishes no SPF record, which is a permanent error (RFC 7208 {section})"
            ))),
            [one] => match SpfRecord::parse(one) {
                Ok(record) => return Some(record),
                Err(e) => self.fail(PermError::Other(format!(
                    "{term}: the record of {target} is invalid: {e}"
                ))),
            },
            many => self.fail(PermError::Other(format!(
                "{term}: {target} publishes {} SPF records, which is a permanent error (RFC 7208 4.5)",
                many.len()
            ))),
        }
        None
    }

    /// Looks up the target of an `a`, `mx` or `exists` term, counting a
    /// void lookup; returns how many records it has. Only while no
    /// permanent error has ended the evaluation: past one, only includes
    /// and redirects are followed, to count the lookups.
    async fn look_up(&mut self, term: &Term, name: &str, record_type: RecordType) -> Option<usize> {
        if self.first_error.is_some() {
            return None;
        }
        match self.query(name, record_type).await {
            Answer::Found(records) => Some(records.len()),
            Answer::Void => {
                self.void(term, name);
                Some(0)
            }
            Answer::Failed(e) => {
                self.note(format!(
                    "{term}: the {record_type} lookup of {name} failed ({e}); receivers return a temporary error (temperror) until it answers"
                ));
                None
            }
            Answer::Skipped => None,
        }
    }

    /// The name a term looks up, or `None` (with a note) when it holds a
    /// macro.
    fn target(&mut self, term: &Term, spec: Option<&str>, domain: &str) -> Option<String> {
        match spec {
            None => Some(domain.to_owned()),
            Some(spec) => {
                let name = static_name(spec);
                if name.is_none() {
                    self.note(format!(
                        "{term} uses macros, which depend on the message: it is counted as one lookup but not followed"
                    ));
                }
                name
            }
        }
    }

    /// Evaluates `record` (the record of `domain`) for a sender that no
    /// mechanism matches; returns whether it passes every sender (it
    /// reached a `+all`, itself or through an include or redirect).
    fn eval<'s>(&'s mut self, domain: String, record: SpfRecord) -> Boxed<'s, bool> {
        Box::pin(async move {
            let order: Vec<Term> = record.evaluation_order().into_iter().cloned().collect();
            for term in &order {
                let passes_all = match term {
                    Term::Directive { qualifier, mechanism } => {
                        let mut passes_all = false;
                        match mechanism {
                            Mechanism::All => passes_all = *qualifier == Qualifier::Pass,
                            Mechanism::Ip4(_) | Mechanism::Ip6(_) => {}
                            Mechanism::Ptr(_) => self.count(term, &domain),
                            Mechanism::Include(spec) => {
                                self.count(term, &domain);
                                if let Some(target) = self.target(term, Some(spec), &domain) {
                                    if let Some(inner) = self.record_at(term, &target).await {
                                        self.path.push(target.clone());
                                        let inner_passes = self.eval(target.clone(), inner).await;
                                        self.path.pop();
                                        if inner_passes {
                                            self.note(format!(
                                                "{term}: {target} ends in +all, so the include matches every sender and nothing after it is evaluated"
                                            ));
                                            passes_all = *qualifier == Qualifier::Pass;
                                            self.mark(term);
                                            return passes_all;
                                        }
                                    }
                                }
                            }
                            Mechanism::A(_) | Mechanism::Exists(_) => {
                                self.count(term, &domain);
                                // RFC 7208 5.7: exists asks for A records
                                // whatever the sender's address.
                                let record_type = match mechanism {
                                    Mechanism::Exists(_) => RecordType::A,
                                    _ => self.address,
                                };
                                if let Some(name) = self.target(term, mechanism.domain_spec(), &domain) {
                                    self.look_up(term, &name, record_type).await;
                                }
                            }
                            Mechanism::Mx(_) => {
                                self.count(term, &domain);
                                if let Some(name) = self.target(term, mechanism.domain_spec(), &domain) {
                                    let count = self.look_up(term, &name, RecordType::MX).await;
                                    if let Some(n) = count.filter(|n| *n > MX_RECORD_LIMIT) {
                                        self.fail(PermError::Other(format!(
                                            "{term}: {name} has {n} MX records; more than {MX_RECORD_LIMIT} is a permanent error (RFC 7208 4.6.4)"
                                        )));
                                    }
                                }
                            }
                        }
                        passes_all
                    }
                    Term::Modifier { value, .. } => {
                        // Only `redirect` is in the evaluation order.
                        self.count(term, &domain);
                        let mut passes_all = false;
                        if let Some(target) = self.target(term, Some(value), &domain) {
                            if let Some(inner) = self.record_at(term, &target).await {
                                self.path.push(target.clone());
                                passes_all = self.eval(target, inner).await;
                                self.path.pop();
                            }
                        }
                        passes_all
                    }
                };
                self.mark(term);
                if term_ends_evaluation(term) || passes_all {
                    return passes_all;
                }
            }
            false
        })
    }

    /// Notes that `term` was just evaluated: if it is the relay's, whether
    /// it was reached before any permanent error.
    fn mark(&mut self, term: &Term) {
        if self.found.is_none() && term.to_string().eq_ignore_ascii_case(&self.wanted.to_string()) {
            self.found = Some(self.first_error.is_none());
        }
    }

    fn permerror(&self) -> Option<String> {
        self.first_error.as_ref().map(|e| match e {
            PermError::Lookups { term, domain } => format!(
                "{term} in the record of {domain} is DNS lookup number {}; more than {LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)",
                LOOKUP_LIMIT + 1
            ),
            PermError::Other(text) => text.clone(),
        })
    }

    fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let at_least = if self.out_of_budget { "at least " } else { "" };
        if self.lookups > LOOKUP_LIMIT {
            out.push(format!(
                "the SPF record needs {at_least}{} DNS lookups with its includes; more than {LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)",
                self.lookups
            ));
        }
        if let Some(PermError::Other(text)) = &self.first_error {
            out.push(format!(
                "receivers return a permanent error (permerror) for the SPF record: {text}"
            ));
        }
        if self.found == Some(false) {
            out.push(format!(
                "{} is in the SPF record, but receivers reach it only after the permanent error: fix that first",
                self.wanted
            ));
        }
        out.extend(self.notes.iter().cloned());
        if self.out_of_budget {
            out.push(format!(
                "the SPF record was followed for {} DNS queries and {} lookups, no further: the counts are lower bounds",
                self.queries, self.lookups
            ));
        }
        out
    }
}

/// `all` ends an evaluation, and so does `redirect`, which hands it over.
fn term_ends_evaluation(term: &Term) -> bool {
    matches!(
        term,
        Term::Directive {
            mechanism: Mechanism::All,
            ..
        } | Term::Modifier { .. }
    )
}

/// A record a [`TxtServer`] serves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZoneRecord {
    /// A TXT record (split into strings of 255 bytes when longer).
    Txt(String),
    /// An MX record: preference and exchange host.
    Mx(u16, String),
    /// An A record.
    A(Ipv4Addr),
    /// An AAAA record.
    Aaaa(Ipv6Addr),
}

impl ZoneRecord {
    fn record_type(&self) -> RecordType {
        match self {
            ZoneRecord::Txt(_) => RecordType::TXT,
            ZoneRecord::Mx(..) => RecordType::MX,
            ZoneRecord::A(_) => RecordType::A,
            ZoneRecord::Aaaa(_) => RecordType::AAAA,
        }
    }

    fn rdata(&self) -> Option<RData> {
        use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, TXT};
        use hickory_resolver::proto::rr::Name;
        Some(match self {
            ZoneRecord::Txt(text) => {
                let strings = text
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>();
                RData::TXT(TXT::new(if strings.is_empty() {
                    vec![String::new()]
                } else {
                    strings
                }))
            }
            ZoneRecord::Mx(preference, host) => {
                let exchange = Name::from_utf8(format!("{}.", host.trim_end_matches('.'))).ok()?;
                RData::MX(MX::new(*preference, exchange))
            }
            ZoneRecord::A(a) => RData::A(A(*a)),
            ZoneRecord::Aaaa(a) => RData::AAAA(AAAA(*a)),
        })
    }
}

/// A DNS server for tests: answers queries from a fixed zone on 127.0.0.1
/// (UDP): the records of the name and type asked, an empty answer for a
/// name it knows without records of that type, NXDOMAIN for names it does
/// not know. It counts the queries it gets, runs on its own thread and stops
/// when dropped. Embedders can test DNS checks with it.
#[derive(Debug)]
pub struct TxtServer {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TxtServer {
    /// Starts serving `zone`: (name, TXT string) pairs; a name may repeat.
    pub fn start(zone: &[(&str, &str)]) -> std::io::Result<TxtServer> {
        let records: Vec<(&str, ZoneRecord)> = zone
            .iter()
            .map(|(name, txt)| (*name, ZoneRecord::Txt(txt.to_string())))
            .collect();
        TxtServer::start_records(&records)
    }

    /// Starts serving `zone`: (name, record) pairs of any [`ZoneRecord`]
    /// type; a name may repeat.
    pub fn start_records(zone: &[(&str, ZoneRecord)]) -> std::io::Result<TxtServer> {
        use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
        use hickory_resolver::proto::rr::{Name, Record};

        let mut records: HashMap<String, Vec<ZoneRecord>> = HashMap::new();
        for (name, record) in zone {
            records
                .entry(name.trim_end_matches('.').to_ascii_lowercase())
                .or_default()
                .push(record.clone());
        }
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std_socket.set_nonblocking(true)?;
        let addr = std_socket.local_addr()?;
        let queries = Arc::new(AtomicUsize::new(0));
        let counter = queries.clone();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(socket) = tokio::net::UdpSocket::from_std(std_socket) else {
                    return;
                };
                let mut buf = [0u8; 4096];
                loop {
                    let (len, peer) = tokio::select! {
                        received = socket.recv_from(&mut buf) => match received {
                            Ok(r) => r,
                            Err(_) => return,
                        },
                        _ = &mut stopped => return,
                    };
                    let Ok(query) = Message::from_vec(&buf[..len]) else {
                        continue;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
                    reply.metadata.authoritative = true;
                    reply.metadata.recursion_desired = query.metadata.recursion_desired;
                    reply.metadata.recursion_available = true;
                    for q in &query.queries {
                        reply.add_query(q.clone());
                        let name = q.name().to_string().trim_end_matches('.').to_ascii_lowercase();
                        let Some(known) = records.get(&name) else {
                            reply.metadata.response_code = ResponseCode::NXDomain;
                            continue;
                        };
                        let Ok(owner) = Name::from_utf8(format!("{name}.")) else {
                            continue;
                        };
                        for record in known.iter().filter(|r| r.record_type() == q.query_type()) {
                            if let Some(rdata) = record.rdata() {
                                reply.add_answer(Record::from_rdata(owner.clone(), 300, rdata));
                            }
                        }
                    }
                    if let Ok(bytes) = reply.to_vec() {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                }
            });
        });
        Ok(TxtServer {
            addr,
            queries,
            stop: Some(stop),
        })
    }

    /// How many queries it has answered so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TxtServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl DnsChecker {
    /// The MX hosts of `name`, most preferred first.
    pub async fn mx(&self, name: &str) -> Result<Vec<String>, Error> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => {
                let mut hosts: Vec<(u16, String)> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => {
                            Some((mx.preference, mx.exchange.to_string().trim_end_matches('.').to_owned()))
                        }
                        _ => None,
                    })
                    .collect();
                hosts.sort();
                Ok(hosts.into_iter().map(|(_, h)| h).collect())
            }
            Err(e) if e.is_nx_domain() || e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(dns_error(name, e)),
        }
    }
}
