//! The check itself: one step after another, each with a timeout.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine as _;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::names::NameRule;
use super::smtp::{read_reply, send, Reply};
use super::tls::{describe, Accepted, Recording};
use super::{CheckOptions, CheckReport, Failure, NameCheck, Step, StepName, StepStatus};
use crate::encryption::Encryption;
use crate::peer_text::Redactor;
use crate::preset::Provider;
use crate::relay::Host;
use crate::smarthost::Smarthost;

/// Remembers the first bytes the server sent, to tell plain SMTP from TLS
/// garbage when a handshake fails.
struct Recorder<S> {
    inner: S,
    first: Arc<Mutex<Vec<u8>>>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorder<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let mut first = self.first.lock().unwrap_or_else(|e| e.into_inner());
        if first.len() < 16 {
            let new = &buf.filled()[before..];
            let room = 16 - first.len();
            first.extend_from_slice(&new[..new.len().min(room)]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorder<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

type Plain = BufReader<Recorder<TcpStream>>;
type Tls = BufReader<tokio_rustls::client::TlsStream<Recorder<TcpStream>>>;

/// Runs every step; the report ends at the first failure.
pub async fn check(smarthost: &Smarthost, options: &CheckOptions) -> super::CheckReport {
    let mut report = CheckReport::new(smarthost);
    let redactor = match &smarthost.credentials {
        Some(credentials) => Redactor::new().with_credentials(credentials),
        None => Redactor::new(),
    };
    let mut run = Run {
        smarthost,
        options,
        report: &mut report,
        first: Arc::new(Mutex::new(Vec::new())),
        redactor,
    };
    let done = run.all().await.is_ok();
    report.ok = done && report.steps.iter().all(|s| s.status == StepStatus::Ok);
    report
}

struct Run<'a> {
    smarthost: &'a Smarthost,
    options: &'a CheckOptions,
    report: &'a mut CheckReport,
    first: Arc<Mutex<Vec<u8>>>,
    /// Makes the server's text safe for the report: the credentials and
    /// their AUTH encodings redacted, controls escaped, length capped.
    redactor: Redactor,
}

/// A step failed; it is already in the report.
struct Stop;

impl<'a> Run<'a> {
    /// The TLS steps' context, borrowing what the run borrows, not the run.
    fn ctx_owned(&self) -> Ctx<'a> {
        Ctx {
            smarthost: self.smarthost,
            options: self.options,
            first: self.first.clone(),
        }
    }

    async fn step<T>(
        &mut self,
        name: StepName,
        work: impl Future<Output = Result<(T, String), Failure>>,
    ) -> Result<T, Stop> {
        let start = Instant::now();
        let outcome = match tokio::time::timeout(self.options.step_timeout, work).await {
            Ok(r) => r,
            Err(_) if name == StepName::Banner => Err(Failure::NoBanner),
            Err(_) => Err(Failure::Timeout),
        };
        let duration_ms = start.elapsed().as_millis() as u64;
        match outcome {
            Ok((value, detail)) => {
                let detail = self.redactor.sanitize(&detail);
                let status = StepStatus::Ok;
                self.report.steps.push(Step {
                    name,
                    status,
                    duration_ms,
                    detail,
                    failure: None,
                    advice: None,
                });
                Ok(value)
            }
            Err(failure) => {
                let failure = failure.sanitized(&self.redactor);
                let advice = self.advice(name, &failure);
                let detail = format!("failed after {duration_ms} ms");
                let status = StepStatus::Failed;
                let failure = Some(failure);
                self.report.steps.push(Step {
                    name,
                    status,
                    duration_ms,
                    detail,
                    failure,
                    advice: Some(advice),
                });
                Err(Stop)
            }
        }
    }

    async fn all(&mut self) -> Result<(), Stop> {
        let addrs = self
            .step(StepName::Resolve, resolve(self.smarthost, self.options))
            .await?;
        let stream = self.step(StepName::Connect, connect(addrs)).await?;
        let plain = Recorder {
            inner: stream,
            first: self.first.clone(),
        };
        match self.smarthost.encryption {
            Encryption::ImplicitTls => {
                let ctx = self.ctx_owned();
                let session = self.step(StepName::Tls, ctx.handshake(plain)).await?;
                self.report.tls = Some(session.info);
                self.report.trust = session.trust;
                let mut tls: Tls = BufReader::new(session.stream);
                self.banner(&mut tls).await?;
                self.ehlo(&mut tls, StepName::Ehlo).await?;
                self.auth(&mut tls).await?;
                self.quit(&mut tls).await
            }
            Encryption::Starttls => {
                let mut plain: Plain = BufReader::new(plain);
                self.banner(&mut plain).await?;
                self.ehlo(&mut plain, StepName::Ehlo).await?;
                let (ctx, offered) = (self.ctx_owned(), self.offers("STARTTLS"));
                let session = self.step(StepName::Starttls, ctx.starttls(offered, plain)).await?;
                self.report.tls = Some(session.info);
                self.report.trust = session.trust;
                let mut tls: Tls = BufReader::new(session.stream);
                self.ehlo(&mut tls, StepName::EhloTls).await?;
                self.auth(&mut tls).await?;
                self.quit(&mut tls).await
            }
            Encryption::None => {
                let mut plain: Plain = BufReader::new(plain);
                self.banner(&mut plain).await?;
                self.ehlo(&mut plain, StepName::Ehlo).await?;
                self.auth(&mut plain).await?;
                self.quit(&mut plain).await
            }
        }
    }

    async fn banner<S: AsyncRead + AsyncWrite + Unpin>(&mut self, s: &mut BufReader<S>) -> Result<(), Stop> {
        self.step(StepName::Banner, async {
            let reply = read_reply(s).await?;
            expect(&reply, 220)?;
            Ok(((), reply.text()))
        })
        .await
    }

    async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        s: &mut BufReader<S>,
        name: StepName,
    ) -> Result<(), Stop> {
        let ehlo = format!("EHLO {}", self.options.ehlo_name);
        let redactor = self.redactor.clone();
        let extensions = self
            .step(name, async {
                send(s, &ehlo).await?;
                let reply = read_reply(s).await?;
                expect(&reply, 250)?;
                let extensions: Vec<String> = reply.lines.iter().skip(1).map(|l| redactor.sanitize(l)).collect();
                let detail = format!("offers {}", extensions.join(", "));
                Ok((extensions, detail))
            })
            .await?;
        self.report.auth_mechanisms = extensions
            .iter()
            .find_map(|e| {
                e.get(..5)
                    .filter(|p| p.eq_ignore_ascii_case("AUTH ") || p.eq_ignore_ascii_case("AUTH="))
                    .map(|_| &e[5..])
            })
            .map(|m| m.split_whitespace().map(|x| x.to_ascii_uppercase()).collect())
            .unwrap_or_default();
        self.report.extensions = extensions;
        Ok(())
    }
}

