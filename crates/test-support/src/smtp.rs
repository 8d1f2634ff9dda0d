//! One fake SMTP server for every suite: a well-behaved relay that records
//! each message it accepts (STARTTLS or implicit TLS, AUTH PLAIN and LOGIN),
//! and, through [`Options`], the misbehaving and hostile peers the
//! connection check must survive (silent, endless or huge greetings, a
//! stalled EHLO, slow replies, replies that echo the credentials with
//! terminal escapes, refusals of MAIL, RCPT or DATA).
//!
//! The server binds 127.0.0.1 on a free port and runs on a thread of its
//! own (with its own tokio runtime), so that synchronous and asynchronous
//! tests start it alike. Dropping it stops it and ends every session.
//!
//! ```no_run
//! use test_support::{certs::TestCa, smtp::{Options, Server}};
//! use std::sync::Arc;
//! let ca = TestCa::new();
//! let relay = Server::start(Options {
//!     cert: Some(Arc::new(ca.leaf(&["localhost"]))),
//!     accounts: vec![("user".into(), "password".into())],
//!     ..Options::default()
//! });
//! // ... point a client at relay.port() ...
//! let messages = relay.wait_for(1, std::time::Duration::from_secs(40));
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

pub use crate::certs::Cert;

/// Longest line the server reads; a longer one ends the session.
const MAX_LINE: u64 = 64 * 1024;

/// How long the stalling behaviours wait: longer than any test.
const FOREVER: Duration = Duration::from_secs(3600);

/// What the server is and how it behaves. The default is a well-behaved
/// server without TLS or accounts that offers STARTTLS as soon as it has a
/// certificate.
#[derive(Clone)]
pub struct Options {
    /// Recorded in each [`Delivery`], to tell relays apart.
    pub name: String,
    /// The certificate for TLS; without one the server speaks plain SMTP only.
    pub cert: Option<Arc<Cert>>,
    /// TLS from the first byte (port 465 style) instead of plain SMTP.
    pub implicit_tls: bool,
    /// Offer STARTTLS in plain mode (when there is a certificate).
    pub starttls: bool,
    /// Accounts (user, password). When there is one, AUTH is offered
    /// (inside TLS; in the clear only when the server has no certificate)
    /// and MAIL requires it.
    pub accounts: Vec<(String, String)>,
    /// The mechanisms of the EHLO `AUTH` line (default `PLAIN LOGIN`). A
    /// client that tries another one is refused.
    pub mechanisms: String,
    /// The greeting.
    pub banner: Banner,
    /// Stop answering halfway through the EHLO reply.
    pub stall_in_ehlo: bool,
    /// Wait this long before every reply.
    pub delay: Duration,
    /// How AUTH is answered.
    pub auth_reply: AuthReply,
    /// The reply to MAIL FROM instead of `250` (e.g. a provider's refusal
    /// of an unverified sender).
    pub mail_reply: Option<String>,
    /// The reply to RCPT TO instead of `250`.
    pub rcpt_reply: Option<String>,
    /// The reply at the end of DATA instead of `250` (SES refuses an
    /// unverified sender there).
    pub data_reply: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: String::new(),
            cert: None,
            implicit_tls: false,
            starttls: true,
            accounts: Vec::new(),
            mechanisms: "PLAIN LOGIN".to_owned(),
            banner: Banner::Normal,
            stall_in_ehlo: false,
            delay: Duration::ZERO,
            auth_reply: AuthReply::Normal,
            mail_reply: None,
            rcpt_reply: None,
            data_reply: None,
        }
    }
}

/// The greeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Banner {
    /// `220 localhost ESMTP`.
    Normal,
    /// Accept the connection and never say anything (a relay that hangs).
    Silent,
    /// One 3 MiB greeting line.
    Huge,
    /// `220-` continuation lines without end.
    Endless,
    /// Bytes of a TLS record where the greeting belongs.
    TlsGarbage,
    /// A greeting with terminal escape sequences (window title, clear screen).
    Escapes,
}

