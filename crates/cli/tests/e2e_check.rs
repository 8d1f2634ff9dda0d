//! Postfix agrees with `check`: a private Postfix instance (shared notes,
//! postfix-e2e.md) configured by `smarthost server set --check` relays to
//! local relays (127.0.0.1 only). Where the check passes, Postfix logs
//! "Verified TLS connection established" with the same smtp_tls_CAfile;
//! where the check refuses the certificate, Postfix defers with "Server
//! certificate not verified".
//!
//! Needs root and Debian's `postfix`. Without them the test says why and
//! passes vacuously, unless SMARTHOST_REQUIRE_POSTFIX is set.

#[path = "../../postfix-backend/tests/support/fake_relay.rs"]
mod fake_relay;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fake_relay::{Mode, Relay, RelayConfig, TestCa};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const WAIT: Duration = Duration::from_secs(40);

fn postfix_unavailable() -> Option<String> {
    if !Path::new("/usr/sbin/postfix").exists() || !Path::new("/usr/lib/postfix/sbin/master").exists() {
        return Some("Postfix is not installed (apt-get install postfix)".into());
    }
    let uid = Command::new("id").arg("-u").output().ok();
    if uid
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .as_deref()
        != Some("0")
    {
        return Some("a private Postfix instance needs root".into());
    }
    None
}