/// What the TLS steps need, without borrowing the run.
#[derive(Clone)]
struct Ctx<'a> {
    smarthost: &'a Smarthost,
    options: &'a CheckOptions,
    first: Arc<Mutex<Vec<u8>>>,
}

impl Ctx<'_> {
    fn server_name(&self) -> Result<ServerName<'static>, Failure> {
        match self.smarthost.relay.host() {
            Host::Name(n) => ServerName::try_from(n.to_string()).map_err(|e| Failure::Handshake(e.to_string())),
            Host::Ipv4(a) => Ok(ServerName::IpAddress(IpAddr::V4(*a).into())),
            Host::Ipv6(a) => Ok(ServerName::IpAddress(IpAddr::V6(*a).into())),
        }
    }

    /// The TLS handshake, as a step's work: the stream, and what the report
    /// shows about the session.
    async fn handshake(&self, stream: Recorder<TcpStream>) -> Result<(TlsSession, String), Failure> {
        let (connector, verifier) = connector(self.smarthost, self.options)?;
        let result = connector.connect(self.server_name()?, stream).await;
        let seen = verifier.seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut info = seen.as_ref().map(|der| describe(der)).unwrap_or_default();
        let trust = self.trust(&verifier);
        match result {
            Ok(tls) => {
                let (_, conn) = tls.get_ref();
                info.version = conn.protocol_version().map(|v| format!("{v:?}")).unwrap_or_default();
                info.cipher = conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()))
                    .unwrap_or_default();
                let verified = match &trust {
                    Some(trust) => format!("; verified: {trust}"),
                    None => "; certificate NOT checked".to_owned(),
                };
                let detail = format!(
                    "{} {}; certificate {} issued by {}, expires {} ({} days left){verified}",
                    info.version, info.cipher, info.subject, info.issuer, info.not_after, info.days_left
                );
                Ok((
                    TlsSession {
                        stream: tls,
                        info,
                        trust,
                    },
                    detail,
                ))
            }
            Err(e) => {
                let verdict = verifier.verdict.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(failure) = verdict {
                    return Err(failure);
                }
                let rustls_error = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()).cloned();
                let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).clone();
                Err(classify(rustls_error, &e, &info, &first))
            }
        }
    }

    /// What the certificate was checked against, once it passed: `None`
    /// when the check is off.
    fn trust(&self, verifier: &Recording) -> Option<String> {
        if !self.options.check_certificate {
            return None;
        }
        let source = trust_source(self.options);
        let rule = name_rule(self.smarthost, self.options).written;
        Some(match *verifier.accepted.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Accepted::Pinned) => format!("pinned (the certificate itself is in {source}), {rule}"),
            _ => format!("chain to {source}, {rule}"),
        })
    }

    /// STARTTLS, then the handshake on the same connection.
    async fn starttls(&self, offered: bool, mut plain: Plain) -> Result<(TlsSession, String), Failure> {
        if !offered {
            return Err(Failure::NoStarttls);
        }
        send(&mut plain, "STARTTLS").await?;
        let reply = read_reply(&mut plain).await?;
        expect(&reply, 220)?;
        if !plain.buffer().is_empty() {
            // Bytes sent before the handshake could be injected commands.
            return Err(Failure::Handshake(
                "the server sent data right after its STARTTLS reply".into(),
            ));
        }
        self.handshake(plain.into_inner()).await
    }
}

