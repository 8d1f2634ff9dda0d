#![allow(dead_code)] // each test binary uses a part of the relay
//! A small SMTP relay for tests: STARTTLS or implicit TLS with a test CA's
//! certificate, AUTH PLAIN and LOGIN, and a record of every message. Binds
//! 127.0.0.1 only; stops accepting when dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Longest command line accepted; a longer one ends the session.
const MAX_LINE: u64 = 64 * 1024;

/// A certificate authority for tests.
pub(crate) struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pem: String,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "smarthost test CA");
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM.
    pub(crate) fn pem(&self) -> String {
        self.pem.clone()
    }

    /// A server certificate for these DNS names, signed by this CA.
    pub(crate) fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }
}

/// How the relay speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain SMTP offering STARTTLS (port 587 style).
    Starttls,
    /// TLS from the first byte (port 465 style).
    ImplicitTls,
}

/// What a relay is.
pub(crate) struct RelayConfig {
    pub(crate) mode: Mode,
    pub(crate) cert: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    /// Accounts (user, password); AUTH is required and offered over TLS when
    /// there is at least one.
    pub(crate) accounts: Vec<(String, String)>,
    /// Recorded in each delivery.
    pub(crate) name: String,
}

/// How a relay departs from a well-behaved one, for the failure cases of
/// the health tests. The default is a well-behaved relay:
/// [`Relay::start`] uses it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Behaviour {
    /// The mechanisms of the EHLO `AUTH` line instead of `PLAIN LOGIN`
    /// (e.g. `XOAUTH2`, which Cyrus SASL has no client plugin for). A
    /// client that tries another mechanism is refused.
    pub(crate) auth_mechanisms: Option<String>,
    /// Do not offer STARTTLS (a relay without TLS).
    pub(crate) no_starttls: bool,
    /// The reply to MAIL FROM instead of `250` (e.g. a provider's refusal
    /// of an unverified sender).
    pub(crate) mail_reply: Option<String>,
    /// The reply to RCPT TO instead of `250`.
    pub(crate) rcpt_reply: Option<String>,
    /// The reply at the end of DATA instead of `250` (SES refuses an
    /// unverified sender there).
    pub(crate) data_reply: Option<String>,
    /// Accept connections and never say anything (a relay that hangs).
    pub(crate) silent: bool,
}

/// One message the relay accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) relay: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
    pub(crate) username: Option<String>,
    pub(crate) mail_from: String,
    pub(crate) rcpt_to: Vec<String>,
    pub(crate) data: String,
}

struct Shared {
    config: RelayConfig,
    behaviour: Behaviour,
    tls: Arc<rustls::ServerConfig>,
    port: u16,
    deliveries: Mutex<Vec<Delivery>>,
    stop: AtomicBool,
}

/// A running relay.
pub(crate) struct Relay {
    shared: Arc<Shared>,
}

impl Relay {
    pub(crate) fn start(config: RelayConfig) -> Relay {
        Relay::start_with(config, Behaviour::default())
    }

    /// A relay that behaves as `behaviour` says.
    pub(crate) fn start_with(config: RelayConfig, behaviour: Behaviour) -> Relay {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(config.cert.0.clone(), config.cert.1.clone_key())
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            config,
            behaviour,
            tls: Arc::new(tls),
            port,
            deliveries: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let session = accept.clone();
                std::thread::spawn(move || {
                    let _ = session.serve(stream);
                });
            }
        });
        Relay { shared }
    }

    pub(crate) fn port(&self) -> u16 {
        self.shared.port
    }

    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// Waits until `count` messages arrived or `timeout` passed.
    pub(crate) fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let start = Instant::now();
        loop {
            let got = self.deliveries();
            if got.len() >= count || start.elapsed() > timeout {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.shared.port));
    }
}

/// What a session does after its command loop ends.
enum Next {
    Close,
    StartTls,
}

#[derive(Default)]
struct Session {
    user: Option<String>,
    from: Option<String>,
    rcpt: Vec<String>,
}

fn angle(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].to_owned()
}

fn b64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

