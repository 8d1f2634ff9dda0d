#![allow(dead_code)] // each test binary uses a different part of the relay
//! A fake SMTP relay ("smarthost") for integration tests.
//!
//! Synchronous (std threads and `std::net` only), listening on 127.0.0.1 and
//! nowhere else. It speaks enough ESMTP for a real Postfix smtp client:
//! PIPELINING, STARTTLS or implicit TLS (rustls, certificates from a
//! [`TestCa`]), AUTH PLAIN and LOGIN (offered only over TLS), and records every
//! accepted message as a [`Delivery`].
//!
//! ```ignore
//! let ca = TestCa::new();
//! let relay = Relay::start(RelayConfig {
//!     mode: Mode::Starttls,
//!     cert: ca.leaf(&["localhost"]),
//!     accounts: vec![("user".into(), "secret".into())],
//!     name: "primary".into(),
//! });
//! // ... point Postfix at [localhost]:relay.port(), trust ca.pem() ...
//! let got = relay.wait_for(1, Duration::from_secs(30));
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// Longest line (command or message line, CRLF included) the relay accepts;
/// a longer one gets `500` and ends the session.
const MAX_LINE: usize = 64 * 1024;

/// Largest message accepted, as advertised in `SIZE`.
const MAX_MESSAGE: usize = 10_240_000;

/// Read and write timeout of every session socket.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A certificate authority for tests, made with rcgen.
///
/// Its certificate ([`TestCa::pem`]) is what a client trusts (Postfix's
/// `smtp_tls_CAfile`); [`TestCa::leaf`] issues server certificates.
pub(crate) struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl TestCa {
    /// A new CA with a fresh ECDSA P-256 key and a name unique in this
    /// process, valid from a day ago for a year.
    pub(crate) fn new() -> TestCa {
        let key = rcgen::KeyPair::generate().expect("test CA: generate key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("test CA: params");
        // A distinct name per CA, so that a certificate from another TestCa
        // is an unknown issuer rather than a bad signature.
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let n = SERIAL.fetch_add(1, Ordering::Relaxed);
        let cn = format!("smarthost test CA {}-{n}", std::process::id());
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch();
        params.not_before = now - DAY;
        params.not_after = now + 365 * DAY;
        let cert = params.self_signed(&key).expect("test CA: self-sign");
        TestCa {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM (for a CA file such as `smtp_tls_CAfile`).
    pub(crate) fn pem(&self) -> String {
        self.pem.clone()
    }

    /// The CA certificate, DER (for a rustls `RootCertStore`).
    pub(crate) fn der(&self) -> CertificateDer<'static> {
        self.der.clone()
    }

    /// A server certificate for `names` (DNS names, or IP addresses such as
    /// `"127.0.0.1"`) signed by this CA, valid from a day ago for 30 days,
    /// with its PKCS#8 key. The chain holds the leaf only.
    ///
    /// Panics when a name is not a valid DNS name or IP address.
    pub(crate) fn leaf(&self, names: &[&str]) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let (cert, key) = self.issue(names);
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        (vec![cert.der().clone()], key)
    }

    /// Like [`TestCa::leaf`], as PEM: (certificate chain, PKCS#8 private key).
    pub(crate) fn leaf_pem(&self, names: &[&str]) -> (String, String) {
        let (cert, key) = self.issue(names);
        (cert.pem(), key.serialize_pem())
    }

    fn issue(&self, names: &[&str]) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("leaf: generate key");
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(sans).expect("leaf: invalid name");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            names.first().copied().unwrap_or("fake relay"),
        );
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch();
        params.not_before = now - DAY;
        params.not_after = now + 30 * DAY;
        let cert = params.signed_by(&key, &self.issuer).expect("leaf: sign");
        (cert, key)
    }
}

/// Time since the Unix epoch; added to `rcgen::date_time_ymd(1970, 1, 1)`
/// it is "now" in rcgen's date type, which rcgen does not re-export.
fn since_epoch() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// How the relay speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Plain connection offering STARTTLS in the EHLO reply (port 25/587 style).
    Starttls,
    /// TLS handshake right after accept (port 465 style).
    ImplicitTls,
}

/// What a relay is.
pub(crate) struct RelayConfig {
    /// STARTTLS or implicit TLS.
    pub(crate) mode: Mode,
    /// Server certificate chain and key, as from [`TestCa::leaf`].
    pub(crate) cert: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>),
    /// Accounts (user, password). When there is at least one, AUTH is
    /// offered over TLS only and required before MAIL; when empty, AUTH is
    /// neither offered nor required.
    pub(crate) accounts: Vec<(String, String)>,
    /// A label recorded in each [`Delivery`].
    pub(crate) name: String,
}

