//! A real Postfix, configured by this backend, relays mail to local test
//! smarthosts (127.0.0.1 only) over STARTTLS and implicit TLS with AUTH.
//!
//! Needs root and Debian's `postfix` + `libsasl2-modules` (`.ci/run`
//! installs them). Without them each test says why and passes vacuously,
//! unless SMARTHOST_REQUIRE_POSTFIX is set, as in CI, where it fails.

#[path = "support/fake_relay.rs"]
mod fake_relay;
#[path = "support/matrix.rs"]
mod matrix;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_relay::{Delivery, Mode, Relay, RelayConfig, TestCa};
use postfix_backend::{MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{
    ConfigWriter, Credentials, DomainName, Encryption, Policy, RelayHost, Secret, Smarthost, Username,
};

const WAIT: Duration = Duration::from_secs(40);

/// Whether a real Postfix can run here; the reason when not.
fn postfix_unavailable() -> Option<String> {
    if !Path::new("/usr/sbin/postfix").exists() || !Path::new("/usr/lib/postfix/sbin/master").exists() {
        return Some("Postfix is not installed (apt-get install postfix libsasl2-modules)".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if uid.as_deref() != Some("0") {
        return Some("a private Postfix instance needs root".into());
    }
    None
}

/// Returns false (and says why) when the test cannot run here.
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

/// A private Postfix instance in a temporary folder (see shared notes,
/// postfix-e2e.md), started, and stopped when dropped.
struct Instance {
    dir: tempfile::TempDir,
}

impl Instance {
    fn start(ca_pem: &str) -> Instance {
        let dir = tempfile::Builder::new().prefix("smarthost-e2e").tempdir().unwrap();
        let d = dir.path();
        // Postfix daemons run as the postfix user and must reach the queue.
        run(Command::new("chmod").arg("0755").arg(d));
        for sub in ["etc/postfix", "queue", "data", "maps"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        run(Command::new("chown").arg("postfix").arg(d.join("data")));
        std::fs::write(d.join("ca.pem"), ca_pem).unwrap();
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
             smtp_tls_CAfile = {d}/ca.pem\n\
             smtp_tls_loglevel = 1\n\
             relayhost =\n",
            d = d.display()
        );
        std::fs::write(d.join("etc/postfix/main.cf"), main).unwrap();
        // No smtpd on port 25, and no chroot: the chroot would lack the
        // /etc/hosts that resolves `localhost` for the relays.
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

    fn writer(&self) -> PostfixWriter {
        PostfixWriter::new(PostfixOptions {
            root: PathBuf::from("/"),
            config_dir: self.config_dir(),
            map_dir: self.dir.path().join("maps"),
            map_type: MapType::Hash,
            compile_maps: true,
            check: true,
            reload: Reload::Postfix,
            ..PostfixOptions::render_into("/")
        })
    }

    fn apply(&self, policy: &Policy) {
        let (plan, applied) = self.writer().converge(policy).unwrap();
        assert!(applied.changed, "{}", plan.render());
        assert!(applied.ran.iter().any(|c| c.contains("check")), "{:?}", applied.ran);
    }

    fn send(&self, from: &str, to: &str) {
        let mut child = Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(self.config_dir())
            .args(["-f", from, to])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let body = format!("From: {from}\nTo: {to}\nSubject: smarthost e2e\n\nrelayed by the test\n");
        child.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        assert!(child.wait().unwrap().success());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits until the log has a line with every needle.
    fn wait_for_log(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
                return line.to_owned();
            }
            assert!(start.elapsed() < WAIT, "no log line with {needles:?}:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn flush(&self) {
        run(Command::new("postfix").args(self.config_args()).arg("flush"));
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("postfix").args(self.config_args()).arg("stop").output();
    }
}

fn smarthost(relay: &Relay, encryption: Encryption, user: Option<&str>) -> Smarthost {
    let s =
        Smarthost::new(RelayHost::parse(&format!("[localhost]:{}", relay.port())).unwrap()).with_encryption(encryption);
    match user {
        Some(u) => s.with_credentials(Credentials::new(
            Username::new(u).unwrap(),
            Secret::new(format!("pw-{u}")).unwrap(),
        )),
        None => s,
    }
}

fn start_relay(ca: &TestCa, name: &str, mode: Mode, cert_name: &str, users: &[&str]) -> Relay {
    Relay::start(RelayConfig {
        mode,
        cert: ca.leaf(&[cert_name]),
        accounts: users.iter().map(|u| (u.to_string(), format!("pw-{u}"))).collect(),
        name: name.to_owned(),
    })
}

fn domain(d: &str) -> DomainName {
    d.parse().unwrap()
}

fn delivery<'a>(deliveries: &'a [Delivery], from: &str) -> &'a Delivery {
    deliveries
        .iter()
        .find(|d| d.mail_from == from)
        .unwrap_or_else(|| panic!("no delivery from {from}: {deliveries:?}"))
}

#[test]
fn a_server_starttls_with_a_domain_on_implicit_tls() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let starttls = start_relay(&ca, "starttls", Mode::Starttls, "localhost", &["server-user"]);
    let wrapped = start_relay(&ca, "implicit", Mode::ImplicitTls, "localhost", &["c-user"]);
    let pf = Instance::start(&ca.pem());
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&starttls, Encryption::Starttls, Some("server-user")))
        .unwrap();
    policy.domains.insert(
        domain("c.example"),
        smarthost(&wrapped, Encryption::ImplicitTls, Some("c-user")),
    );
    pf.apply(&policy);

    pf.send("alice@c.example", "rcpt@remote.example");
    pf.send("bob@other.example", "rcpt@remote.example");
    let c = wrapped.wait_for(1, WAIT);
    let d = delivery(&c, "alice@c.example");
    assert!(d.tls && d.username.as_deref() == Some("c-user"), "{d:?}");
    let s = starttls.wait_for(1, WAIT);
    let d = delivery(&s, "bob@other.example");
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
    assert!(c.iter().all(|d| d.mail_from != "bob@other.example"));
    pf.wait_for_log(&[
        "Verified TLS connection established",
        &format!("localhost[127.0.0.1]:{}", wrapped.port()),
    ]);
}

