//! A private Postfix instance in a temporary folder, from the verified recipe
//! of the shared notes (postfix-e2e.md): its own configuration, queue, data
//! folder and log; loopback only; no smtpd on port 25; no DNS. Created
//! checked and stopped, started on demand, stopped when dropped.
//!
//! Needs root and Debian's `postfix` package: [`Instance::create`] fails the
//! test when they are missing (see [`crate::require::postfix`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::run;

/// How long mail may take to reach a relay, or a log line to appear.
pub const WAIT: Duration = Duration::from_secs(40);

/// Writes a private instance's main.cf and master.cf into `config_dir`,
/// with the queue, data folder and log in `var_dir` (created; the data
/// folder owned by `postfix`), enough for `postfix -c`, `postmap -c` and
/// `postfix check`. `extra_main_cf` is appended to main.cf. Nothing starts.
///
/// master.cf is Debian's `master.cf.dist` without the `smtp inet` service
/// and without chroot (the chroot would lack the /etc/hosts that resolves
/// `localhost` for the relays).
pub fn write_config(config_dir: &Path, var_dir: &Path, extra_main_cf: &str) {
    for sub in ["queue", "data"] {
        std::fs::create_dir_all(var_dir.join(sub)).unwrap();
    }
    run(Command::new("chown").arg("postfix").arg(var_dir.join("data")));
    std::fs::create_dir_all(config_dir).unwrap();
    let main = format!(
        "queue_directory = {v}/queue\n\
         data_directory = {v}/data\n\
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
         maillog_file = {v}/maillog\n\
         maillog_file_prefixes = {v}\n\
         {extra_main_cf}",
        v = var_dir.display()
    );
    std::fs::write(config_dir.join("main.cf"), main).unwrap();
    let master: String = std::fs::read_to_string("/usr/share/postfix/master.cf.dist")
        .expect("Debian's /usr/share/postfix/master.cf.dist")
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
    std::fs::write(config_dir.join("master.cf"), master).unwrap();
}

/// A private Postfix instance.
pub struct Instance {
    /// The instance's folder: `etc/postfix`, `maps`, `queue`, `data`, `maillog`.
    pub dir: tempfile::TempDir,
}

impl Instance {
    /// Creates the instance, checked and stopped. Its smtp client logs TLS
    /// (`smtp_tls_loglevel = 1`), uses TLS when offered, and trusts `ca_pem`
    /// (written to `ca.pem`, as `smtp_tls_CAfile`) when given.
    pub fn create(ca_pem: Option<&str>) -> Instance {
        crate::require::postfix();
        let dir = tempfile::Builder::new().prefix("smarthost-e2e").tempdir().unwrap();
        let d = dir.path();
        // Postfix daemons run as the postfix user and must reach the queue.
        run(Command::new("chmod").arg("0755").arg(d));
        std::fs::create_dir_all(d.join("maps")).unwrap();
        let mut extra = String::from("smtp_tls_security_level = may\nsmtp_tls_loglevel = 1\n");
        if let Some(pem) = ca_pem {
            std::fs::write(d.join("ca.pem"), pem).unwrap();
            extra.push_str(&format!("smtp_tls_CAfile = {}/ca.pem\n", d.display()));
        }
        extra.push_str("relayhost =\n");
        write_config(&d.join("etc/postfix"), d, &extra);
        let instance = Instance { dir };
        instance.postfix("check");
        instance
    }

    /// Creates the instance (as [`Instance::create`]) and starts it.
    pub fn start(ca_pem: Option<&str>) -> Instance {
        let instance = Instance::create(ca_pem);
        instance.postfix("start");
        instance
    }

    /// `postfix -c DIR <verb>`, which must succeed; its output.
    pub fn postfix(&self, verb: &str) -> String {
        run(Command::new("postfix").args(self.config_args()).arg(verb))
    }

    /// Whether `postfix -c DIR status` says the instance runs.
    pub fn is_running(&self) -> bool {
        Command::new("postfix")
            .args(self.config_args())
            .arg("status")
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    }

    /// The configuration folder (main.cf, master.cf).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("etc/postfix")
    }

    /// A folder for lookup tables.
    pub fn map_dir(&self) -> PathBuf {
        self.dir.path().join("maps")
    }

    /// `-c CONFIG_DIR`, for postfix, postconf, postsuper.
    pub fn config_args(&self) -> [String; 2] {
        ["-c".into(), self.config_dir().display().to_string()]
    }

    /// `postconf -c DIR -n`.
    pub fn postconf_n(&self) -> String {
        run(Command::new("postconf").args(self.config_args()).arg("-n"))
    }

    /// Makes the smtp client trust `pem` (written to the file `name` in the
    /// instance's folder, set as `smtp_tls_CAfile` with `postconf -e`).
    pub fn trust(&self, name: &str, pem: &str) {
        let path = self.dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        run(Command::new("postconf")
            .args(self.config_args())
            .arg("-e")
            .arg(format!("smtp_tls_CAfile = {}", path.display())));
    }

    /// Injects a message from `from` to `to` with sendmail.
    pub fn send(&self, from: &str, to: &str) {
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

    /// Deletes every queued message (`postsuper -d ALL`).
    pub fn drop_queue(&self) {
        run(Command::new("postsuper").args(self.config_args()).args(["-d", "ALL"]));
    }

    /// The instance's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// Waits (up to [`WAIT`]) until the log has a line with every needle;
    /// that line. Fails the test with the log otherwise.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
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
