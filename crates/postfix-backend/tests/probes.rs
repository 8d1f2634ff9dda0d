//! What a live writer asks Postfix, seen through fake `postconf`, `postfix`
//! and `postmap` put first on PATH (the backend runs them by name), which
//! record their arguments: the probes ask `postconf` once, about the
//! instance configured, and never `postfix -V`; a stopped instance is
//! configured without a reload; `postfix check` runs only when main.cf or
//! master.cf change.
//!
//! PATH belongs to the process: the tests of this file take turns.

#![cfg(unix)]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use postfix_backend::{Error, MapType, PostfixOptions, PostfixWriter, Reload};
use smarthost_core::{ConfigWriter, Credentials, Encryption, Policy, RelayHost, Secret, Smarthost, Username};

static PATH_LOCK: Mutex<()> = Mutex::new(());

/// Fake Postfix commands in a folder put first on PATH while this lives.
struct Fakes {
    dir: tempfile::TempDir,
    old_path: Option<OsString>,
    _turn: MutexGuard<'static, ()>,
}

const POSTCONF: &str = r#"#!/bin/sh
echo "postconf $*" >> "@DIR@/log"
for a in "$@"; do
  case "$a" in
    -m) cat "@DIR@/map_types"; exit 0 ;;
    mail_version) echo 3.7.11; exit 0 ;;
  esac
done
exit 0
"#;

const POSTFIX: &str = r#"#!/bin/sh
echo "postfix $*" >> "@DIR@/log"
for a in "$@"; do last="$a"; done
case "$last" in
  status) exit "$(cat "@DIR@/status_rc")" ;;
  reload)
    # A reload that fails because the instance stopped meanwhile.
    if [ -e "@DIR@/stop_on_reload" ]; then echo 1 > "@DIR@/status_rc"; exit 1; fi
    exit "$(cat "@DIR@/reload_rc")" ;;
  check) exit 0 ;;
  *) echo "postfix: invalid option" >&2; exit 1 ;;
esac
"#;

const POSTMAP: &str = r#"#!/bin/sh
echo "postmap $*" >> "@DIR@/log"
for a in "$@"; do last="$a"; done
case "$last" in
  hash:*) cp "${last#hash:}" "${last#hash:}.db" ;;
  lmdb:*) cp "${last#lmdb:}" "${last#lmdb:}.lmdb" ;;
esac
"#;

impl Fakes {
    fn new() -> Fakes {
        let turn = PATH_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, script) in [("postconf", POSTCONF), ("postfix", POSTFIX), ("postmap", POSTMAP)] {
            let path = bin.join(name);
            std::fs::write(&path, script.replace("@DIR@", &dir.path().display().to_string())).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let fakes = Fakes {
            old_path: std::env::var_os("PATH"),
            dir,
            _turn: turn,
        };
        fakes.set("map_types", "btree\ncidr\nhash\ntexthash\n");
        fakes.set("status_rc", "0");
        fakes.set("reload_rc", "0");
        let mut path = OsString::from(bin);
        if let Some(old) = &fakes.old_path {
            path.push(":");
            path.push(old);
        }
        std::env::set_var("PATH", path);
        fakes
    }