fn require_postfix() -> bool {
    match postfix_unavailable() {
        None => true,
        Some(why) if std::env::var_os("SMARTHOST_REQUIRE_POSTFIX").is_some() => {
            panic!("SMARTHOST_REQUIRE_POSTFIX is set but {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A private Postfix instance, stopped when dropped.
struct Instance {
    dir: tempfile::TempDir,
}

impl Instance {
    fn start() -> Instance {
        let dir = tempfile::Builder::new()
            .prefix("smarthost-e2e-check")
            .tempdir()
            .unwrap();
        let d = dir.path();
        run(Command::new("chmod").arg("0755").arg(d));
        for sub in ["etc/postfix", "queue", "data"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run(Command::new("chown").arg("postfix").arg(d.join("data")));
        let main = format!(
            "queue_directory = {d}/queue\n\
             data_directory = {d}/data\n\
             command_directory = /usr/sbin\n\
             daemon_directory = /usr/lib/postfix/sbin\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             compatibility_level = 3.6\n\
             myhostname = pf.test\n\
             mydestination =\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             smtp_dns_support_level = disabled\n\
             smtp_host_lookup = native\n\
             maillog_file = {d}/maillog\n\
             maillog_file_prefixes = {d}\n\
             smtp_tls_security_level = may\n\
             smtp_tls_loglevel = 1\n",
            d = d.display()
        );
        std::fs::write(d.join("etc/postfix/main.cf"), main).unwrap();
        // No smtpd on port 25; no chroot (the chroot lacks /etc/hosts).
        let master: String = std::fs::read_to_string("/usr/share/postfix/master.cf.dist")
            .unwrap()
            .lines()
            .map(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                if l.starts_with("smtp      inet") {
                    format!("#{l}\n")
                } else if fields.len() >= 8 && !l.starts_with(['#', ' ', '\t']) {
                    let mut fields = fields;
                    fields[4] = "n";
                    format!("{}\n", fields.join(" "))
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        std::fs::write(d.join("etc/postfix/master.cf"), master).unwrap();
        let instance = Instance { dir };
        run(Command::new("postfix").args(instance.config_args()).arg("check"));
        run(Command::new("postfix").args(instance.config_args()).arg("start"));
        instance
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc/postfix")
    }

    fn config_args(&self) -> [String; 2] {
        ["-c".into(), self.config_dir().display().to_string()]
    }

    /// Sets smtp_tls_CAfile to a file holding `pem`.
    fn trust(&self, name: &str, pem: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        run(Command::new("postconf")
            .args(self.config_args())
            .arg("-e")
            .arg(format!("smtp_tls_CAfile = {}", path.display())));
    }

    /// `smarthost server set` on this instance, live.
    fn server_set(&self, relay: &str, extra: &[&str]) -> Output {
        let settings = self.dir.path().join("no-settings.toml");
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .arg("--config-dir")
            .arg(self.config_dir())
            .arg("--settings")
            .arg(settings)
            .args(["server", "set", "--relay", relay, "--check", "--timeout", "5"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn send(&self, from: &str) {
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.config_dir())
            .args(["-f", from, "rcpt@remote.example"])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let body = format!("From: {from}\nSubject: e2e check\n\nchecked first\n");
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }

    fn wait_for_log(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(start.elapsed() < WAIT, "no log line with {needles:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn drop_queue(&self) {
        run(Command::new("postsuper").args(self.config_args()).args(["-d", "ALL"]));
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("postfix").args(self.config_args()).arg("stop").output();
    }
}

fn relay(cert: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), name: &str) -> Relay {
    Relay::start(RelayConfig {
        mode: Mode::Starttls,
        cert,
        accounts: Vec::new(),
        name: name.to_owned(),
    })
}

/// Self-signed as `openssl req -x509 -subj /CN=localhost` makes it.
fn self_signed(cn: &str) -> ((Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (
        (
            vec![cert.der().clone()],
            PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        ),
        cert.pem(),
    )
}

#[test]
fn postfix_verifies_what_the_check_passes_and_refuses_what_it_refuses() {
    if !require_postfix() {
        return;
    }
    let pf = Instance::start();

    // A private CA in smtp_tls_CAfile: the check passes, Postfix verifies.
    let ca = TestCa::new();
    pf.trust("relay-ca.pem", &ca.pem());
    let trusted = relay(ca.leaf(&["localhost"]), "trusted");
    let target = format!("[localhost]:{}", trusted.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("a@a.example");
    let line = pf.wait_for_log(&["Verified TLS connection established", &format!(":{}", trusted.port())]);
    eprintln!("{line}");
    assert_eq!(
        trusted.wait_for(1, WAIT).len(),
        1,
        "delivered through the verified relay"
    );

    // A relay signed by another CA: the check refuses it (exit 4, nothing
    // changed); forced, Postfix refuses it too.
    let other = relay(TestCa::new().leaf(&["localhost"]), "other CA");
    let target = format!("[localhost]:{}", other.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("certificate is not signed by a trusted authority"),
        "{}",
        text(&out)
    );
    let main_cf = std::fs::read_to_string(pf.config_dir().join("main.cf")).unwrap();
    assert!(!main_cf.contains(&target), "nothing changed: {main_cf}");
    let out = pf.server_set(&target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("b@b.example");
    pf.wait_for_log(&["Server certificate not verified", &format!(":{}", other.port())]);
    eprintln!(
        "{}",
        pf.wait_for_log(&["certificate verification failed", &format!(":{}", other.port())])
    );
    assert!(other.deliveries().is_empty());
    pf.drop_queue();

    // A self-signed relay certificate pinned in smtp_tls_CAfile: both
    // accept it (webpki alone would say CaUsedAsEndEntity).
    let (cert, pem) = self_signed("localhost");
    let pinned = relay(cert, "pinned");
    pf.trust("pinned.pem", &pem);
    let target = format!("[localhost]:{}", pinned.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("c@c.example");
    pf.wait_for_log(&["Verified TLS connection established", &format!(":{}", pinned.port())]);
    assert_eq!(pinned.wait_for(1, WAIT).len(), 1);

    // A certificate for another name: the check says so, and Postfix's
    // `secure match=localhost` says "hostname mismatch".
    let misnamed = relay(ca.leaf(&["mx.wrong.test"]), "misnamed");
    pf.trust("relay-ca.pem", &ca.pem());
    let target = format!("[localhost]:{}", misnamed.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(
        text(&out).contains("certificate is for mx.wrong.test, not localhost"),
        "{}",
        text(&out)
    );
    let out = pf.server_set(&target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("d@d.example");
    pf.wait_for_log(&["hostname mismatch", &format!(":{}", misnamed.port())]);
    pf.wait_for_log(&["Server certificate not verified", &format!(":{}", misnamed.port())]);
    assert!(misnamed.deliveries().is_empty());
    pf.drop_queue();

    // A relay given by IPv4 address: `secure match=nexthop` checks the
    // address in the certificate. With it, both the check and Postfix
    // accept the relay; without it, both refuse.
    let by_address = relay(ca.leaf(&["localhost", "127.0.0.1"]), "by address");
    let target = format!("[127.0.0.1]:{}", by_address.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("e@e.example");
    pf.wait_for_log(&[
        "Verified TLS connection established",
        &format!("127.0.0.1[127.0.0.1]:{}", by_address.port()),
    ]);
    assert_eq!(by_address.wait_for(1, WAIT).len(), 1);

    let no_address = relay(ca.leaf(&["localhost"]), "no address");
    let target = format!("[127.0.0.1]:{}", no_address.port());
    let out = pf.server_set(&target, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    let out = pf.server_set(&target, &["--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    pf.send("f@f.example");
    pf.wait_for_log(&[
        "Server certificate not verified",
        &format!("127.0.0.1[127.0.0.1]:{}", no_address.port()),
    ]);
    assert!(no_address.deliveries().is_empty());
}