impl Run<'_> {
    fn offers(&self, extension: &str) -> bool {
        let word = |e: &String| {
            e.split_whitespace()
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(extension))
        };
        self.report.extensions.iter().any(word)
    }

    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(&mut self, s: &mut BufReader<S>) -> Result<(), Stop> {
        let Some(credentials) = self.smarthost.credentials.clone() else {
            return Ok(());
        };
        let offered = self.report.auth_mechanisms.clone();
        let tls = self.smarthost.encryption != Encryption::None;
        self.step(StepName::Auth, async move {
            if offered.is_empty() {
                return Err(Failure::AuthNotOffered);
            }
            let user = credentials.username().as_str();
            let pass = credentials.password().expose();
            let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
            let mechanism = if offered.iter().any(|m| m == "PLAIN") {
                send(s, &format!("AUTH PLAIN {}", b64(&format!("\0{user}\0{pass}")))).await?;
                "PLAIN"
            } else if offered.iter().any(|m| m == "LOGIN") {
                send(s, "AUTH LOGIN").await?;
                expect(&read_reply(s).await?, 334)?;
                send(s, &b64(user)).await?;
                expect(&read_reply(s).await?, 334)?;
                send(s, &b64(pass)).await?;
                "LOGIN"
            } else {
                return Err(Failure::NoMechanism(offered));
            };
            let reply = read_reply(s).await?;
            match reply.code {
                235 => Ok((
                    (),
                    format!(
                        "accepted: AUTH {mechanism} as {user}{}",
                        if tls { "" } else { " WITHOUT encryption" }
                    ),
                )),
                code if code >= 500 || code == 454 || code == 435 => Err(Failure::AuthRejected(code, reply.text())),
                code => Err(Failure::Unexpected(code, reply.text())),
            }
        })
        .await
    }

    async fn quit<S: AsyncRead + AsyncWrite + Unpin>(&mut self, s: &mut BufReader<S>) -> Result<(), Stop> {
        self.step(StepName::Quit, async {
            send(s, "QUIT").await?;
            match read_reply(s).await {
                Ok(reply) => Ok(((), format!("{} {}", reply.code, reply.text()))),
                Err(Failure::Closed) => Ok(((), "closed".to_owned())),
                Err(f) => Err(f),
            }
        })
        .await
    }

    /// Whether names are matched by Postfix's defaults for an address
    /// (nexthop, dot-nexthop).
    fn dot_nexthop(&self) -> bool {
        name_rule(self.smarthost, self.options).is_dot_nexthop()
    }

    fn trust_source(&self) -> String {
        trust_source(self.options)
    }

    /// Whether the check is Postfix's.
    fn postfix(&self) -> bool {
        self.options.names == NameCheck::Postfix
    }

    /// Where an administrator adds a trust anchor.
    fn trust_store(&self) -> &'static str {
        if self.postfix() {
            "smtp_tls_CAfile"
        } else {
            "this server's trust store"
        }
    }

    /// The likely cause and the fix, in plain words.
    fn advice(&self, step: StepName, failure: &Failure) -> String {
        let relay = &self.smarthost.relay;
        let (host, port) = (relay.host().to_string(), relay.port());
        match failure {
            Failure::Resolve(why) => format!("{host} does not resolve ({why}): check the spelling and this server's DNS"),
            Failure::Refused => format!(
                "connection refused: nothing listens on {host} port {port}; check the port (587 for STARTTLS, 465 for implicit TLS) and that the relay accepts this server"
            ),
            Failure::Timeout if step == StepName::Connect => format!(
                "connection timed out: no answer from {host}:{port}; a firewall drops the traffic (many hosting providers block outgoing port 25) or the relay is down"
            ),
            Failure::Timeout => format!("the server stopped answering during {step}: it is overloaded or broken; try again later"),
            Failure::NoBanner if self.smarthost.encryption != Encryption::ImplicitTls && port == 465 => {
                "no greeting: port 465 expects TLS immediately: choose implicit TLS (SSL)".to_owned()
            }
            Failure::NoBanner => format!(
                "no greeting within {} s: the server may expect TLS immediately (implicit TLS, usually on port 465), or it is overloaded",
                self.options.step_timeout.as_secs_f32()
            ),
            Failure::PlainOnTlsPort => format!(
                "port {port} speaks plain SMTP, not TLS: choose STARTTLS (TLS) instead of implicit TLS (SSL), or the relay's implicit-TLS port (usually 465)"
            ),
            Failure::NotSmtp(start) => format!(
                "the server did not answer in SMTP ({start:?}): if it expects TLS immediately, choose implicit TLS (SSL)"
            ),
            Failure::Closed => "the server closed the connection: it may refuse this server's address".to_owned(),
            Failure::Io(why) => format!("the connection failed: {why}"),
            Failure::LineTooLong => "the server sent an oversized line: it is not a working SMTP server".to_owned(),
            Failure::ReplyTooLong => "the server sent an endless reply: it is not a working SMTP server".to_owned(),
            Failure::Handshake(why) => format!("TLS handshake failed: {why}"),
            Failure::NoStarttls => {
                "server does not offer STARTTLS: choose implicit TLS if it listens on port 465, or no encryption only on a trusted network".to_owned()
            }
            Failure::CertificateExpired(date) => format!(
                "certificate expired on {date}{}: the relay must renew it; to relay anyway, turn the certificate check off for this level",
                if self.postfix() { " (Postfix refuses it too: \"certificate has expired\")" } else { "" }
            ),
            Failure::CertificateNotYetValid => {
                "certificate is not valid yet: check this server's clock (and the relay's certificate dates)".to_owned()
            }
            Failure::CertificateWrongName(names) if self.dot_nexthop() => format!(
                "certificate is for {}; the relay is given by its address {host}, and the `secure` policy Postfix gets for an address (no match=, so Postfix's default nexthop, dot-nexthop) also requires a name ending in .{host}, which no certificate has: Postfix would defer every message (\"Server certificate not verified\"); give the relay by a host name its certificate names, or turn the certificate check off for this level",
                shown(names)
            ),
            Failure::CertificateWrongName(names) => format!(
                "certificate is for {}, not {host}{}: use a host name the certificate names, or turn the certificate check off for this level",
                shown(names),
                if self.postfix() { format!(" (Postfix's `secure match={host}` refuses it)") } else { String::new() }
            ),
            Failure::CertificateUntrusted => format!(
                "certificate is not signed by a trusted authority: no CA in {} signed it (a private CA, or the relay does not send its intermediate certificate); add the relay's CA to {}, or turn the certificate check off for this level",
                self.trust_source(),
                self.trust_store()
            ),
            Failure::CertificateSelfSigned => format!(
                "certificate is self-signed and not pinned: {}, and it is not in {}; add the relay's certificate there, or turn the certificate check off for this level",
                if self.postfix() {
                    "Postfix trusts a self-signed relay certificate only when that very certificate is in smtp_tls_CAfile"
                } else {
                    "a self-signed relay certificate is trusted only when it is itself in the trust store"
                },
                self.trust_source()
            ),
            Failure::CertificateIsCa => format!(
                "the relay presents a CA certificate (CA:TRUE) as its own, and it is not pinned in {}: the relay should use a server certificate; if it is the relay's own self-signed certificate, add it to {}; or turn the certificate check off for this level",
                self.trust_source(),
                self.trust_store()
            ),
            Failure::CertificateWrongPurpose => format!(
                "certificate is not for TLS servers (its key usage or extended key usage excludes it){}: the relay needs a server certificate, or turn the certificate check off for this level",
                if self.postfix() { "; Postfix refuses it too" } else { "" }
            ),
            Failure::Certificate(why) => format!(
                "certificate rejected: {why}; the relay must fix its certificate, or turn the certificate check off for this level"
            ),
            Failure::AuthNotOffered => "server does not offer AUTH: remove the credentials if the relay accepts this server by its IP address, or check the port".to_owned(),
            Failure::NoMechanism(offered) => format!(
                "server offers AUTH {} only; Postfix is set up for PLAIN and LOGIN",
                offered.join(" ")
            ),
            Failure::AuthRejected(code, text) => {
                let hint = match Provider::for_relay(relay) {
                    Some(p) => match p.username {
                        Some(u) => format!(" ({} uses the user name {u})", p.title),
                        None => format!(" ({}: {})", p.title, p.credentials),
                    },
                    None => String::new(),
                };
                format!("authentication rejected ({code} {text}): check the username and password{hint}")
            }
            Failure::Unexpected(code, text) => format!("unexpected reply {code} {text}"),
        }
    }
}