/// One message the relay accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// [`RelayConfig::name`] of the relay that accepted it.
    pub(crate) relay: String,
    /// The relay's port.
    pub(crate) port: u16,
    /// Whether the session was encrypted when MAIL FROM was sent.
    pub(crate) tls: bool,
    /// The authenticated user, if any.
    pub(crate) username: Option<String>,
    /// The reverse path, without angle brackets (empty for `<>`).
    pub(crate) mail_from: String,
    /// The forward paths, without angle brackets, in order.
    pub(crate) rcpt_to: Vec<String>,
    /// The message as sent after DATA: line endings as received (CRLF from a
    /// well-behaved client), dot-stuffing undone, the final `.` line removed.
    /// Invalid UTF-8 is replaced.
    pub(crate) data: String,
}

/// A running relay on 127.0.0.1. Dropping it stops accepting connections;
/// sessions already running end when their client leaves or times out.
pub(crate) struct Relay {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

struct Shared {
    name: String,
    mode: Mode,
    accounts: Vec<(String, String)>,
    tls: Arc<ServerConfig>,
    port: u16,
    deliveries: Mutex<Vec<Delivery>>,
    stop: AtomicBool,
}

impl Relay {
    /// Binds 127.0.0.1 on a free port and accepts connections in a
    /// background thread, one thread per session.
    ///
    /// Panics when the certificate and key do not fit or binding fails.
    pub(crate) fn start(config: RelayConfig) -> Relay {
        let RelayConfig {
            mode,
            cert: (chain, key),
            accounts,
            name,
        } = config;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("fake relay: protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("fake relay: certificate and key");
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("fake relay: bind 127.0.0.1");
        let port = listener.local_addr().expect("fake relay: local address").port();
        let shared = Arc::new(Shared {
            name,
            mode,
            accounts,
            tls: Arc::new(tls),
            port,
            deliveries: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("relay-{port}"))
            .spawn(move || accepting.accept(listener))
            .expect("fake relay: spawn accept thread");
        Relay {
            shared,
            accept: Some(accept),
        }
    }

    /// The port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.shared.port
    }

    /// The messages accepted so far, in order.
    pub(crate) fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries().clone()
    }

    /// Waits until at least `count` messages arrived or `timeout` passed;
    /// returns those that arrived either way.
    pub(crate) fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.deliveries();
            if got.len() >= count || Instant::now() >= deadline {
                return got;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept thread; it sees the flag and closes the listener.
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.shared.port));
        if TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok() {
            if let Some(accept) = self.accept.take() {
                let _ = accept.join();
            }
        }
    }
}