    fn set(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// The commands run since the last call, one per line.
    fn take_log(&self) -> Vec<String> {
        let path = self.dir.path().join("log");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::remove_file(&path);
        text.lines().map(str::to_owned).collect()
    }

    /// A Postfix configuration folder, with a main.cf unless `bare`.
    fn instance(&self, name: &str, bare: bool) -> PathBuf {
        let etc = self.dir.path().join(name).join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        if !bare {
            std::fs::write(etc.join("main.cf"), "compatibility_level = 3.6\nrelayhost =\n").unwrap();
        }
        etc
    }
}

impl Drop for Fakes {
    fn drop(&mut self) {
        match &self.old_path {
            Some(p) => std::env::set_var("PATH", p),
            None => std::env::remove_var("PATH"),
        }
    }
}

fn never_postfix_v(log: &[String]) {
    assert!(
        log.iter().all(|l| !l.split_whitespace().any(|a| a == "-V")),
        "postfix -V was run: {log:?}"
    );
}

fn policy(password: &str, domain: Option<&str>) -> Policy {
    let relay = Smarthost::new(RelayHost::parse("[smtp.relay.example]:587").unwrap())
        .with_encryption(Encryption::Starttls)
        .with_credentials(Credentials::new(
            Username::new("apikey").unwrap(),
            Secret::new(password.to_owned()).unwrap(),
        ));
    let mut policy = Policy::default();
    policy.set_server(relay.clone()).unwrap();
    if let Some(d) = domain {
        policy.domains.insert(d.parse().unwrap(), relay);
    }
    policy
}

#[test]
fn the_probe_asks_postconf_once_about_the_instance_and_never_postfix_v() {
    let fakes = Fakes::new();
    let etc = fakes.instance("second", false);
    let c = etc.display().to_string();

    let options = PostfixOptions::live_instance(&etc);
    let log = fakes.take_log();
    assert_eq!(log, [format!("postconf -c {c} -m")]);
    assert_eq!(options.map_type, MapType::Hash);
    assert!(options.check && options.compile_maps);
    assert_eq!(options.reload, Reload::Postfix);
    assert_eq!(
        (options.config_dir.as_path(), options.map_dir.as_path()),
        (etc.as_path(), etc.as_path())
    );

    // The type comes from that answer.
    fakes.set("map_types", "btree\nlmdb\ntexthash\n");
    assert_eq!(PostfixOptions::live_instance(&etc).map_type, MapType::Lmdb);
    fakes.set("map_types", "texthash\n");
    assert_eq!(PostfixOptions::live_instance(&etc).map_type, MapType::Texthash);
    assert_eq!(fakes.take_log().len(), 2, "one postconf per probe");

    // Without main.cf nothing that reads it is run (Postfix would sleep a
    // second before failing): only whether Postfix is installed is asked.
    let bare = fakes.instance("bare", true);
    let options = PostfixOptions::live_instance(&bare);
    assert_eq!(fakes.take_log(), ["postconf -d -h mail_version"]);
    assert!(options.check);
    assert_eq!(options.map_type, MapType::Hash);

    // The default instance: one postconf as well, whichever this host has.
    let options = PostfixOptions::live();
    let log = fakes.take_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0] == "postconf -m" || log[0] == "postconf -d -h mail_version",
        "{log:?}"
    );
    assert_eq!(options.config_dir, Path::new("/etc/postfix"));

    // A folder that would be refused is not asked about.
    let options = PostfixOptions::live_instance("/etc/postfix-out\nrelayhost = [evil]");
    assert!(fakes.take_log().is_empty());
    assert!(options.paths().is_err());

    // main.cf already names smarthost's tables: their type is kept and
    // Postfix is not asked at all; postconf on PATH says it is installed.
    let named = fakes.instance("named", false);
    let maps = named.join("maps");
    std::fs::write(
        named.join("main.cf"),
        format!(
            "sender_dependent_relayhost_maps = lmdb:{}/sender_relay\n",
            maps.display()
        ),
    )
    .unwrap();
    fakes.take_log();
    let options = PostfixOptions::live_instance_with_maps(&named, Some(maps.clone()));
    assert_eq!(fakes.take_log(), Vec::<String>::new());
    assert_eq!((options.map_type, options.check), (MapType::Lmdb, true));
    // Elsewhere than the tables' folder: asked as before.
    assert_eq!(PostfixOptions::live_instance(&named).map_type, MapType::Texthash);
    assert_eq!(fakes.take_log().len(), 1);

    // No postconf on PATH: Postfix is not installed, nothing to check.
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var("PATH", empty.path());
    assert!(!PostfixOptions::live_instance(&etc).check);
    assert!(!PostfixOptions::live_instance_with_maps(&named, Some(maps)).check);
    std::env::set_var("PATH", fakes.dir.path().join("bin"));

    never_postfix_v(&fakes.take_log());
}

