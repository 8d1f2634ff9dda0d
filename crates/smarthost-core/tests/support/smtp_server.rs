//! A configurable SMTP server for the connection check's tests: 127.0.0.1
//! only, one task per connection, stops accepting when dropped.
#![allow(dead_code)] // each test binary uses a part of it

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A test CA and the certificates the cases need.
pub(crate) struct Certs {
    pub(crate) ca: CertificateDer<'static>,
    pub(crate) ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

pub(crate) type Cert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

impl Certs {
    pub(crate) fn new() -> Certs {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "check test CA");
        let cert = params.self_signed(&key).unwrap();
        Certs {
            ca: cert.der().clone(),
            ca_pem: cert.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    fn issue(&self, names: &[&str], expired: bool) -> Cert {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }

    /// Valid for `localhost`.
    pub(crate) fn good(&self) -> Cert {
        self.issue(&["localhost"], false)
    }

    /// For another host.
    pub(crate) fn wrong_name(&self) -> Cert {
        self.issue(&["mx.wrong.test"], false)
    }

    /// Expired on 2021-01-01.
    pub(crate) fn expired(&self) -> Cert {
        self.issue(&["localhost"], true)
    }

    /// Self-signed, not from the CA.
    pub(crate) fn self_signed() -> Cert {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
    }
}

/// What the server does.
#[derive(Clone)]
pub(crate) struct Behaviour {
    /// TLS right after accept (port 465 style).
    pub(crate) implicit_tls: bool,
    /// Offer STARTTLS (plain mode).
    pub(crate) starttls: bool,
    pub(crate) cert: Option<Arc<Cert>>,
    /// Accounts; AUTH PLAIN LOGIN is offered (inside TLS, or always when no TLS) when non-empty.
    pub(crate) accounts: Vec<(String, String)>,
    pub(crate) banner: Banner,
    /// Stop answering halfway through the EHLO reply.
    pub(crate) stall_in_ehlo: bool,
    /// Wait this long before every reply.
    pub(crate) delay: Duration,
    /// The AUTH mechanisms offered (default `PLAIN LOGIN`).
    pub(crate) mechanisms: &'static str,
    /// How a failed AUTH is answered.
    pub(crate) auth_reply: AuthReply,
}

/// The reply to AUTH with wrong credentials (or any credentials, for the
/// hostile ones).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthReply {
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

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Banner {
    Normal,
    Silent,
    Huge,
    Endless,
    TlsGarbage,
    /// A greeting with terminal escape sequences (window title, clear screen).
    Escapes,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            implicit_tls: false,
            starttls: true,
            cert: None,
            accounts: Vec::new(),
            banner: Banner::Normal,
            stall_in_ehlo: false,
            delay: Duration::ZERO,
            mechanisms: "PLAIN LOGIN",
            auth_reply: AuthReply::Normal,
        }
    }
}

pub(crate) struct Server {
    pub(crate) port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub(crate) async fn start(b: Behaviour) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = b.cert.as_ref().map(|c| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(c.0.clone(), c.1.clone_key())
                .unwrap();
            tokio_rustls::TlsAcceptor::from(Arc::new(config))
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (b, acceptor) = (b.clone(), acceptor.clone());
                tokio::spawn(async move {
                    if b.implicit_tls {
                        if let Ok(tls) = acceptor.unwrap().accept(stream).await {
                            let _ = session(BufReader::new(tls), &b, true).await;
                        }
                    } else if let Ok(Some(plain)) = session(BufReader::new(stream), &b, false).await {
                        if let Ok(tls) = acceptor.unwrap().accept(plain).await {
                            let _ = session(BufReader::new(tls), &b, true).await;
                        }
                    }
                });
            }
        });
        Server { port, task }
    }
}

async fn say<S: AsyncWrite + Unpin>(s: &mut S, delay: Duration, text: &str) -> std::io::Result<()> {
    tokio::time::sleep(delay).await;
    s.write_all(text.as_bytes()).await?;
    s.flush().await
}