/// A session's connection, before or after TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }

    /// Sends a TLS close_notify when encrypted; best effort.
    fn close(&mut self) {
        if let Conn::Tls(tls) = self {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

type Reader = BufReader<Conn>;

/// What the command loop does next.
enum Next {
    Continue,
    StartTls,
    Quit,
}

/// SMTP session state; reset by STARTTLS.
#[derive(Default)]
struct State {
    helo: bool,
    user: Option<String>,
    mail: Option<Transaction>,
}

struct Transaction {
    from: String,
    tls: bool,
    rcpt: Vec<String>,
}

impl Shared {
    fn deliveries(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn accept(self: Arc<Self>, listener: TcpListener) {
        for stream in listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            match stream {
                Ok(stream) => {
                    let session = Arc::clone(&self);
                    let spawned = thread::Builder::new()
                        .name(format!("relay-{}-session", self.port))
                        .spawn(move || session.serve(stream));
                    if let Err(e) = spawned {
                        eprintln!("fake relay {}: cannot spawn session: {e}", self.name);
                    }
                }
                Err(e) => {
                    eprintln!("fake relay {}: accept: {e}", self.name);
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn serve(&self, stream: TcpStream) {
        if let Err(e) = self.session(stream) {
            eprintln!("fake relay {}: session ended: {e}", self.name);
        }
    }

    fn session(&self, stream: TcpStream) -> io::Result<()> {
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        let conn = match self.mode {
            Mode::Starttls => Conn::Plain(stream),
            Mode::ImplicitTls => self.handshake(stream)?,
        };
        let mut reader = BufReader::new(conn);
        let mut state = State::default();
        reply(&mut reader, "220 localhost ESMTP fake relay")?;
        loop {
            let Some(line) = read_line(&mut reader)? else {
                return Ok(());
            };
            let line = String::from_utf8_lossy(trim_eol(&line)).into_owned();
            match self.command(&mut reader, &mut state, &line)? {
                Next::Continue => {}
                Next::StartTls => {
                    // The command checked that nothing is buffered, so no
                    // plaintext is carried into the TLS session.
                    let tcp = match reader.into_inner() {
                        Conn::Plain(tcp) => tcp,
                        Conn::Tls(_) => return Err(io::Error::other("STARTTLS inside TLS")),
                    };
                    reader = BufReader::new(self.handshake(tcp)?);
                    state = State::default();
                }
                Next::Quit => {
                    reader.get_mut().close();
                    return Ok(());
                }
            }
        }
    }

    fn handshake(&self, tcp: TcpStream) -> io::Result<Conn> {
        let conn = ServerConnection::new(Arc::clone(&self.tls)).map_err(io::Error::other)?;
        let mut tls = StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            let (read, written) = tls.conn.complete_io(&mut tls.sock)?;
            if read == 0 && written == 0 && tls.conn.is_handshaking() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(Conn::Tls(Box::new(tls)))
    }

    fn auth_offered(&self, tls: bool) -> bool {
        tls && !self.accounts.is_empty()
    }

    fn command(&self, reader: &mut Reader, state: &mut State, line: &str) -> io::Result<Next> {
        let tls = reader.get_ref().is_tls();
        let (verb, arg) = match line.split_once(' ') {
            Some((verb, arg)) => (verb, arg.trim()),
            None => (line, ""),
        };
        let text = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 5.5.4 Syntax: EHLO hostname".to_owned(),
            "EHLO" => {
                state.helo = true;
                state.mail = None;
                let mut lines = vec!["250-localhost", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME"];
                if !tls && self.mode == Mode::Starttls {
                    lines.push("250-STARTTLS");
                }
                if self.auth_offered(tls) {
                    lines.push("250-AUTH PLAIN LOGIN");
                }
                lines.push("250 ENHANCEDSTATUSCODES");
                lines.join("\r\n")
            }
            "HELO" => {
                state.helo = true;
                state.mail = None;
                "250 localhost".to_owned()
            }
            "STARTTLS" if tls => "554 5.5.1 Error: TLS already active".to_owned(),
            "STARTTLS" if !arg.is_empty() => "501 5.5.4 Syntax: STARTTLS".to_owned(),
            "STARTTLS" => {
                if !reader.buffer().is_empty() {
                    // Commands pipelined after STARTTLS (an injection attempt).
                    reply(reader, "554 5.5.1 Error: command pipelined after STARTTLS")?;
                    return Ok(Next::Quit);
                }
                reply(reader, "220 2.0.0 Ready to start TLS")?;
                return Ok(Next::StartTls);
            }
            "AUTH" if !self.auth_offered(tls) => "503 5.5.1 Error: authentication not enabled".to_owned(),
            "AUTH" if !state.helo => "503 5.5.1 Error: send HELO/EHLO first".to_owned(),
            "AUTH" if state.user.is_some() => "503 5.5.1 Error: already authenticated".to_owned(),
            "AUTH" if state.mail.is_some() => "503 5.5.1 Error: MAIL transaction in progress".to_owned(),
            "AUTH" => match self.auth(reader, arg)? {
                Ok(user) => {
                    state.user = Some(user);
                    "235 2.7.0 Authentication successful".to_owned()
                }
                Err(text) => text.to_owned(),
            },
            "MAIL" if !state.helo => "503 5.5.1 Error: send HELO/EHLO first".to_owned(),
            "MAIL" if state.mail.is_some() => "503 5.5.1 Error: nested MAIL command".to_owned(),
            "MAIL" if !self.accounts.is_empty() && state.user.is_none() => {
                "530 5.7.0 Authentication required".to_owned()
            }
            "MAIL" => match path(arg, "FROM:") {
                Some(from) => {
                    state.mail = Some(Transaction {
                        from,
                        tls,
                        rcpt: Vec::new(),
                    });
                    "250 2.1.0 Ok".to_owned()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_owned(),
            },
            "RCPT" => match (&mut state.mail, path(arg, "TO:")) {
                (None, _) => "503 5.5.1 Error: need MAIL command".to_owned(),
                (Some(mail), Some(to)) if !to.is_empty() => {
                    mail.rcpt.push(to);
                    "250 2.1.5 Ok".to_owned()
                }
                (Some(_), _) => "501 5.5.4 Syntax: RCPT TO:<address>".to_owned(),
            },
            "DATA" => match state.mail.take() {
                None => "503 5.5.1 Error: need RCPT command".to_owned(),
                Some(mail) if mail.rcpt.is_empty() => {
                    state.mail = Some(mail);
                    "554 5.5.1 Error: no valid recipients".to_owned()
                }
                Some(mail) => self.data(reader, mail, state.user.clone())?,
            },
            "RSET" => {
                state.mail = None;
                "250 2.0.0 Ok".to_owned()
            }
            "NOOP" => "250 2.0.0 Ok".to_owned(),
            "QUIT" => {
                reply(reader, "221 2.0.0 Bye")?;
                return Ok(Next::Quit);
            }
            _ => "502 5.5.2 Error: command not recognized".to_owned(),
        };
        reply(reader, &text)?;
        Ok(Next::Continue)
    }

    /// Reads the message after DATA; records it and gives the final reply.
    fn data(&self, reader: &mut Reader, mail: Transaction, user: Option<String>) -> io::Result<String> {
        reply(reader, "354 End data with <CR><LF>.<CR><LF>")?;
        let mut data = Vec::new();
        let mut too_big = false;
        loop {
            let line = read_line(reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
            if trim_eol(&line) == b"." {
                break;
            }
            let line = line.strip_prefix(b".").unwrap_or(&line);
            if data.len() + line.len() > MAX_MESSAGE {
                too_big = true;
            } else {
                data.extend_from_slice(line);
            }
        }
        if too_big {
            return Ok("552 5.3.4 Error: message file too big".to_owned());
        }
        self.deliveries().push(Delivery {
            relay: self.name.clone(),
            port: self.port,
            tls: mail.tls,
            username: user,
            mail_from: mail.from,
            rcpt_to: mail.rcpt,
            data: String::from_utf8_lossy(&data).into_owned(),
        });
        Ok("250 2.0.0 Ok: queued".to_owned())
    }

    /// AUTH PLAIN (with or without initial response) or LOGIN: the user
    /// name, or the reply to give.
    fn auth(&self, reader: &mut Reader, arg: &str) -> io::Result<Result<String, &'static str>> {
        const CANCELLED: &str = "501 5.7.0 Authentication aborted";
        const UNDECODABLE: &str = "501 5.5.2 Error: cannot decode response";
        const INVALID: &str = "535 5.7.8 Authentication credentials invalid";
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim().to_owned())),
            None => (arg, None),
        };
        let (user, password) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(response) => response,
                    None => challenge(reader, "334 ")?,
                };
                if response == "*" {
                    return Ok(Err(CANCELLED));
                }
                let Some(decoded) = decode(&response) else {
                    return Ok(Err(UNDECODABLE));
                };
                let mut parts = decoded.split(|b| *b == 0);
                let (Some(authzid), Some(user), Some(password), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Ok(Err(INVALID));
                };
                if !authzid.is_empty() && authzid != user {
                    return Ok(Err(INVALID));
                }
                (user.to_vec(), password.to_vec())
            }
            "LOGIN" => {
                let user = match initial {
                    Some(user) => user,
                    None => challenge(reader, "334 VXNlcm5hbWU6")?,
                };
                if user == "*" {
                    return Ok(Err(CANCELLED));
                }
                let Some(user) = decode(&user) else {
                    return Ok(Err(UNDECODABLE));
                };
                let password = challenge(reader, "334 UGFzc3dvcmQ6")?;
                if password == "*" {
                    return Ok(Err(CANCELLED));
                }
                let Some(password) = decode(&password) else {
                    return Ok(Err(UNDECODABLE));
                };
                (user, password)
            }
            _ => return Ok(Err("504 5.5.4 Unsupported authentication mechanism")),
        };
        let known = self
            .accounts
            .iter()
            .any(|(u, p)| u.as_bytes() == user.as_slice() && p.as_bytes() == password.as_slice());
        match String::from_utf8(user) {
            Ok(user) if known => Ok(Ok(user)),
            _ => Ok(Err(INVALID)),
        }
    }
}

/// Sends a SASL challenge and reads the client's response line.
fn challenge(reader: &mut Reader, prompt: &str) -> io::Result<String> {
    reply(reader, prompt)?;
    let line = read_line(reader)?.ok_or(io::ErrorKind::UnexpectedEof)?;
    Ok(String::from_utf8_lossy(trim_eol(&line)).trim().to_owned())
}

/// Base64 as in SASL; `=` is an empty response.
fn decode(text: &str) -> Option<Vec<u8>> {
    if text == "=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// The address in `FROM:<address> PARAMS...` (or `TO:`); `None` when
/// malformed. Accepts a space after the colon and a path without brackets.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        let address = rest.split(' ').next().unwrap_or("");
        (!address.is_empty()).then(|| address.to_owned())
    }
}

/// Writes one reply (possibly several lines joined by CRLF) and flushes.
fn reply(reader: &mut Reader, text: &str) -> io::Result<()> {
    let conn = reader.get_mut();
    conn.write_all(text.as_bytes())?;
    conn.write_all(b"\r\n")?;
    conn.flush()
}

/// One line with its line ending; `None` when the client closed the
/// connection (a partial last line is dropped). A line longer than
/// [`MAX_LINE`] gets `500` and is an error.
fn read_line(reader: &mut Reader) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    reader.by_ref().take(MAX_LINE as u64).read_until(b'\n', &mut line)?;
    if line.ends_with(b"\n") {
        Ok(Some(line))
    } else if line.len() >= MAX_LINE {
        reply(reader, "500 5.5.0 Error: line too long")?;
        Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"))
    } else {
        Ok(None)
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}
