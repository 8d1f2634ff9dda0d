#![allow(dead_code)] // each test binary uses a part of the harness
//! A private Postfix instance in a temporary folder (the recipe of the
//! shared notes, postfix-e2e.md), created stopped; started on demand and
//! stopped when dropped. Needs root and Debian's `postfix` package.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long mail may take to reach a relay.
pub(crate) const WAIT: Duration = Duration::from_secs(40);

/// Why a real Postfix cannot run here, if it cannot.
pub(crate) fn postfix_unavailable() -> Option<String> {
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

/// Returns false (and says why) when the test cannot run here; fails
/// instead when SMARTHOST_REQUIRE_POSTFIX is set, as in CI.
pub(crate) fn require_postfix() -> bool {
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

/// Runs a command that must succeed; its stdout and stderr.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.stdin(Stdio::null()).output().expect("command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// A private Postfix instance.
pub(crate) struct Instance {
    pub(crate) dir: tempfile::TempDir,
}

impl Instance {
    /// Creates the instance, checked and stopped. `ca_pem` is trusted by its
    /// smtp client (`smtp_tls_CAfile`).
    pub(crate) fn create(ca_pem: &str) -> Instance {
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
        instance.postfix("check");
        instance
    }

    /// Creates the instance and starts it.
    pub(crate) fn start(ca_pem: &str) -> Instance {
        let instance = Instance::create(ca_pem);
        instance.postfix("start");
        instance
    }

    /// `postfix -c DIR <verb>`, which must succeed.
    pub(crate) fn postfix(&self, verb: &str) -> String {
        run(Command::new("postfix").args(self.config_args()).arg(verb))
    }

    /// Whether `postfix -c DIR status` says the instance runs.
    pub(crate) fn is_running(&self) -> bool {
        Command::new("postfix")
            .args(self.config_args())
            .arg("status")
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    }

    pub(crate) fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc/postfix")
    }

    pub(crate) fn map_dir(&self) -> PathBuf {
        self.dir.path().join("maps")
    }

    pub(crate) fn config_args(&self) -> [String; 2] {
        ["-c".into(), self.config_dir().display().to_string()]
    }

    /// `postconf -c DIR -n`.
    pub(crate) fn postconf_n(&self) -> String {
        run(Command::new("postconf").args(self.config_args()).arg("-n"))
    }

    /// Injects a message with sendmail.
    pub(crate) fn send(&self, from: &str, to: &str) {
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

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits until the log has a line with every needle.
    pub(crate) fn wait_for_log(&self, needles: &[&str]) -> String {
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
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .args(self.config_args())
            .arg("stop")
            .stdin(Stdio::null())
            .output();
    }
}