/// Answers an AUTH: 235 when `ok` (and the reply is not a hostile one),
/// else as `b.auth_reply` says, repeating `received` where it echoes.
async fn auth_result<S: AsyncWrite + Unpin>(
    s: &mut S,
    b: &Behaviour,
    ok: bool,
    received: &[&str],
) -> std::io::Result<()> {
    let echo = received.join(" | ");
    let reply = match b.auth_reply {
        AuthReply::Normal if ok => "235 2.7.0 ok\r\n".to_owned(),
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
    say(s, b.delay, &reply).await
}

/// Serves one session; returns the stream when the client asked for STARTTLS.
async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: BufReader<S>,
    b: &Behaviour,
    tls: bool,
) -> std::io::Result<Option<S>> {
    let d = b.delay;
    if !tls || b.implicit_tls {
        match b.banner {
            Banner::Normal => say(&mut s, d, "220 localhost ESMTP test\r\n").await?,
            Banner::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            Banner::Huge => {
                let line = format!("220 {}\r\n", "x".repeat(3 * 1024 * 1024));
                say(&mut s, d, &line).await?;
            }
            Banner::Endless => loop {
                say(&mut s, Duration::ZERO, "220-still greeting\r\n").await?;
            },
            Banner::TlsGarbage => say(&mut s, d, "\x16\x03\x01\x00\x05garbage\r\n").await?,
            Banner::Escapes => {
                say(
                    &mut s,
                    d,
                    "220 localhost \x1b]0;pwned title\x07ESMTP \x1b[2J\x1b[31mred\u{9b}0m\r\n",
                )
                .await?
            }
        }
    }
    let mut authed = false;
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let upper = line.trim().to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            let mut lines = vec!["250-localhost".to_owned(), "250-PIPELINING".to_owned()];
            if b.stall_in_ehlo {
                say(&mut s, d, "250-localhost\r\n").await?;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            }
            if !tls && b.starttls && b.cert.is_some() {
                lines.push("250-STARTTLS".to_owned());
            }
            if !b.accounts.is_empty() && (tls || b.cert.is_none()) {
                lines.push(format!("250-AUTH {}", b.mechanisms));
            }
            lines.push("250 8BITMIME".to_owned());
            say(&mut s, d, &(lines.join("\r\n") + "\r\n")).await?;
        } else if upper == "STARTTLS" && !tls {
            say(&mut s, d, "220 2.0.0 go ahead\r\n").await?;
            return Ok(Some(s.into_inner()));
        } else if let Some(arg) = line.trim().strip_prefix("AUTH PLAIN ") {
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(arg)
                .unwrap_or_default();
            let parts: Vec<String> = String::from_utf8_lossy(&decoded)
                .split('\0')
                .map(str::to_owned)
                .collect();
            let ok = parts.len() == 3 && b.accounts.iter().any(|(u, p)| *u == parts[1] && *p == parts[2]);
            authed |= ok;
            auth_result(&mut s, b, ok, &[line.trim()]).await?;
        } else if upper == "AUTH LOGIN" {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            say(&mut s, d, "334 VXNlcm5hbWU6\r\n").await?;
            let mut user = String::new();
            s.read_line(&mut user).await?;
            say(&mut s, d, "334 UGFzc3dvcmQ6\r\n").await?;
            let mut pass = String::new();
            s.read_line(&mut pass).await?;
            let decode = |l: &str| String::from_utf8_lossy(&b64.decode(l.trim()).unwrap_or_default()).into_owned();
            let ok = b
                .accounts
                .iter()
                .any(|(u, p)| *u == decode(&user) && *p == decode(&pass));
            authed |= ok;
            auth_result(&mut s, b, ok, &["AUTH LOGIN", user.trim(), pass.trim()]).await?;
        } else if upper == "QUIT" {
            say(&mut s, d, "221 2.0.0 bye\r\n").await?;
            return Ok(None);
        } else {
            let _ = authed;
            say(&mut s, d, "502 5.5.2 unknown\r\n").await?;
        }
    }
}