impl Shared {
    fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        stream.set_write_timeout(Some(Duration::from_secs(30)))?;
        if self.behaviour.silent {
            // Hold the connection open without a greeting until the client
            // gives up (or 30 s pass).
            let _ = (&stream).read(&mut [0u8; 512]);
            return Ok(());
        }
        match self.config.mode {
            Mode::ImplicitTls => {
                let tls = self.wrap(stream)?;
                self.commands(tls, true).map(|_| ())
            }
            Mode::Starttls => match self.commands(stream, false)? {
                (Next::StartTls, plain) => {
                    let tls = self.wrap(plain)?;
                    self.commands(tls, true).map(|_| ())
                }
                (Next::Close, _) => Ok(()),
            },
        }
    }

    fn wrap(&self, stream: TcpStream) -> std::io::Result<rustls::StreamOwned<rustls::ServerConnection, TcpStream>> {
        let conn = rustls::ServerConnection::new(self.tls.clone()).map_err(std::io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, stream);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock)?;
        }
        Ok(tls)
    }

    /// The command loop over one stream; gives the stream back for STARTTLS.
    fn commands<S: Read + Write>(&self, stream: S, tls: bool) -> std::io::Result<(Next, S)> {
        let mut reader = BufReader::new(stream);
        let mut session = Session::default();
        if !tls || self.config.mode == Mode::ImplicitTls {
            reply(&mut reader, "220 localhost ESMTP fake relay")?;
        }
        loop {
            let Some(line) = read_line(&mut reader)? else {
                return Ok((Next::Close, reader.into_inner()));
            };
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" => {
                    session = Session::default();
                    let mut lines = vec!["250-localhost", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME"];
                    let auth = format!(
                        "250-AUTH {}",
                        self.behaviour.auth_mechanisms.as_deref().unwrap_or("PLAIN LOGIN")
                    );
                    if !tls && self.offers_starttls() {
                        lines.push("250-STARTTLS");
                    }
                    if tls && !self.config.accounts.is_empty() {
                        lines.push(&auth);
                    }
                    lines.push("250 ENHANCEDSTATUSCODES");
                    reply(&mut reader, &lines.join("\r\n"))?;
                }
                "STARTTLS" if !tls && self.offers_starttls() => {
                    reply(&mut reader, "220 2.0.0 Ready to start TLS")?;
                    if !reader.buffer().is_empty() {
                        return Ok((Next::Close, reader.into_inner()));
                    }
                    return Ok((Next::StartTls, reader.into_inner()));
                }
                "AUTH" if tls && !self.config.accounts.is_empty() => {
                    let user = self.auth(&mut reader, arg)?;
                    match user {
                        Some(u) => {
                            session.user = Some(u);
                            reply(&mut reader, "235 2.7.0 Authentication successful")?;
                        }
                        None => reply(&mut reader, "535 5.7.8 Authentication credentials invalid")?,
                    }
                }
                "MAIL" => {
                    if !self.config.accounts.is_empty() && session.user.is_none() {
                        reply(&mut reader, "530 5.7.0 Authentication required")?;
                    } else if let Some(refusal) = &self.behaviour.mail_reply {
                        reply(&mut reader, refusal)?;
                    } else {
                        session.from = Some(angle(arg));
                        session.rcpt.clear();
                        reply(&mut reader, "250 2.1.0 Ok")?;
                    }
                }
                "RCPT" if session.from.is_some() => {
                    if let Some(refusal) = &self.behaviour.rcpt_reply {
                        reply(&mut reader, refusal)?;
                    } else {
                        session.rcpt.push(angle(arg));
                        reply(&mut reader, "250 2.1.5 Ok")?;
                    }
                }
                "DATA" if !session.rcpt.is_empty() => {
                    reply(&mut reader, "354 End data with <CR><LF>.<CR><LF>")?;
                    let mut data = String::new();
                    loop {
                        let Some(line) = read_line(&mut reader)? else {
                            return Ok((Next::Close, reader.into_inner()));
                        };
                        if line == "." {
                            break;
                        }
                        data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        data.push('\n');
                    }
                    if let Some(refusal) = &self.behaviour.data_reply {
                        session.from = None;
                        session.rcpt.clear();
                        reply(&mut reader, refusal)?;
                        continue;
                    }
                    self.deliveries.lock().unwrap().push(Delivery {
                        relay: self.config.name.clone(),
                        port: self.port,
                        tls,
                        username: session.user.clone(),
                        mail_from: session.from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut session.rcpt),
                        data,
                    });
                    reply(&mut reader, "250 2.0.0 Ok: queued")?;
                }
                "RSET" => {
                    session.from = None;
                    session.rcpt.clear();
                    reply(&mut reader, "250 2.0.0 Ok")?;
                }
                "NOOP" => reply(&mut reader, "250 2.0.0 Ok")?,
                "QUIT" => {
                    reply(&mut reader, "221 2.0.0 Bye")?;
                    return Ok((Next::Close, reader.into_inner()));
                }
                _ => reply(&mut reader, "502 5.5.2 Error: command not recognized")?,
            }
        }
    }

    fn offers_starttls(&self) -> bool {
        self.config.mode == Mode::Starttls && !self.behaviour.no_starttls
    }

    /// AUTH PLAIN (with or without initial response) or LOGIN; the user
    /// name when the credentials are right.
    fn auth<S: Read + Write>(&self, reader: &mut BufReader<S>, arg: &str) -> std::io::Result<Option<String>> {
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let ask = |reader: &mut BufReader<S>, prompt: &str| -> std::io::Result<Option<String>> {
            reply(reader, prompt)?;
            Ok(read_line(reader)?.filter(|l| l != "*"))
        };
        let offered = self.behaviour.auth_mechanisms.as_deref().unwrap_or("PLAIN LOGIN");
        let mechanism = mechanism.to_ascii_uppercase();
        if !offered.split_whitespace().any(|m| m.eq_ignore_ascii_case(&mechanism)) {
            return Ok(None);
        }
        let (user, pass) = match mechanism.as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    ask(reader, "334 ")?
                } else {
                    Some(initial.to_owned())
                };
                let Some(decoded) = response.as_deref().and_then(b64) else {
                    return Ok(None);
                };
                let mut parts = decoded.split('\0');
                let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
                (user.map(str::to_owned), pass.map(str::to_owned))
            }
            "LOGIN" => {
                let user = ask(reader, "334 VXNlcm5hbWU6")?.as_deref().and_then(b64);
                let pass = ask(reader, "334 UGFzc3dvcmQ6")?.as_deref().and_then(b64);
                (user, pass)
            }
            _ => (None, None),
        };
        let ok = match (&user, &pass) {
            (Some(u), Some(p)) => self.config.accounts.iter().any(|(au, ap)| au == u && ap == p),
            _ => false,
        };
        Ok(user.filter(|_| ok))
    }
}

fn reply<S: Read + Write>(reader: &mut BufReader<S>, text: &str) -> std::io::Result<()> {
    let stream = reader.get_mut();
    stream.write_all(text.as_bytes())?;
    stream.write_all(b"\r\n")?;
    stream.flush()
}

/// One line without its CRLF; `None` at end of stream or past the cap.
fn read_line<S: Read + Write>(reader: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line)?;
    if n == 0 || !line.ends_with(b"\n") {
        return Ok(None);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}