/// The names of a certificate for the advice.
fn shown(names: &[String]) -> String {
    if names.is_empty() {
        "no host name".to_owned()
    } else {
        names.join(", ")
    }
}

/// A TLS stream and what it is.
struct TlsSession {
    stream: tokio_rustls::client::TlsStream<Recorder<TcpStream>>,
    info: super::TlsInfo,
    trust: Option<String>,
}

fn expect(reply: &Reply, code: u16) -> Result<(), Failure> {
    if reply.code == code {
        Ok(())
    } else {
        Err(Failure::Unexpected(reply.code, reply.text()))
    }
}

async fn resolve(smarthost: &Smarthost, options: &CheckOptions) -> Result<(Vec<SocketAddr>, String), Failure> {
    let relay = &smarthost.relay;
    let port = relay.port();
    let (host, mx_note) = match relay.host() {
        Host::Ipv4(a) => {
            return Ok((
                vec![SocketAddr::new(IpAddr::V4(*a), port)],
                format!("{a} (address given)"),
            ))
        }
        Host::Ipv6(a) => {
            return Ok((
                vec![SocketAddr::new(IpAddr::V6(*a), port)],
                format!("{a} (address given)"),
            ))
        }
        Host::Name(name) if relay.mx_lookup() => {
            let mx = mx_hosts(name.as_str(), options).await?;
            let first = mx
                .first()
                .cloned()
                .ok_or_else(|| Failure::Resolve(format!("{name} has no MX record")))?;
            let note = format!(
                "MX of {name}: {} (Postfix also looks up SRV only for services in use_srv_lookup, which smarthost does not set); ",
                mx.join(", ")
            );
            (first, note)
        }
        Host::Name(name) => (name.to_string(), String::new()),
    };
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| Failure::Resolve(e.to_string()))?
        .collect();
    if addrs.is_empty() {
        return Err(Failure::Resolve(format!("{host} has no address")));
    }
    let list = addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ");
    Ok((addrs, format!("{mx_note}{host} -> {list}")))
}

