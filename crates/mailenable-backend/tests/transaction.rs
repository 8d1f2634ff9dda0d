//! The MailEnable apply as a transaction: stale plans refused before any
//! write, rollbacks that restore every value or say exactly which ones they
//! could not, the `.reg` render under a lock with a journal, and hostile
//! files at `smarthost.reg`.
#![cfg(unix)]

#[path = "support/cases.rs"]
mod cases;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailenable_backend::{regfile, schema, Error, MailEnableWriter, MemoryRegistry, RegData, Registry, REG_FILE};
use smarthost_core::transaction::{Lock, Transaction, JOURNAL_FILE, LOCK_FILE};
use smarthost_core::{Change, ConfigWriter, Encryption, Policy};
use test_support::fs::{names, TempDir};
use test_support::within;

/// A folder removed when the test ends.
fn temp_dir(name: &str) -> TempDir {
    TempDir::new("mailenable-tx", name)
}

// ---------------------------------------------------------------------------
// A registry that fails where a test says.

#[derive(Default)]
struct Faults {
    /// Writes (set or delete) so far.
    writes: usize,
    /// The write (1-based) that fails; 0: none.
    fail_write: usize,
    /// Whether the injected write failure has happened.
    failed: bool,
    /// (lower-case key, name) whose writes fail once the injected failure
    /// happened: their restore fails.
    fail_restore: Vec<(String, String)>,
}

/// A [`MemoryRegistry`] shared with the test, with injected failures.
#[derive(Clone, Default)]
struct Flaky {
    reg: Arc<Mutex<MemoryRegistry>>,
    faults: Arc<Mutex<Faults>>,
}

impl Flaky {
    fn new(reg: MemoryRegistry) -> Self {
        Flaky {
            reg: Arc::new(Mutex::new(reg)),
            faults: Arc::default(),
        }
    }

    fn snapshot(&self) -> MemoryRegistry {
        self.reg.lock().unwrap().clone()
    }

    fn writes(&self) -> usize {
        self.faults.lock().unwrap().writes
    }

    fn writer(&self, restart: Vec<Vec<String>>) -> MailEnableWriter {
        MailEnableWriter::with_registry(Box::new(self.clone()), restart).names(cases::learned())
    }

    /// Counts a write; fails it if told to.
    fn write(&self, key: &str, name: &str) -> Result<(), Error> {
        let mut f = self.faults.lock().unwrap();
        f.writes += 1;
        let injected = |what: &str| Error::Registry {
            key: key.to_owned(),
            name: name.to_owned(),
            reason: format!("access denied ({what}, injected)"),
        };
        if f.writes == f.fail_write {
            f.failed = true;
            return Err(injected("write"));
        }
        if f.failed
            && f.fail_restore
                .iter()
                .any(|(k, n)| k == &key.to_lowercase() && n == name)
        {
            return Err(injected("restore"));
        }
        Ok(())
    }
}

impl Registry for Flaky {
    fn get(&self, key: &str, name: &str) -> Result<Option<RegData>, Error> {
        self.reg.lock().unwrap().get(key, name)
    }
    fn set(&mut self, key: &str, name: &str, data: &RegData) -> Result<(), Error> {
        self.write(key, name)?;
        self.reg.lock().unwrap().set(key, name, data)
    }
    fn delete(&mut self, key: &str, name: &str) -> Result<(), Error> {
        self.write(key, name)?;
        self.reg.lock().unwrap().delete(key, name)
    }
    fn subkeys(&self, key: &str) -> Result<Vec<String>, Error> {
        self.reg.lock().unwrap().subkeys(key)
    }
}

/// A registry configured with the "both" case plus a value smarthost does
/// not manage.
fn configured() -> MemoryRegistry {
    let flaky = Flaky::new(MemoryRegistry::new());
    flaky.writer(Vec::new()).converge(&cases::cases()[3].1).unwrap();
    let mut reg = flaky.snapshot();
    reg.set(schema::SMTP_KEY, "Host Name", &RegData::Sz("mail.example.net".into()))
        .unwrap();
    reg
}

/// A policy that changes every managed value of [`configured`]: a new
/// server relay with credentials, `a.example` changed, `b.example` removed.
fn everything_changes() -> Policy {
    let s = cases::relay(
        "[smtp.eu.mailgun.org]:2525",
        Encryption::Starttls,
        Some("postmaster@mg.example"),
    );
    let a = cases::relay("[10.0.0.7]:26", Encryption::None, None);
    cases::policy(Some(s), &[("a.example", a)])
}