/// The reply to AUTH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthReply {
    /// `235` for an account's credentials, else
    /// `535 5.7.8 Authentication credentials invalid`.
    Normal,
    /// 535 repeating the AUTH lines received, with a terminal title
    /// escape sequence, whatever the credentials.
    Echo,
    /// A multi-line 535 of 128 lines of 4000 bytes, each repeating the AUTH
    /// lines received, with escape sequences.
    EchoHuge,
    /// One 9 MB reply line.
    NineMegabytes,
}

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// [`Options::name`] of the server.
    pub relay: String,
    /// The server's port.
    pub port: u16,
    /// Whether the message came over TLS.
    pub tls: bool,
    /// The user the client authenticated as.
    pub username: Option<String>,
    /// The MAIL FROM address, without angle brackets.
    pub mail_from: String,
    /// The RCPT TO addresses, without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message, lines ending in `\n`, dot-stuffing undone.
    pub data: String,
}

struct Shared {
    options: Options,
    port: u16,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A running server; stopped when dropped.
pub struct Server {
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server on 127.0.0.1 with a free port.
    pub fn start(options: Options) -> Server {
        Server::start_at("127.0.0.1:0", options)
    }

    /// Starts a server on `address` (a loopback address; port 0 for a free
    /// one): `127.0.0.2:25` plays a recipient's MX host, which mail
    /// delivered directly to `user@[127.0.0.2]` reaches.
    pub fn start_at(address: &str, options: Options) -> Server {
        let listener = std::net::TcpListener::bind(address).unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = options.cert.as_ref().map(|c| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(c.0.clone(), c.1.clone_key())
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let shared = Arc::new(Shared {
            options,
            port,
            deliveries: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let accept = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let serve = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let (shared, acceptor) = (accept.clone(), acceptor.clone());
                        tokio::spawn(async move {
                            let _ = shared.connection(stream, acceptor).await;
                        });
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = serve => {}
                }
            });
            // Dropping the runtime here ends every session.
        });
        Server {
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// The messages accepted so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.shared.deliveries.lock().unwrap().clone()
    }

