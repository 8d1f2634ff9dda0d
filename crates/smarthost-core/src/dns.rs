//! The DNS assistant: does a domain's SPF record authorize its relay, what
//! record to publish instead, and are DMARC and DKIM in place. Needs the
//! `dns` feature (hickory-resolver on tokio).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use serde::Serialize;

use crate::domain::DomainName;
use crate::error::Error;
use crate::preset::{Provider, SpfRequirement};
use crate::smarthost::Smarthost;
use crate::spf::{self, Mechanism, Merged, SpfRecord, Term, LOOKUP_LIMIT};

/// Whether the domain's SPF record lets the relay send for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", content = "detail", rename_all = "kebab-case")]
pub enum SpfStatus {
    /// The record (or a record it includes) has the relay's term.
    Authorized,
    /// It does not, or there is no usable record.
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
    /// DNS lookups the record needs, includes followed (at most 10 allowed).
    pub lookups: Option<usize>,
    /// The record to publish instead, when a change is needed.
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

    /// Follows `record` through includes and redirects: whether `wanted`
    /// appears anywhere, and how many lookups it all needs.
    fn expand<'a>(
        &'a self,
        record: SpfRecord,
        wanted: &'a Term,
        depth: usize,
    ) -> Boxed<'a, Result<(bool, usize), Error>> {
        Box::pin(async move {
            let mut found = record.contains(wanted);
            let mut lookups = record.lookups();
            if depth > LOOKUP_LIMIT {
                return Ok((found, lookups));
            }
            for term in record.terms() {
                let target = match term {
                    Term::Directive {
                        mechanism: Mechanism::Include(d),
                        ..
                    } => d,
                    Term::Modifier { name, value } if name == "redirect" => value,
                    _ => continue,
                };
                if target.contains('%') {
                    continue; // macros depend on the message; not followed
                }
                let records = self.txt(target).await?;
                if let Some(text) = records.iter().find(|t| SpfRecord::is_spf(t)) {
                    if let Ok(inner) = SpfRecord::parse(text) {
                        let (inner_found, inner_lookups) = self.expand(inner, wanted, depth + 1).await?;
                        found |= inner_found;
                        lookups += inner_lookups;
                    }
                }
            }
            Ok((found, lookups))
        })
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
                SpfReport {
                    published,
                    status: SpfStatus::NotNeeded(reason),
                    lookups: None,
                    publish: None,
                }
            }
            Some(term) => {
                let mut lookups = None;
                let mut authorized = false;
                if let [only] = published.as_slice() {
                    match SpfRecord::parse(only) {
                        Ok(record) => {
                            let (found, count) = self.expand(record, &term, 0).await?;
                            authorized = found;
                            lookups = Some(count);
                            if count > LOOKUP_LIMIT {
                                warnings.push(format!(
                                    "the SPF record needs {count} DNS lookups with its includes; more than {LOOKUP_LIMIT} is a permanent error (RFC 7208 4.6.4)"
                                ));
                            }
                        }
                        Err(e) => warnings.push(format!("the published SPF record is invalid: {e}")),
                    }
                }
                let publish = if authorized {
                    None
                } else {
                    let merged = spf::merge(&txt, &term)?;
                    warnings.extend(merged.warnings.iter().cloned());
                    Some(merged)
                };
                let status = if authorized {
                    SpfStatus::Authorized
                } else {
                    SpfStatus::NotAuthorized
                };
                SpfReport {
                    published,
                    status,
                    lookups,
                    publish,
                }
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

/// A DNS server for tests: answers TXT queries from a fixed zone on
/// 127.0.0.1 (UDP), NXDOMAIN for names it does not know. It runs on its own
/// thread and stops when dropped. Embedders can test DNS checks with it.
#[derive(Debug)]
pub struct TxtServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TxtServer {
    /// Starts serving `zone`: (name, TXT string) pairs; a name may repeat.
    pub fn start(zone: &[(&str, &str)]) -> std::io::Result<TxtServer> {
        use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
        use hickory_resolver::proto::rr::rdata::TXT;
        use hickory_resolver::proto::rr::{Name, Record, RecordType};
        use std::collections::HashMap;

        let mut records: HashMap<String, Vec<String>> = HashMap::new();
        for (name, txt) in zone {
            records
                .entry(name.trim_end_matches('.').to_ascii_lowercase())
                .or_default()
                .push(txt.to_string());
        }
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        std_socket.set_nonblocking(true)?;
        let addr = std_socket.local_addr()?;
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
                    let mut reply = Message::new(query.metadata.id, MessageType::Response, query.metadata.op_code);
                    reply.metadata.authoritative = true;
                    reply.metadata.recursion_desired = query.metadata.recursion_desired;
                    reply.metadata.recursion_available = true;
                    for q in &query.queries {
                        reply.add_query(q.clone());
                        let name = q.name().to_string().trim_end_matches('.').to_ascii_lowercase();
                        match records.get(&name) {
                            Some(txts) if q.query_type() == RecordType::TXT => {
                                let Ok(owner) = Name::from_utf8(format!("{name}.")) else {
                                    continue;
                                };
                                for txt in txts {
                                    let rdata = RData::TXT(TXT::new(vec![txt.clone()]));
                                    reply.add_answer(Record::from_rdata(owner.clone(), 300, rdata));
                                }
                            }
                            Some(_) => {}
                            None => reply.metadata.response_code = ResponseCode::NXDomain,
                        }
                    }
                    if let Ok(bytes) = reply.to_vec() {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                }
            });
        });
        Ok(TxtServer { addr, stop: Some(stop) })
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
