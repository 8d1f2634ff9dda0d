//! The fake SMTP relay in `support/relay.rs`, driven by a tiny blocking
//! SMTP client.

mod support;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use support::relay::{Mode, Relay, RelayConfig, TestCa};

const USER: &str = "relayuser@example.com";
const PASSWORD: &str = "s3cret pass";
const WAIT: Duration = Duration::from_secs(2);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A client configuration trusting only the test CA (read from its PEM).
fn client_config(ca: &TestCa) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem().as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn relay(ca: &TestCa, mode: Mode, names: &[&str], accounts: &[(&str, &str)]) -> Relay {
    Relay::start(RelayConfig {
        mode,
        cert: ca.leaf(names),
        accounts: accounts
            .iter()
            .map(|(u, p)| ((*u).to_owned(), (*p).to_owned()))
            .collect(),
        name: format!("{mode:?}"),
    })
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
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

/// A reply: code and the text of each line.
type Reply = (u16, Vec<String>);

/// A blocking SMTP client, just enough to drive the relay.
struct Client {
    reader: BufReader<Conn>,
}

fn tls_handshake(tcp: TcpStream, config: Arc<ClientConfig>) -> io::Result<Conn> {
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(config, name).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(Conn::Tls(Box::new(tls)))
}

impl Client {
    fn tcp(port: u16) -> TcpStream {
        let tcp = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp
    }

    /// Connects without TLS and reads the greeting.
    fn plain(port: u16) -> Client {
        let mut client = Client {
            reader: BufReader::new(Conn::Plain(Client::tcp(port))),
        };
        client.expect_greeting();
        client
    }

    /// Connects with TLS from the start; on success reads the greeting.
    fn implicit_tls(port: u16, config: Arc<ClientConfig>) -> io::Result<Client> {
        let conn = tls_handshake(Client::tcp(port), config)?;
        let mut client = Client {
            reader: BufReader::new(conn),
        };
        client.expect_greeting();
        Ok(client)
    }

    fn expect_greeting(&mut self) {
        let (code, lines) = self.read_reply();
        assert_eq!(code, 220);
        assert_eq!(lines, ["localhost ESMTP fake relay"]);
    }

    /// STARTTLS and the handshake: the client over TLS.
    fn starttls(mut self, config: Arc<ClientConfig>) -> io::Result<Client> {
        assert_eq!(self.cmd("STARTTLS"), (220, vec!["2.0.0 Ready to start TLS".to_owned()]));
        assert!(self.reader.buffer().is_empty());
        let Conn::Plain(tcp) = self.reader.into_inner() else {
            panic!("STARTTLS inside TLS");
        };
        Ok(Client {
            reader: BufReader::new(tls_handshake(tcp, config)?),
        })
    }

    fn send(&mut self, raw: &str) {
        let conn = self.reader.get_mut();
        conn.write_all(raw.as_bytes()).unwrap();
        conn.flush().unwrap();
    }

    fn read_reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            assert!(line.ends_with("\r\n"), "reply line {line:?}");
            let code = line[..3].parse().unwrap();
            lines.push(line[4..line.len() - 2].to_owned());
            if &line[3..4] == " " {
                return (code, lines);
            }
            assert_eq!(&line[3..4], "-", "reply line {line:?}");
        }
    }

    fn cmd(&mut self, line: &str) -> Reply {
        self.send(&format!("{line}\r\n"));
        self.read_reply()
    }

    fn code(&mut self, line: &str) -> u16 {
        self.cmd(line).0
    }

    /// Whether the server closed the connection (after draining replies).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::TimedOut,
        }
    }
}

fn ehlo(client: &mut Client) -> Vec<String> {
    let (code, lines) = client.cmd("EHLO client.example");
    assert_eq!(code, 250);
    assert_eq!(lines.first().map(String::as_str), Some("localhost"));
    assert_eq!(lines.last().map(String::as_str), Some("ENHANCEDSTATUSCODES"));
    lines
}

fn plain_response(authzid: &str, user: &str, password: &str) -> String {
    b64(format!("{authzid}\0{user}\0{password}").as_bytes())
}