#[test]
fn b_server_on_implicit_tls_with_a_domain_on_starttls() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let wrapped = start_relay(&ca, "implicit", Mode::ImplicitTls, "localhost", &["server-user"]);
    let starttls = start_relay(&ca, "starttls", Mode::Starttls, "localhost", &["a-user"]);
    let pf = Instance::start(&ca.pem());
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&wrapped, Encryption::ImplicitTls, Some("server-user")))
        .unwrap();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&starttls, Encryption::Starttls, Some("a-user")),
    );
    pf.apply(&policy);

    pf.send("alice@a.example", "rcpt@remote.example");
    pf.send("bob@other.example", "rcpt@remote.example");
    let d = delivery(&starttls.wait_for(1, WAIT), "alice@a.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("a-user"), "{d:?}");
    let d = delivery(&wrapped.wait_for(1, WAIT), "bob@other.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
}

#[test]
fn c_two_domains_share_a_relay_with_their_own_accounts() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let relay = start_relay(&ca, "shared", Mode::Starttls, "localhost", &["a-user", "b-user"]);
    let pf = Instance::start(&ca.pem());
    let mut policy = Policy::default();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&relay, Encryption::Starttls, Some("a-user")),
    );
    policy.domains.insert(
        domain("b.example"),
        smarthost(&relay, Encryption::Starttls, Some("b-user")),
    );
    pf.apply(&policy);

    pf.send("alice@a.example", "rcpt@remote.example");
    pf.send("bob@b.example", "rcpt@remote.example");
    let all = relay.wait_for(2, WAIT);
    assert_eq!(
        delivery(&all, "alice@a.example").username.as_deref(),
        Some("a-user"),
        "{all:?}"
    );
    assert_eq!(
        delivery(&all, "bob@b.example").username.as_deref(),
        Some("b-user"),
        "{all:?}"
    );
    assert!(all.iter().all(|d| d.tls));
}

#[test]
fn d_domain_only_leaves_other_senders_off_the_relay() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let relay = start_relay(&ca, "domain", Mode::Starttls, "localhost", &["a-user"]);
    let pf = Instance::start(&ca.pem());
    let mut policy = Policy::default();
    policy.domains.insert(
        domain("a.example"),
        smarthost(&relay, Encryption::Starttls, Some("a-user")),
    );
    pf.apply(&policy);

    pf.send("bob@other.example", "rcpt@remote.example");
    pf.send("alice@a.example", "rcpt@remote.example");
    relay.wait_for(1, WAIT);
    // bob's mail went to direct delivery, which cannot resolve
    // remote.example here (no DNS): no relay was used for it.
    pf.wait_for_log(&[
        "to=<rcpt@remote.example>",
        "relay=none",
        "unable to look up host remote.example",
    ]);
    let all = relay.deliveries();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].mail_from, "alice@a.example");
}

#[test]
fn e_a_certificate_for_another_host_is_refused_unless_the_check_is_off() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let relay = start_relay(&ca, "wrong-name", Mode::Starttls, "wrong.test", &["server-user"]);
    let pf = Instance::start(&ca.pem());
    let mut policy = Policy::default();
    policy
        .set_server(smarthost(&relay, Encryption::Starttls, Some("server-user")))
        .unwrap();
    pf.apply(&policy);

    pf.send("bob@other.example", "rcpt@remote.example");
    pf.wait_for_log(&["status=deferred", "Server certificate not verified"]);
    assert!(relay.deliveries().is_empty());

    policy.features.server.check_certificate = false;
    pf.apply(&policy);
    pf.flush();
    let d = delivery(&relay.wait_for(1, WAIT), "bob@other.example").clone();
    assert!(d.tls && d.username.as_deref() == Some("server-user"), "{d:?}");
}

#[test]
fn postfix_check_accepts_every_matrix_configuration() {
    if !require_postfix() {
        return;
    }
    let ca = TestCa::new();
    let pf = Instance::start(&ca.pem());
    for (name, policy) in matrix::cases() {
        let writer = pf.writer();
        let (plan, applied) = writer.converge(&policy).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !applied.changed || applied.ran.iter().any(|c| c.ends_with(" check")),
            "{name}: {:?}",
            applied.ran
        );
        assert!(writer.plan(&policy).unwrap().is_empty(), "{name}: {}", plan.render());
        let postconf = run(Command::new("postconf").args(pf.config_args()).arg("-n"));
        assert!(!postconf.contains("warning"), "{name}: {postconf}");
    }
}