    /// Waits until `count` messages arrived or `timeout` passed; the
    /// messages accepted by then.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
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

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What one session's command loop ended with.
enum Next<S> {
    Close,
    StartTls(S),
}

/// The state of one SMTP transaction.
#[derive(Default)]
struct Transaction {
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

async fn say<S: AsyncWrite + Unpin>(s: &mut S, delay: Duration, text: &str) -> std::io::Result<()> {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    s.write_all(text.as_bytes()).await?;
    s.flush().await
}

/// One line without its line ending; `None` at the end of the stream or
/// past [`MAX_LINE`].
async fn read_line<S: AsyncRead + Unpin>(s: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    let n = s.take(MAX_LINE).read_until(b'\n', &mut line).await?;
    if n == 0 || !line.ends_with(b"\n") {
        return Ok(None);
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

impl Shared {
    async fn connection(
        &self,
        stream: tokio::net::TcpStream,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<()> {
        if self.options.implicit_tls {
            let acceptor = acceptor.expect("implicit TLS needs a certificate");
            let tls = acceptor.accept(stream).await?;
            self.session(BufReader::new(tls), true).await?;
        } else if let Next::StartTls(plain) = self.session(BufReader::new(stream), false).await? {
            let acceptor = acceptor.expect("STARTTLS is offered with a certificate only");
            let tls = acceptor.accept(plain).await?;
            self.session(BufReader::new(tls), true).await?;
        }
        Ok(())
    }

    fn offers_starttls(&self) -> bool {
        let o = &self.options;
        o.starttls && o.cert.is_some() && !o.implicit_tls
    }

    fn offers_auth(&self, tls: bool) -> bool {
        !self.options.accounts.is_empty() && (tls || self.options.cert.is_none())
    }

    async fn banner<S: AsyncWrite + Unpin>(&self, s: &mut S) -> std::io::Result<()> {
        let d = self.options.delay;
        match self.options.banner {
            Banner::Normal => say(s, d, "220 localhost ESMTP test server\r\n").await,
            Banner::Silent => {
                tokio::time::sleep(FOREVER).await;
                Ok(())
            }
            Banner::Huge => say(s, d, &format!("220 {}\r\n", "x".repeat(3 * 1024 * 1024))).await,
            Banner::Endless => loop {
                say(s, Duration::ZERO, "220-still greeting\r\n").await?;
            },
            Banner::TlsGarbage => say(s, d, "\x16\x03\x01\x00\x05garbage\r\n").await,
            Banner::Escapes => {
                say(
                    s,
                    d,
                    "220 localhost \x1b]0;pwned title\x07ESMTP \x1b[2J\x1b[31mred\u{9b}0m\r\n",
                )
                .await
            }
        }
    }

    /// Serves one session (plain or inside TLS); gives the stream back when
    /// the client starts TLS.
    async fn session<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut s: BufReader<S>,
        tls: bool,
    ) -> std::io::Result<Next<S>> {
        let o = &self.options;
        let d = o.delay;
        if !tls || o.implicit_tls {
            self.banner(&mut s).await?;
        }
        let mut t = Transaction::default();
        loop {
            let Some(line) = read_line(&mut s).await? else {
                return Ok(Next::Close);
            };
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" => {
                    t = Transaction::default();
                    if o.stall_in_ehlo {
                        say(&mut s, d, "250-localhost\r\n").await?;
                        tokio::time::sleep(FOREVER).await;
                    }
                    let mut lines = vec![
                        "250-localhost".to_owned(),
                        "250-PIPELINING".to_owned(),
                        "250-SIZE 10240000".to_owned(),
                        "250-8BITMIME".to_owned(),
                    ];
                    if !tls && self.offers_starttls() {
                        lines.push("250-STARTTLS".to_owned());
                    }
                    if self.offers_auth(tls) {
                        lines.push(format!("250-AUTH {}", o.mechanisms));
                    }
                    lines.push("250 ENHANCEDSTATUSCODES".to_owned());
                    say(&mut s, d, &(lines.join("\r\n") + "\r\n")).await?;
                }
                "STARTTLS" if !tls && self.offers_starttls() => {
                    say(&mut s, d, "220 2.0.0 Ready to start TLS\r\n").await?;
                    if !s.buffer().is_empty() {
                        // Commands pipelined behind STARTTLS: refuse them
                        // rather than answer them inside TLS.
                        return Ok(Next::Close);
                    }
                    return Ok(Next::StartTls(s.into_inner()));
                }
                "AUTH" if self.offers_auth(tls) => {
                    let mut received = vec![line.clone()];
                    let user = self.auth(&mut s, arg, &mut received).await?;
                    let ok = user.is_some();
                    if user.is_some() {
                        t.user = user;
                    }
                    self.auth_result(&mut s, ok, &received).await?;
                }
                "MAIL" => {
                    if !o.accounts.is_empty() && t.user.is_none() {
                        say(&mut s, d, "530 5.7.0 Authentication required\r\n").await?;
                    } else if let Some(refusal) = &o.mail_reply {
                        say(&mut s, d, &format!("{refusal}\r\n")).await?;
                    } else {
                        t.from = Some(angle(arg));
                        t.rcpt.clear();
                        say(&mut s, d, "250 2.1.0 Ok\r\n").await?;
                    }
                }
                "RCPT" if t.from.is_some() => {
                    if let Some(refusal) = &o.rcpt_reply {
                        say(&mut s, d, &format!("{refusal}\r\n")).await?;
                    } else {
                        t.rcpt.push(angle(arg));
                        say(&mut s, d, "250 2.1.5 Ok\r\n").await?;
                    }
                }
                "DATA" if !t.rcpt.is_empty() => {
                    say(&mut s, d, "354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                    let mut data = String::new();
                    loop {
                        let Some(line) = read_line(&mut s).await? else {
                            return Ok(Next::Close);
                        };
                        if line == "." {
                            break;
                        }
                        data.push_str(line.strip_prefix('.').unwrap_or(&line));
                        data.push('\n');
                    }
                    if let Some(refusal) = &o.data_reply {
                        t.from = None;
                        t.rcpt.clear();
                        say(&mut s, d, &format!("{refusal}\r\n")).await?;
                        continue;
                    }
                    self.deliveries.lock().unwrap().push(Delivery {
                        relay: o.name.clone(),
                        port: self.port,
                        tls,
                        username: t.user.clone(),
                        mail_from: t.from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut t.rcpt),
                        data,
                    });
                    say(&mut s, d, "250 2.0.0 Ok: queued\r\n").await?;
                }
                "RSET" => {
                    t.from = None;
                    t.rcpt.clear();
                    say(&mut s, d, "250 2.0.0 Ok\r\n").await?;
                }
                "NOOP" => say(&mut s, d, "250 2.0.0 Ok\r\n").await?,
                "QUIT" => {
                    say(&mut s, d, "221 2.0.0 Bye\r\n").await?;
                    return Ok(Next::Close);
                }
                _ => say(&mut s, d, "502 5.5.2 Error: command not recognized\r\n").await?,
            }
        }
    }

    /// AUTH PLAIN (with or without an initial response) or LOGIN; the user
    /// name when the credentials are an account's. Every line received is
    /// added to `received`.
    async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut BufReader<S>,
        arg: &str,
        received: &mut Vec<String>,
    ) -> std::io::Result<Option<String>> {
        let d = self.options.delay;
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let mechanism = mechanism.to_ascii_uppercase();
        if !self
            .options
            .mechanisms
            .split_whitespace()
            .any(|m| m.eq_ignore_ascii_case(&mechanism))
        {
            return Ok(None);
        }
        let mut ask = async |s: &mut BufReader<S>, prompt: &str| -> std::io::Result<Option<String>> {
            say(s, d, prompt).await?;
            let line = read_line(s).await?;
            if let Some(l) = &line {
                received.push(l.clone());
            }
            Ok(line.filter(|l| l != "*"))
        };
        let (user, pass) = match mechanism.as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    ask(s, "334 \r\n").await?
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
                let user = if initial.is_empty() {
                    ask(s, "334 VXNlcm5hbWU6\r\n").await?.as_deref().and_then(b64)
                } else {
                    b64(initial)
                };
                let pass = ask(s, "334 UGFzc3dvcmQ6\r\n").await?.as_deref().and_then(b64);
                (user, pass)
            }
            _ => (None, None),
        };
        let ok = match (&user, &pass) {
            (Some(u), Some(p)) => self.options.accounts.iter().any(|(au, ap)| au == u && ap == p),
            _ => false,
        };
        Ok(user.filter(|_| ok))
    }

    /// Answers an AUTH: 235 when `ok` (and the reply is not a hostile one),
    /// else as [`Options::auth_reply`] says, repeating `received` where it
    /// echoes.
    async fn auth_result<S: AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        ok: bool,
        received: &[String],
    ) -> std::io::Result<()> {
        let echo = received.join(" | ");
        let reply = match self.options.auth_reply {
            AuthReply::Normal if ok => "235 2.7.0 Authentication successful\r\n".to_owned(),
            AuthReply::Normal => "535 5.7.8 Authentication credentials invalid\r\n".to_owned(),
            AuthReply::Echo => format!("535 5.7.8 \x1b]0;owned\x07rejected: {echo}\r\n"),
            AuthReply::EchoHuge => {
                // Whole echoes only, as long as a line may be (4096 bytes).
                let unit = format!("\x1b[31m{echo} ");
                let line = unit.repeat((4000 / unit.len()).max(1));
                let mut reply = format!("535-{line}\r\n").repeat(127);
                reply.push_str(&format!("535 {line}\r\n"));
                reply
            }
            AuthReply::NineMegabytes => format!("535 {echo} {}\x1b]0;x\x07\r\n", "A".repeat(9 << 20)),
        };
        say(s, self.options.delay, &reply).await
    }
}