/// The registry changes of a plan, as (lower-case key without the hive, name).
fn changed_values(plan: &smarthost_core::Plan) -> Vec<(String, String)> {
    plan.changes
        .iter()
        .filter_map(|c| match c {
            Change::Registry(r) => Some((
                r.key.strip_prefix("HKEY_LOCAL_MACHINE\\").unwrap().to_lowercase(),
                r.name.clone(),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_failed_write_restores_every_value_exactly() {
    let original = configured();
    let plan = Flaky::new(original.clone())
        .writer(Vec::new())
        .plan(&everything_changes())
        .unwrap();
    let n = changed_values(&plan).len();
    assert!(n >= 10, "the plan changes many values: {n}");
    for fail_at in 1..=n {
        let flaky = Flaky::new(original.clone());
        flaky.faults.lock().unwrap().fail_write = fail_at;
        let err = flaky.writer(Vec::new()).apply(&plan).unwrap_err();
        assert!(matches!(err, Error::RolledBack { .. }), "write {fail_at}: {err}");
        assert!(err.to_string().contains("the previous values were restored"), "{err}");
        assert_eq!(
            flaky.snapshot(),
            original,
            "write {fail_at} failed: the registry is as before"
        );
    }
    // And a failed restart (after every write) restores them too.
    let flaky = Flaky::new(original.clone());
    let err = flaky
        .writer(vec![vec!["sh".into(), "-c".into(), "echo stopped >&2; exit 3".into()]])
        .converge(&everything_changes())
        .unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("stopped"), "{err}");
    assert_eq!(flaky.snapshot(), original);
}

#[test]
fn a_failed_restore_names_exactly_the_values_not_restored() {
    let original = configured();
    let plan = Flaky::new(original.clone())
        .writer(Vec::new())
        .plan(&everything_changes())
        .unwrap();
    let values = changed_values(&plan);
    let full = |i: usize| {
        let Change::Registry(r) = &plan.changes[i] else {
            unreachable!()
        };
        format!("{}\\{}", r.key, r.name)
    };
    // Write 6 fails. Restoring value 2 (written) and value 4 (written)
    // fails; restoring value 6 (its write failed, so it never changed)
    // fails too, but the value is intact and must not be named.
    let flaky = Flaky::new(original.clone());
    {
        let mut f = flaky.faults.lock().unwrap();
        f.fail_write = 6;
        f.fail_restore = vec![values[1].clone(), values[3].clone(), values[5].clone()];
    }
    let err = flaky.writer(Vec::new()).apply(&plan).unwrap_err();
    let Error::RollbackFailed { failed, cause } = &err else {
        panic!("expected RollbackFailed, got {err}");
    };
    assert!(cause.to_string().contains("write, injected"), "{cause}");
    let failed_names: Vec<&str> = failed.iter().map(|f| f.split_once(": ").unwrap().0).collect();
    assert_eq!(failed_names, [full(1), full(3)], "{err}");
    let message = err.to_string();
    assert!(!message.contains("the previous values were restored"), "{message}");
    assert!(
        message.contains("FAILED for 2 value(s)") && message.contains(&full(1)) && message.contains(&full(3)),
        "{message}"
    );
    assert!(!message.contains(cases::PASSWORD), "{message}");

    // Exactly those two differ from the original; every other value is back.
    let now = flaky.snapshot();
    for (i, (key, name)) in values.iter().enumerate() {
        let same = now.get(key, name).unwrap() == original.get(key, name).unwrap();
        assert_eq!(same, i != 1 && i != 3, "value {i} ({key}\\{name})");
    }
}

#[test]
fn a_stale_plan_is_refused_before_any_write() {
    let original = configured();
    let b_key = format!("{}\\b.example", cases::learned().domains.unwrap().key);

    // 1. A value the plan changes was changed meanwhile.
    let flaky = Flaky::new(original.clone());
    let writer = flaky.writer(Vec::new());
    let plan = writer.plan(&everything_changes()).unwrap();
    flaky
        .reg
        .lock()
        .unwrap()
        .set(schema::SMTP_KEY, schema::HOST, &RegData::Sz("by-hand.example".into()))
        .unwrap();
    let expected = flaky.snapshot();
    let writes = flaky.writes();
    let err = writer.apply(&plan).unwrap_err();
    assert!(matches!(err, Error::Stale { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("HKEY_LOCAL_MACHINE\\{}\\{}", schema::SMTP_KEY, schema::HOST)),
        "{err}"
    );
    assert_eq!(flaky.writes(), writes, "nothing written");
    assert_eq!(flaky.snapshot(), expected);

    // 2. A value the plan does not touch: the server changes only its
    //    password; b.example's TLS changes meanwhile.
    let mut policy = cases::cases()[3].1.clone();
    policy.server = Some(cases::relay("[192.0.2.25]:25", Encryption::None, Some("user")));
    let flaky = Flaky::new(original.clone());
    let writer = flaky.writer(Vec::new());
    let plan = writer.plan(&policy).unwrap();
    assert!(
        changed_values(&plan).iter().all(|(k, _)| k != &b_key.to_lowercase()),
        "the plan leaves b.example alone"
    );
    flaky
        .reg
        .lock()
        .unwrap()
        .set(&b_key, schema::TLS, &RegData::Dword(1))
        .unwrap();
    let expected = flaky.snapshot();
    let writes = flaky.writes();
    assert_eq!(writes, 0);
    let err = writer.apply(&plan).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("HKEY_LOCAL_MACHINE\\{b_key}\\{}", schema::TLS)),
        "{err}"
    );
    assert_eq!(flaky.writes(), writes, "nothing written");
    assert_eq!(flaky.snapshot(), expected);

    // 3. A new domain subkey appeared.
    let flaky = Flaky::new(original.clone());
    let writer = flaky.writer(Vec::new());
    let plan = writer.plan(&policy).unwrap();
    flaky
        .reg
        .lock()
        .unwrap()
        .set(
            &format!("{}\\c.example", cases::learned().domains.unwrap().key),
            schema::HOST,
            &RegData::Sz("x.example".into()),
        )
        .unwrap();
    let err = writer.apply(&plan).unwrap_err();
    assert!(
        matches!(err, Error::Stale { .. }) && err.to_string().contains("its subkeys"),
        "{err}"
    );
    assert_eq!(flaky.writes(), 0, "nothing written");

    // The plan applies when nothing changed, and records what it replaces
    // without printing a password.
    let flaky = Flaky::new(original.clone());
    let writer = flaky.writer(Vec::new());
    let plan = writer.plan(&policy).unwrap();
    let debug = format!("{plan:?}");
    let json = serde_json::to_string(&plan).unwrap();
    assert!(json.contains("\"before\""), "{json}");
    for shown in [&debug, &json, &plan.render()] {
        assert!(!shown.contains(cases::PASSWORD), "{shown}");
    }
    writer.apply(&plan).unwrap();
    assert!(writer.plan(&policy).unwrap().is_empty());
}

#[test]
fn changes_record_the_value_they_replace() {
    let flaky = Flaky::new(configured());
    let plan = flaky.writer(Vec::new()).plan(&everything_changes()).unwrap();
    let find = |key: &str, name: &str| {
        plan.changes
            .iter()
            .find_map(|c| match c {
                Change::Registry(r) if r.key.ends_with(key) && r.name == name => Some(r.clone()),
                _ => None,
            })
            .unwrap()
    };
    let port = find("Connectors\\SMTP", schema::PORT);
    assert_eq!(port.before, Some(smarthost_core::RegistryValue::Dword(25)));
    assert_eq!(port.value, Some(smarthost_core::RegistryValue::Dword(2525)));
    let user = find("Connectors\\SMTP", schema::USERNAME);
    assert_eq!(user.before, None, "absent before");
    let password = find("Sender Smart Hosts\\a.example", schema::PASSWORD);
    assert!(matches!(
        password.before,
        Some(smarthost_core::RegistryValue::SecretSz(_))
    ));
    assert_eq!(password.value, None, "deleted");
    assert!(!format!("{password:?}").contains(cases::PASSWORD));
}

// ---------------------------------------------------------------------------
// The `.reg` render.

fn reg_text(dir: &Path) -> String {
    regfile::decode(&std::fs::read(dir.join(REG_FILE)).unwrap()).unwrap()
}

#[test]
fn a_stale_render_plan_is_refused_and_nothing_is_written() {
    let dir = temp_dir("stale");
    let writer = MailEnableWriter::render_into(dir.path()).names(cases::learned());
    writer.converge(&cases::cases()[3].1).unwrap();

    // Another writer changes the file after the plan was made.
    let plan = writer.plan(&cases::cases()[0].1).unwrap();
    MailEnableWriter::render_into(dir.path())
        .names(cases::learned())
        .converge(&cases::cases()[1].1)
        .unwrap();
    let before = std::fs::read(dir.path().join(REG_FILE)).unwrap();
    let err = writer.apply(&plan).unwrap_err();
    assert!(matches!(err, Error::Stale { .. }), "{err}");
    assert!(err.to_string().contains(REG_FILE), "{err}");
    assert_eq!(std::fs::read(dir.path().join(REG_FILE)).unwrap(), before);

    // A change the plan does not touch (an unmanaged value) is a change too.
    let plan = writer.plan(&cases::cases()[0].1).unwrap();
    let mut text = reg_text(dir.path());
    text.push_str("[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Other]\r\n\"X\"=\"y\"\r\n\r\n");
    std::fs::write(dir.path().join(REG_FILE), regfile::encode(&text)).unwrap();
    assert!(matches!(writer.apply(&plan).unwrap_err(), Error::Stale { .. }));
    assert_eq!(reg_text(dir.path()), text);
    // Planned again, it applies and keeps the unmanaged value.
    writer.converge(&cases::cases()[0].1).unwrap();
    assert!(reg_text(dir.path()).contains("\"X\"=\"y\""));
}

#[test]
fn parallel_renders_leave_exactly_one_of_them() {
    let dir = temp_dir("race");
    let policy = |i: usize| {
        let server = cases::relay(
            &format!("[relay{i}.example]:{}", 2000 + i),
            Encryption::Starttls,
            Some(&format!("user{i}")),
        );
        let domain = cases::relay(&format!("[10.0.0.{i}]:25"), Encryption::None, None);
        cases::policy(Some(server), &[("d.example", domain)])
    };
    let clean: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let clean = temp_dir("clean");
            MailEnableWriter::render_into(clean.path())
                .names(cases::learned())
                .converge(&policy(i))
                .unwrap();
            std::fs::read(clean.path().join(REG_FILE)).unwrap()
        })
        .collect();
    for _round in 0..3 {
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let dir = dir.path().to_owned();
                    let policy = policy(i);
                    s.spawn(move || {
                        let writer = MailEnableWriter::render_into(&dir).names(cases::learned());
                        match writer.converge(&policy) {
                            Ok(_) => Ok(()),
                            Err(e @ Error::Stale { .. }) => Err(e.to_string()),
                            Err(Error::Policy(e @ smarthost_core::Error::Locked { .. })) => Err(e.to_string()),
                            Err(e) => panic!("unexpected error: {e}"),
                        }
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(results.iter().any(Result::is_ok), "{results:?}");
        let bytes = std::fs::read(dir.path().join(REG_FILE)).unwrap();
        let matching: Vec<usize> = (0..20).filter(|i| clean[*i] == bytes).collect();
        assert_eq!(matching.len(), 1, "the file is exactly one clean render");
        let read = MailEnableWriter::import(&dir.path().join(REG_FILE), &cases::learned()).unwrap();
        assert_eq!(read.server, policy(matching[0]).server);
        assert_eq!(read.domains, policy(matching[0]).domains);
        assert_eq!(
            names(dir.path()),
            [".smarthost.lock", REG_FILE, "smarthost.reg.smarthost-backup"],
            "no journal, no staging folder left"
        );
    }
}

#[test]
fn a_symlink_or_fifo_at_the_reg_file_is_refused_without_hanging() {
    for kind in ["symlink", "fifo", "folder"] {
        let dir = temp_dir(kind);
        let outside = temp_dir("outside");
        let reg = dir.path().join(REG_FILE);
        match kind {
            "symlink" => std::os::unix::fs::symlink(outside.path().join("stolen.reg"), &reg).unwrap(),
            "fifo" => assert!(std::process::Command::new("mkfifo")
                .arg(&reg)
                .status()
                .unwrap()
                .success()),
            _ => std::fs::create_dir(&reg).unwrap(),
        }
        let dir_path = dir.path().to_owned();
        let errors = within(Duration::from_secs(10), kind, move || {
            let writer = MailEnableWriter::render_into(&dir_path).names(cases::learned());
            let policy = cases::cases()[0].1.clone();
            let mut errors = vec![
                writer.read().unwrap_err().to_string(),
                writer.plan(&policy).unwrap_err().to_string(),
                writer.converge(&policy).unwrap_err().to_string(),
                MailEnableWriter::import(&dir_path.join(REG_FILE), &cases::learned())
                    .unwrap_err()
                    .to_string(),
            ];
            // A plan made before the file was replaced is refused too.
            let other = MailEnableWriter::render_into(dir_path.join("sub")).names(cases::learned());
            let plan = other.plan(&policy).unwrap();
            errors.push(writer.apply(&plan).unwrap_err().to_string());
            errors
        });
        let word = match kind {
            "symlink" => "symbolic link",
            "fifo" => "FIFO",
            _ => "folder",
        };
        for e in &errors {
            assert!(e.contains(word) && e.contains(REG_FILE), "{kind}: {e}");
        }
        assert!(names(outside.path()).is_empty(), "{kind}: nothing written outside");
        assert_eq!(
            names(dir.path()),
            [".smarthost.lock", REG_FILE],
            "{kind}: nothing else written"
        );
    }
}

#[test]
fn an_interrupted_render_is_rolled_back_by_the_next_command() {
    let dir = temp_dir("recover");
    let writer = MailEnableWriter::render_into(dir.path()).names(cases::learned());
    let both = &cases::cases()[3].1;
    writer.converge(both).unwrap();
    let good = std::fs::read(dir.path().join(REG_FILE)).unwrap();

    // A run killed after its commit, before it confirmed: the journal
    // stays, and the file holds what that run wrote.
    {
        let lock = Lock::acquire(&dir.path().join(LOCK_FILE), Duration::ZERO).unwrap();
        let mut tx = Transaction::new(&lock, &dir.path().join(JOURNAL_FILE));
        tx.write(&dir.path().join(REG_FILE), b"half-written garbage", 0o600, true)
            .unwrap();
        std::mem::forget(tx.commit(Vec::new()).unwrap());
    }
    assert!(dir.path().join(JOURNAL_FILE).exists());

    // Any command recovers first: here a read.
    let read = writer.read().unwrap();
    assert_eq!(
        (read.server.as_ref(), &read.domains),
        (both.server.as_ref(), &both.domains)
    );
    assert_eq!(std::fs::read(dir.path().join(REG_FILE)).unwrap(), good);
    assert!(!dir.path().join(JOURNAL_FILE).exists());

    // A plan says what it recovered.
    {
        let lock = Lock::acquire(&dir.path().join(LOCK_FILE), Duration::ZERO).unwrap();
        let mut tx = Transaction::new(&lock, &dir.path().join(JOURNAL_FILE));
        tx.write(&dir.path().join(REG_FILE), b"garbage", 0o600, true).unwrap();
        std::mem::forget(tx.commit(Vec::new()).unwrap());
    }
    let plan = writer.plan(both).unwrap();
    assert!(
        plan.warnings[0].contains("recovered an interrupted apply"),
        "{:?}",
        plan.warnings
    );
    assert!(plan.is_empty(), "{}", plan.render());
}

#[test]
fn no_password_is_left_behind_and_secrets_are_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("secrets");
    let writer = MailEnableWriter::render_into(dir.path()).names(cases::learned());
    let with_password = |i: usize| {
        let s = cases::relay("[smtp.example.com]:587", Encryption::Starttls, None).with_credentials(
            smarthost_core::Credentials::new(
                smarthost_core::Username::new("apikey").unwrap(),
                smarthost_core::Secret::new(format!("Secret-Number-{i}-xyz")).unwrap(),
            ),
        );
        cases::policy(Some(s.clone()), &[("a.example", s)])
    };
    // Every file's bytes, as UTF-8 and as UTF-16LE text.
    let everything = |dir: &Path| -> Vec<(String, String)> {
        let mut out = Vec::new();
        for name in names(dir) {
            let path = dir.join(&name);
            if path.is_file() {
                let bytes = std::fs::read(&path).unwrap();
                let text = regfile::decode(&bytes).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
                out.push((name, text));
            }
        }
        out
    };
    for i in 0..5 {
        writer.converge(&with_password(i)).unwrap();
        for name in names(dir.path()).iter().filter(|n| n.starts_with(REG_FILE)) {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
    }
    writer.converge(&Policy::default()).unwrap();
    for (name, text) in everything(dir.path()) {
        assert!(!text.contains("Secret-Number-"), "{name} still holds a password");
    }
    assert_eq!(names(dir.path()), [".smarthost.lock", REG_FILE]);
}

#[test]
fn a_world_readable_reg_file_is_made_0600_even_when_its_values_are_right() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("loose");
    let writer = MailEnableWriter::render_into(dir.path()).names(cases::learned());
    let policy = &cases::cases()[0].1;
    writer.converge(policy).unwrap();
    let reg = dir.path().join(REG_FILE);
    let bytes = std::fs::read(&reg).unwrap();
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let plan = writer.plan(policy).unwrap();
    assert!(plan.is_empty());
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("mode 0644") && w.contains("0600")),
        "{:?}",
        plan.warnings
    );
    let applied = writer.apply(&plan).unwrap();
    assert!(applied.changed);
    for name in [REG_FILE, "smarthost.reg.smarthost-backup"] {
        let mode = std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    assert_eq!(std::fs::read(&reg).unwrap(), bytes, "the content is kept");
    let (plan, applied) = writer.converge(policy).unwrap();
    assert!(plan.warnings.iter().all(|w| !w.contains("mode")) && !applied.changed);
}