#[test]
fn a_stopped_instance_is_configured_and_not_reloaded() {
    let fakes = Fakes::new();
    let etc = fakes.instance("stopped", false);
    let c = etc.display().to_string();
    let writer = PostfixWriter::new(PostfixOptions::live_instance(&etc));
    fakes.take_log();

    fakes.set("status_rc", "1");
    let (plan, applied) = writer.converge(&policy("first-password", None)).unwrap();
    assert!(applied.changed);
    assert!(
        plan.notes.iter().any(|n| n.contains("Postfix is not running")),
        "{}",
        plan.render()
    );
    let main = std::fs::read_to_string(etc.join("main.cf")).unwrap();
    assert!(main.contains("relayhost = [smtp.relay.example]:587"), "{main}");
    // Dated back, so that Postfix does not wait for it to "cool down".
    let modified = std::fs::metadata(etc.join("main.cf")).unwrap().modified().unwrap();
    let age = SystemTime::now().duration_since(modified).unwrap_or_default();
    assert!(age >= Duration::from_secs(1), "main.cf is {age:?} old");
    assert!(etc.join("relay_secrets.db").exists(), "tables are compiled");
    let log = fakes.take_log();
    assert!(log.contains(&format!("postfix -c {c} check")), "{log:?}");
    assert!(log.contains(&format!("postfix -c {c} status")), "{log:?}");
    assert!(!log.iter().any(|l| l.ends_with(" reload")), "{log:?}");
    let skipped = applied.ran.iter().find(|r| r.contains("skipped")).unwrap();
    assert!(
        skipped.starts_with(&format!("postfix -c {c} reload: skipped, Postfix is not running")),
        "{skipped}"
    );

    // Running: a change of tables only is compiled and reloaded, not
    // checked.
    fakes.set("status_rc", "0");
    let (plan, applied) = writer.converge(&policy("second-password", None)).unwrap();
    assert!(applied.changed);
    assert!(
        plan.files().all(|f| !f.path().ends_with("main.cf")),
        "{}",
        plan.render()
    );
    let log = fakes.take_log();
    assert!(log.iter().any(|l| l.starts_with("postmap -c ")), "{log:?}");
    assert!(log.contains(&format!("postfix -c {c} reload")), "{log:?}");
    assert!(!log.iter().any(|l| l.ends_with(" check")), "{log:?}");
    // Asked once, by the plan; the apply reloads at once.
    let asked = log.iter().filter(|l| l.ends_with(" status")).count();
    assert_eq!(asked, 1, "{log:?}");
    assert!(
        !plan.notes.iter().any(|n| n.contains("not running")),
        "{}",
        plan.render()
    );
    assert!(
        applied.ran.contains(&format!("postfix -c {c} reload")),
        "{:?}",
        applied.ran
    );

    // main.cf changes: checked again.
    writer
        .converge(&policy("second-password", Some("shop.example")))
        .unwrap();
    let log = fakes.take_log();
    assert!(log.contains(&format!("postfix -c {c} check")), "{log:?}");
    assert!(log.contains(&format!("postfix -c {c} reload")), "{log:?}");

    // An instance that stops while it is reloaded: the reload is skipped,
    // the new files stay.
    fakes.set("stop_on_reload", "");
    let (_, applied) = writer
        .converge(&policy("third-password", Some("shop.example")))
        .unwrap();
    assert!(
        applied.ran.iter().any(|r| r.contains("reload: skipped")),
        "{:?}",
        applied.ran
    );
    assert!(std::fs::read_to_string(etc.join("relay_secrets"))
        .unwrap()
        .contains("third-password"));
    never_postfix_v(&fakes.take_log());
}

#[test]
fn a_failing_reload_of_a_running_instance_or_a_custom_command_still_rolls_back() {
    let fakes = Fakes::new();
    let etc = fakes.instance("failing", false);
    let writer = PostfixWriter::new(PostfixOptions::live_instance(&etc));
    writer.converge(&policy("first-password", None)).unwrap();
    let before = std::fs::read(etc.join("relay_secrets")).unwrap();

    // Running, and the reload fails: rolled back.
    fakes.set("reload_rc", "1");
    let err = writer.converge(&policy("second-password", None)).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert_eq!(std::fs::read(etc.join("relay_secrets")).unwrap(), before);

    // A custom reload command that fails rolls back even when Postfix is
    // not running: it is not skipped.
    fakes.set("status_rc", "1");
    let writer = PostfixWriter::new(PostfixOptions {
        reload: Reload::Command(vec!["false".into()]),
        ..PostfixOptions::live_instance(&etc)
    });
    let err = writer.converge(&policy("second-password", None)).unwrap_err();
    assert!(matches!(err, Error::RolledBack { .. }), "{err}");
    assert!(err.to_string().contains("`false` failed"), "{err}");
    assert_eq!(std::fs::read(etc.join("relay_secrets")).unwrap(), before);
    never_postfix_v(&fakes.take_log());
}