#[test]
fn starttls_with_auth_plain_delivers() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[(USER, PASSWORD)]);
    let mut client = Client::plain(relay.port());

    let before = ehlo(&mut client);
    assert!(before.iter().any(|l| l == "STARTTLS"), "{before:?}");
    assert!(before.iter().any(|l| l == "PIPELINING"), "{before:?}");
    assert!(
        !before.iter().any(|l| l.starts_with("AUTH")),
        "AUTH offered before TLS: {before:?}"
    );
    assert_eq!(client.code("AUTH PLAIN"), 503);

    let mut client = client.starttls(client_config(&ca)).unwrap();
    // State resets: EHLO is needed again.
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 503);
    let after = ehlo(&mut client);
    assert!(after.iter().any(|l| l == "AUTH PLAIN LOGIN"), "{after:?}");
    assert!(!after.iter().any(|l| l == "STARTTLS"), "{after:?}");
    assert_eq!(client.code("STARTTLS"), 554);

    let (code, text) = client.cmd(&format!("AUTH PLAIN {}", plain_response("", USER, PASSWORD)));
    assert_eq!((code, text), (235, vec!["2.7.0 Authentication successful".to_owned()]));
    assert_eq!(
        client.code("MAIL FROM:<sender@example.org> SIZE=123 BODY=8BITMIME"),
        250
    );
    assert_eq!(client.code("RCPT TO:<rcpt@example.net>"), 250);
    assert_eq!(client.code("DATA"), 354);
    client.send("Subject: hello\r\n\r\nbody\r\n..leading dot\r\n.\r\n");
    assert_eq!(client.read_reply(), (250, vec!["2.0.0 Ok: queued".to_owned()]));
    assert_eq!(client.code("QUIT"), 221);

    let got = relay.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert_eq!(d.relay, "Starttls");
    assert_eq!(d.port, relay.port());
    assert!(d.tls);
    assert_eq!(d.username.as_deref(), Some(USER));
    assert_eq!(d.mail_from, "sender@example.org");
    assert_eq!(d.rcpt_to, ["rcpt@example.net"]);
    assert_eq!(d.data, "Subject: hello\r\n\r\nbody\r\n.leading dot\r\n");
}

#[test]
fn implicit_tls_with_auth_login_and_pipelining() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::ImplicitTls, &["localhost"], &[(USER, PASSWORD)]);
    let mut client = Client::implicit_tls(relay.port(), client_config(&ca)).unwrap();

    let lines = ehlo(&mut client);
    assert!(lines.iter().any(|l| l == "AUTH PLAIN LOGIN"), "{lines:?}");
    assert!(!lines.iter().any(|l| l == "STARTTLS"), "{lines:?}");

    assert_eq!(client.cmd("AUTH LOGIN"), (334, vec!["VXNlcm5hbWU6".to_owned()]));
    assert_eq!(
        client.cmd(&b64(USER.as_bytes())),
        (334, vec!["UGFzc3dvcmQ6".to_owned()])
    );
    assert_eq!(client.code(&b64(PASSWORD.as_bytes())), 235);
    assert_eq!(client.code("AUTH PLAIN"), 503, "second AUTH");

    // Everything up to DATA in one write, as Postfix pipelines it.
    client.send("MAIL FROM:<> BODY=8BITMIME\r\nRCPT TO:<one@example.net>\r\nRCPT TO:<two@example.net>\r\nDATA\r\n");
    let codes: Vec<u16> = (0..4).map(|_| client.read_reply().0).collect();
    assert_eq!(codes, [250, 250, 250, 354]);
    client.send("Subject: implicit\r\n\r\nhi\r\n.\r\nQUIT\r\n");
    assert_eq!(client.read_reply().0, 250);
    assert_eq!(client.read_reply().0, 221);

    let got = relay.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert_eq!(d.relay, "ImplicitTls");
    assert!(d.tls);
    assert_eq!(d.username.as_deref(), Some(USER));
    assert_eq!(d.mail_from, "");
    assert_eq!(d.rcpt_to, ["one@example.net", "two@example.net"]);
    assert_eq!(d.data, "Subject: implicit\r\n\r\nhi\r\n");
}

#[test]
fn wrong_password_is_refused() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::ImplicitTls, &["localhost"], &[(USER, PASSWORD)]);
    let mut client = Client::implicit_tls(relay.port(), client_config(&ca)).unwrap();
    ehlo(&mut client);

    let (code, text) = client.cmd(&format!("AUTH PLAIN {}", plain_response("", USER, "wrong")));
    assert_eq!(
        (code, text),
        (535, vec!["5.7.8 Authentication credentials invalid".to_owned()])
    );
    // No initial response, then the right password for another user's authzid.
    assert_eq!(client.cmd("AUTH PLAIN"), (334, vec![String::new()]));
    assert_eq!(client.code(&plain_response("other", USER, PASSWORD)), 535);
    assert_eq!(client.code("AUTH PLAIN"), 334);
    assert_eq!(client.code("*"), 501);
    assert_eq!(client.code("AUTH LOGIN"), 334);
    assert_eq!(client.code(&b64(USER.as_bytes())), 334);
    assert_eq!(client.code(&b64(b"nope")), 535);
    assert_eq!(client.code("AUTH PLAIN !!!"), 501);
    assert_eq!(client.code("AUTH CRAM-MD5"), 504);
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 530);
    assert_eq!(client.code("QUIT"), 221);

    assert!(relay.deliveries().is_empty());
}