/// MX hosts by preference.
async fn mx_hosts(name: &str, options: &CheckOptions) -> Result<Vec<String>, Failure> {
    let checker = match options.dns_server {
        Some(server) => crate::dns::DnsChecker::with_server(server),
        None => crate::dns::DnsChecker::system(),
    }
    .map_err(|e| Failure::Resolve(e.to_string()))?;
    checker.mx(name).await.map_err(|e| Failure::Resolve(e.to_string()))
}

async fn connect(addrs: Vec<SocketAddr>) -> Result<(TcpStream, String), Failure> {
    let mut last = Failure::Refused;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok((stream, format!("connected to {addr}"))),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => last = Failure::Refused,
            Err(e) => last = Failure::Io(e.to_string()),
        }
    }
    Err(last)
}

fn connector(smarthost: &Smarthost, options: &CheckOptions) -> Result<(TlsConnector, Arc<Recording>), Failure> {
    let roots = match &options.roots {
        Some(certs) => certs.clone(),
        None if options.check_certificate => rustls_native_certs::load_native_certs().certs,
        None => Vec::new(),
    };
    let rule = name_rule(smarthost, options);
    let verifier = Recording::new(roots, options.check_certificate, rule).map_err(Failure::Handshake)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Handshake(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    // Postfix sends no SNI unless smtp_tls_servername is set (default
    // empty): a relay that picks its certificate by SNI shows Postfix its
    // default one, and so it must show the check.
    config.enable_sni = options.names == NameCheck::Relay;
    Ok((TlsConnector::from(Arc::new(config)), verifier))
}

/// How names are matched for this relay.
fn name_rule(smarthost: &Smarthost, options: &CheckOptions) -> NameRule {
    match options.names {
        NameCheck::Postfix => NameRule::postfix(&smarthost.relay),
        NameCheck::Relay => NameRule::relay(&smarthost.relay),
    }
}

/// Where the trust anchors come from, in words.
fn trust_source(options: &CheckOptions) -> String {
    match (&options.trust_source, &options.roots) {
        (Some(source), _) => source.clone(),
        (None, Some(_)) => "the given CA file".to_owned(),
        (None, None) => "the system CA store".to_owned(),
    }
}

/// Turns a failed handshake into a failure an administrator can act on.
fn classify(error: Option<rustls::Error>, io: &std::io::Error, info: &super::TlsInfo, first: &[u8]) -> Failure {
    match error {
        Some(rustls::Error::InvalidCertificate(cert)) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                Failure::CertificateExpired(info.not_after.clone())
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Failure::CertificateNotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Failure::CertificateWrongName(info.names.clone())
            }
            CertificateError::UnknownIssuer => Failure::CertificateUntrusted,
            other => Failure::Certificate(other.to_string()),
        },
        _ if first.starts_with(b"220") || first.starts_with(b"554") || first.starts_with(b"421") => {
            Failure::PlainOnTlsPort
        }
        Some(e) => Failure::Handshake(e.to_string()),
        None if io.kind() == std::io::ErrorKind::UnexpectedEof => Failure::Closed,
        None => Failure::Handshake(io.to_string()),
    }
}