#[test]
fn mail_without_auth_is_refused() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[(USER, PASSWORD)]);
    let mut client = Client::plain(relay.port());
    ehlo(&mut client);
    assert_eq!(
        client.cmd("MAIL FROM:<a@example.org>"),
        (530, vec!["5.7.0 Authentication required".to_owned()])
    );
    let mut client = client.starttls(client_config(&ca)).unwrap();
    ehlo(&mut client);
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 530);
    assert_eq!(client.code("RCPT TO:<b@example.org>"), 503);
    assert_eq!(client.code("QUIT"), 221);
    assert!(relay.deliveries().is_empty());
}

fn assert_not_valid_for_name(err: &io::Error) {
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            inner,
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{err:?}"
    );
}

#[test]
fn certificate_for_another_name_fails_verification() {
    let ca = TestCa::new();
    let implicit = relay(&ca, Mode::ImplicitTls, &["wrong.test"], &[]);
    let err = Client::implicit_tls(implicit.port(), client_config(&ca))
        .err()
        .expect("handshake succeeded");
    assert_not_valid_for_name(&err);

    let starttls = relay(&ca, Mode::Starttls, &["wrong.test"], &[]);
    let mut client = Client::plain(starttls.port());
    ehlo(&mut client);
    let err = client.starttls(client_config(&ca)).err().expect("handshake succeeded");
    assert_not_valid_for_name(&err);
}

#[test]
fn certificate_from_another_ca_is_untrusted() {
    let (ca, other) = (TestCa::new(), TestCa::new());
    let relay = relay(&other, Mode::ImplicitTls, &["localhost"], &[]);
    let err = Client::implicit_tls(relay.port(), client_config(&ca))
        .err()
        .expect("handshake succeeded");
    let inner = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    assert!(
        matches!(
            inner,
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
        ),
        "{err:?}"
    );
}

#[test]
fn pem_leaf_works_too() {
    let ca = TestCa::new();
    let (chain, key) = ca.leaf_pem(&["localhost"]);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let relay = Relay::start(RelayConfig {
        mode: Mode::ImplicitTls,
        cert: (chain, key),
        accounts: Vec::new(),
        name: "pem".into(),
    });
    let mut client = Client::implicit_tls(relay.port(), client_config(&ca)).unwrap();
    ehlo(&mut client);
    assert_eq!(client.code("QUIT"), 221);
}

#[test]
fn without_accounts_mail_needs_no_auth_nor_tls() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[]);
    let mut client = Client::plain(relay.port());
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 503, "before EHLO");
    assert_eq!(client.cmd("HELO client.example"), (250, vec!["localhost".to_owned()]));
    let lines = ehlo(&mut client);
    assert!(!lines.iter().any(|l| l.starts_with("AUTH")), "{lines:?}");
    assert_eq!(client.code("AUTH PLAIN"), 503);
    assert_eq!(client.code("NOOP"), 250);
    assert_eq!(client.code("VRFY someone"), 502);
    assert_eq!(client.code("DATA"), 503);
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 250);
    assert_eq!(client.code("MAIL FROM:<a@example.org>"), 503, "nested MAIL");
    assert_eq!(client.code("RSET"), 250);
    assert_eq!(client.code("RCPT TO:<b@example.org>"), 503, "after RSET");
    assert_eq!(client.code("mail from: <a@example.org>"), 250);
    assert_eq!(client.code("DATA"), 554, "no recipients");
    assert_eq!(client.code("RCPT TO:<>"), 501);
    assert_eq!(client.code("rcpt to:<b@example.org>"), 250);
    assert_eq!(client.code("DATA"), 354);
    client.send("plain\r\n.\r\n");
    assert_eq!(client.read_reply().0, 250);
    assert_eq!(client.code("QUIT"), 221);

    let got = relay.wait_for(1, WAIT);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!got[0].tls);
    assert_eq!(got[0].username, None);
    assert_eq!(got[0].mail_from, "a@example.org");
    assert_eq!(got[0].data, "plain\r\n");
}

#[test]
fn commands_pipelined_after_starttls_end_the_session() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[]);
    let mut client = Client::plain(relay.port());
    ehlo(&mut client);
    client.send("STARTTLS\r\nMAIL FROM:<injected@example.org>\r\n");
    assert_eq!(client.read_reply().0, 554);
    assert!(client.closed());
}

#[test]
fn overlong_line_ends_the_session() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[]);
    let mut client = Client::plain(relay.port());
    client.send(&format!("EHLO {}\r\n", "x".repeat(70 * 1024)));
    assert_eq!(client.read_reply().0, 500);
    assert!(client.closed());
}

#[test]
fn dropping_the_relay_stops_accepting() {
    let ca = TestCa::new();
    let relay = relay(&ca, Mode::Starttls, &["localhost"], &[]);
    let port = relay.port();
    // A session still open does not hold up the drop.
    let _open = Client::plain(port);
    let start = Instant::now();
    drop(relay);
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
}
