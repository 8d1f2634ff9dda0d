//! Issue 14, "Safe files" and "Validated paths": the real binary against a
//! root whose managed paths, backup paths and old fixed temporary names hold
//! symlinks, FIFOs, devices, folders or a file of another user, and against
//! `--map-dir`/`--config-dir` values that would inject into main.cf or
//! escape `--root`.
//!
//! Every run has a deadline: a run that blocks (on a FIFO) is killed and
//! reported as blocked. The cases of one test run in parallel, each in its
//! own sandbox, and every offending case is reported, not only the first.
//!
//! A sandbox is `OUTER/root` (the `--root`), `OUTER/outside` (where hostile
//! symlinks point) and `OUTER/input` (policies and password files). "Nothing
//! written" compares a snapshot of all of OUTER (type, mode, owner, bytes of
//! every entry) before and after, ignoring only the lock file and the
//! journal.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use test_support::process::{self, Finished, Running};

/// How long all the runs of one test may take together.
const DEADLINE: Duration = Duration::from_secs(10);
/// The uid of "another user" (nobody).
const OTHER_UID: u32 = 65534;

const POSTFIX_MANAGED: [&str; 6] = [
    "etc/postfix/main.cf",
    "etc/postfix/master.cf",
    "var/spool/postfix/plesk/relay_secrets",
    "var/spool/postfix/plesk/sender_relay",
    "var/spool/postfix/plesk/tls_policy",
    "var/spool/postfix/plesk/sender_transport",
];
/// The managed Postfix files that exist before the second apply, so the
/// second apply backs them up.
const POSTFIX_BACKED_UP: [&str; 5] = [
    "etc/postfix/main.cf",
    "etc/postfix/master.cf",
    "var/spool/postfix/plesk/relay_secrets",
    "var/spool/postfix/plesk/sender_relay",
    "var/spool/postfix/plesk/tls_policy",
];
const RELAY_SECRETS: &str = "var/spool/postfix/plesk/relay_secrets";
const REG_FILE: &str = "smarthost.reg";

const ORIGINAL_MAIN_CF: &str = "# my settings\nmyhostname = mx.example.com\n";
const ORIGINAL_MASTER_CF: &str = "smtp      inet  n       -       y       -       -       smtpd\n";

fn euid() -> u32 {
    fs::metadata("/proc/self").unwrap().uid()
}

// ---------------------------------------------------------------- snapshots

/// One entry of a tree snapshot: enough to tell whether anything was written.
#[derive(Clone, PartialEq, Eq)]
enum Entry {
    File { mode: u32, uid: u32, bytes: Vec<u8> },
    Symlink(PathBuf),
    Dir { mode: u32 },
    Fifo,
    Device(u64),
    Other,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Entry::File { mode, uid, bytes } => write!(f, "file mode {mode:o} uid {uid} {} bytes", bytes.len()),
            Entry::Symlink(t) => write!(f, "symlink -> {}", t.display()),
            Entry::Dir { mode } => write!(f, "folder mode {mode:o}"),
            Entry::Fifo => f.write_str("FIFO"),
            Entry::Device(d) => write!(f, "device {d:#x}"),
            Entry::Other => f.write_str("other"),
        }
    }
}

type Tree = BTreeMap<PathBuf, Entry>;

/// The lock file and the journal may appear; they are the transaction's own.
fn is_bookkeeping(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some(".smarthost.lock" | ".smarthost-journal")
    )
}

/// Every entry below `dir`, never following a symlink nor opening a FIFO.
fn snapshot(dir: &Path) -> Tree {
    fn walk(dir: &Path, base: &Path, out: &mut Tree) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries {
            let path = entry.unwrap().path();
            if is_bookkeeping(&path) {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let ft = meta.file_type();
            let rel = path.strip_prefix(base).unwrap().to_owned();
            let e = if ft.is_symlink() {
                Entry::Symlink(fs::read_link(&path).unwrap())
            } else if ft.is_dir() {
                walk(&path, base, out);
                Entry::Dir {
                    mode: meta.mode() & 0o7777,
                }
            } else if ft.is_file() {
                Entry::File {
                    mode: meta.mode() & 0o7777,
                    uid: meta.uid(),
                    bytes: fs::read(&path).unwrap(),
                }
            } else if ft.is_fifo() {
                Entry::Fifo
            } else if ft.is_char_device() || ft.is_block_device() {
                Entry::Device(meta.rdev())
            } else {
                Entry::Other
            };
            out.insert(rel, e);
        }
    }
    let mut out = Tree::new();
    walk(dir, dir, &mut out);
    out
}

/// What differs between two snapshots, one line per path.
fn tree_diff(before: &Tree, after: &Tree) -> String {
    let mut out = String::new();
    for (path, b) in before {
        match after.get(path) {
            None => out.push_str(&format!("  removed {}: was {b:?}\n", path.display())),
            Some(a) if a != b => out.push_str(&format!("  changed {}: {b:?} -> {a:?}\n", path.display())),
            _ => {}
        }
    }
    for (path, a) in after {
        if !before.contains_key(path) {
            out.push_str(&format!("  created {}: {a:?}\n", path.display()));
        }
    }
    out
}

// ------------------------------------------------------------------ running

/// Starts the binary with `args`, stdin closed.
fn spawn(args: &[OsString]) -> Running {
    process::spawn(
        Command::new(env!("CARGO_BIN_EXE_smarthost"))
            .args(args)
            .stdin(Stdio::null()),
    )
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

// ----------------------------------------------------------------- sandboxes

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Postfix,
    MailEnable,
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["root", "outside", "input"] {
            fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let sandbox = Sandbox { dir };
        sandbox.write_inputs();
        sandbox
    }

    fn outer(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.dir.path().join("outside")
    }

    fn input(&self, name: &str) -> PathBuf {
        self.dir.path().join("input").join(name)
    }

    fn write_inputs(&self) {
        for (name, pw) in [
            ("pw-server-1", "server-pass-1-Kq3"),
            ("pw-server-2", "server-pass-2-Lr4"),
            ("pw-a-1", "a-pass-1-Ms5"),
            ("pw-a-2", "a-pass-2-Nt6"),
            ("pw-b-2", "b-pass-2-Ou7"),
            ("pw-new", "new-pass-Pv8"),
        ] {
            fs::write(self.input(name), format!("{pw}\n")).unwrap();
        }
        let pw = |name: &str| self.input(name).display().to_string();
        // P1: the state before; P2 changes every managed file (the
        // 465 domain adds master.cf's transport and sender_transport).
        let p1 = format!(
            r#"[server]
relay = "[smtp.one.example]:587"
username = "server-user"
password_file = "{}"

[domains."a.example"]
relay = "[smtp.a.example]:587"
username = "a-user"
password_file = "{}"
"#,
            pw("pw-server-1"),
            pw("pw-a-1")
        );
        let p2 = format!(
            r#"[server]
relay = "[smtp.two.example]:587"
username = "server-user"
password_file = "{}"

[domains."a.example"]
relay = "[smtp.a2.example]:587"
username = "a-user"
password_file = "{}"

[domains."b.example"]
relay = "[smtp.b.example]:465"
encryption = "implicit-tls"
username = "b-user"
password_file = "{}"
"#,
            pw("pw-server-2"),
            pw("pw-a-2"),
            pw("pw-b-2")
        );
        let m1 = format!(
            r#"[server]
relay = "[smtp.one.example]:587"
username = "server-user"
password_file = "{}"
"#,
            pw("pw-server-1")
        );
        let m2 = format!(
            r#"[server]
relay = "[smtp.two.example]:587"
username = "server-user"
password_file = "{}"

[domains."a.example"]
relay = "[smtp.a.example]:587"
username = "a-user"
password_file = "{}"
"#,
            pw("pw-server-2"),
            pw("pw-a-2")
        );
        for (name, text) in [("p1.toml", p1), ("p2.toml", p2), ("m1.toml", m1), ("m2.toml", m2)] {
            fs::write(self.input(name), text).unwrap();
        }
    }

    /// `smarthost [--backend mailenable] --root ROOT <args>`.
    fn args(&self, backend: Backend, rest: &[&str]) -> Vec<OsString> {
        let mut args = Vec::new();
        if backend == Backend::MailEnable {
            args.extend(os(&["--backend", "mailenable", "--settings"]));
            args.push(learned_settings().into());
        }
        args.push("--root".into());
        args.push(self.root().into());
        args.extend(os(rest));
        args
    }

    fn run_now(&self, backend: Backend, rest: &[&str]) -> Finished {
        spawn(&self.args(backend, rest)).finish(Instant::now() + DEADLINE)
    }

    fn apply_args(&self, backend: Backend, policy: &str) -> Vec<OsString> {
        let policy = self.input(policy);
        self.args(backend, &["--policy", policy.to_str().unwrap(), "apply"])
    }

    /// The state before: an administrator's main.cf and master.cf, then P1
    /// (Postfix), or M1 (MailEnable).
    fn base(&self, backend: Backend) {
        let policy = match backend {
            Backend::Postfix => {
                let etc = self.root().join("etc/postfix");
                fs::create_dir_all(&etc).unwrap();
                fs::write(etc.join("main.cf"), ORIGINAL_MAIN_CF).unwrap();
                fs::write(etc.join("master.cf"), ORIGINAL_MASTER_CF).unwrap();
                "p1.toml"
            }
            Backend::MailEnable => "m1.toml",
        };
        let out = spawn(&self.apply_args(backend, policy)).finish(Instant::now() + DEADLINE);
        assert_eq!(
            out.code,
            Some(0),
            "test setup: the base apply must succeed: {}",
            out.describe()
        );
    }

    /// The run under test: the second policy over the base.
    fn second_apply(&self, backend: Backend) -> Running {
        let policy = match backend {
            Backend::Postfix => "p2.toml",
            Backend::MailEnable => "m2.toml",
        };
        spawn(&self.apply_args(backend, policy))
    }

    /// The managed files' bytes (what a correct apply must produce).
    fn managed(&self, backend: Backend) -> BTreeMap<&'static str, Option<Vec<u8>>> {
        let list: &[&'static str] = match backend {
            Backend::Postfix => &POSTFIX_MANAGED,
            Backend::MailEnable => &[REG_FILE],
        };
        list.iter()
            .map(|rel| {
                let path = self.root().join(rel);
                let bytes = match fs::symlink_metadata(&path) {
                    Ok(m) if m.file_type().is_file() => Some(fs::read(&path).unwrap()),
                    _ => None,
                };
                (*rel, bytes)
            })
            .collect()
    }
}

/// The managed files after base + second apply, with nothing hostile around.
fn reference(backend: Backend) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    let sandbox = Sandbox::new();
    sandbox.base(backend);
    let out = sandbox.second_apply(backend).finish(Instant::now() + DEADLINE);
    assert_eq!(out.code, Some(0), "test setup: reference apply: {}", out.describe());
    sandbox.managed(backend)
}

// ---------------------------------------------------------- hostile objects

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Hostile {
    /// A symlink to a file outside the root (holding a copy of the original).
    Symlink,
    /// A symlink to a file outside the root that does not exist.
    DanglingSymlink,
    Fifo,
    Folder,
    /// A character device (like /dev/null).
    Device,
    /// A regular file, mode 0644, owned by uid 65534.
    ForeignFile,
}

impl Hostile {
    fn needs_root(self) -> bool {
        matches!(self, Hostile::Device | Hostile::ForeignFile)
    }
}

fn run_tool(program: &str, args: &[&std::ffi::OsStr]) {
    let status = Command::new(program).args(args).status().unwrap();
    assert!(status.success(), "test setup: {program} {args:?} failed");
}

/// Puts a hostile object at `rel` below the root; returns what it is.
fn plant(sandbox: &Sandbox, rel: &str, kind: Hostile) -> String {
    let path = sandbox.root().join(rel);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let original = fs::read(&path).ok();
    if fs::symlink_metadata(&path).is_ok() {
        fs::remove_file(&path).unwrap();
    }
    let flat = rel.replace('/', "_");
    match kind {
        Hostile::Symlink => {
            let target = sandbox.outside().join(&flat);
            fs::write(
                &target,
                original.unwrap_or_else(|| b"# placed outside the root\n".to_vec()),
            )
            .unwrap();
            std::os::unix::fs::symlink(&target, &path).unwrap();
            format!("{rel} -> {}", target.display())
        }
        Hostile::DanglingSymlink => {
            let target = sandbox.outside().join(format!("never-{flat}"));
            std::os::unix::fs::symlink(&target, &path).unwrap();
            format!("{rel} -> {} (missing)", target.display())
        }
        Hostile::Fifo => {
            run_tool("mkfifo", &["-m".as_ref(), "0644".as_ref(), path.as_os_str()]);
            format!("{rel} is a FIFO")
        }
        Hostile::Folder => {
            fs::create_dir(&path).unwrap();
            format!("{rel} is a folder")
        }
        Hostile::Device => {
            run_tool(
                "mknod",
                &[
                    "-m".as_ref(),
                    "0666".as_ref(),
                    path.as_os_str(),
                    "c".as_ref(),
                    "1".as_ref(),
                    "3".as_ref(),
                ],
            );
            format!("{rel} is a character device (1,3)")
        }
        Hostile::ForeignFile => {
            fs::write(&path, "foreign content\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            std::os::unix::fs::chown(&path, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
            format!("{rel} is a file of uid {OTHER_UID}, mode 0644")
        }
    }
}

struct Case {
    label: String,
    backend: Backend,
    hostile_rel: String,
    sandbox: Sandbox,
    before: Tree,
    running: Running,
}

/// Sets up one sandbox per (backend, path), plants `kind` there, snapshots
/// and starts the second apply. All cases run at once.
fn start_cases(kind: Hostile, paths: &[(Backend, String)]) -> Vec<Case> {
    paths
        .iter()
        .map(|(backend, rel)| {
            let sandbox = Sandbox::new();
            sandbox.base(*backend);
            let label = plant(&sandbox, rel, kind);
            let before = snapshot(sandbox.outer());
            let running = sandbox.second_apply(*backend);
            Case {
                label,
                backend: *backend,
                hostile_rel: rel.clone(),
                sandbox,
                before,
                running,
            }
        })
        .collect()
}

/// Fails the test when planting `kind` needs root and it is not root (the
/// tests of those kinds are `#[ignore]`d for that reason).
fn require_root_for(kind: Hostile) {
    if kind.needs_root() {
        test_support::require::root(&format!("planting a {kind:?} needs mknod/chown"));
    }
}

fn managed_paths() -> Vec<(Backend, String)> {
    let mut paths: Vec<(Backend, String)> = POSTFIX_MANAGED
        .iter()
        .map(|p| (Backend::Postfix, (*p).to_owned()))
        .collect();
    paths.extend(
        POSTFIX_BACKED_UP
            .iter()
            .map(|p| (Backend::Postfix, format!("{p}.smarthost-backup"))),
    );
    paths.push((Backend::MailEnable, REG_FILE.to_owned()));
    paths
}

fn old_temp_paths() -> Vec<(Backend, String)> {
    let mut paths: Vec<(Backend, String)> = POSTFIX_MANAGED
        .iter()
        .map(|p| (Backend::Postfix, format!("{p}.smarthost-tmp")))
        .collect();
    paths.push((Backend::MailEnable, "smarthost.reg.tmp".to_owned()));
    paths
}

/// A managed path holding `kind`: exit 1, an error naming the path, no
/// blocking, nothing written anywhere (root, outside, symlink targets).
fn assert_managed_path_refused(kind: Hostile) {
    require_root_for(kind);
    let cases = start_cases(kind, &managed_paths());
    let deadline = Instant::now() + DEADLINE;
    let mut failures = Vec::new();
    for case in cases {
        let out = case.running.finish(deadline);
        let after = snapshot(case.sandbox.outer());
        let name = Path::new(&case.hostile_rel)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let mut problems = Vec::new();
        if out.blocked {
            problems.push("the run blocked".to_owned());
        } else if out.code != Some(1) {
            problems.push(format!("expected exit 1, got {:?}", out.code));
        }
        if out.panicked() {
            problems.push("panicked".to_owned());
        }
        if !out.blocked && !out.stderr.contains(&name) {
            problems.push(format!("the error does not name {name}"));
        }
        let diff = tree_diff(&case.before, &after);
        if !diff.is_empty() {
            problems.push(format!("files were written:\n{diff}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{:?}] {}: {}\n    run: {}",
                case.backend,
                case.label,
                problems.join("; "),
                out.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) of a {kind:?} at a managed path were not refused cleanly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// An old fixed temp name holding `kind`: ignored. The apply succeeds, the
/// managed files are exactly what a clean apply writes, regular files owned
/// by us, the secret ones mode 0600, and nothing outside the root changes.
fn assert_old_temp_name_ignored(kind: Hostile) {
    require_root_for(kind);
    let references = [
        (Backend::Postfix, reference(Backend::Postfix)),
        (Backend::MailEnable, reference(Backend::MailEnable)),
    ];
    let cases = start_cases(kind, &old_temp_paths());
    let deadline = Instant::now() + DEADLINE;
    let me = euid();
    let mut failures = Vec::new();
    for case in cases {
        let out = case.running.finish(deadline);
        let mut problems = Vec::new();
        if out.blocked {
            problems.push("the run blocked".to_owned());
        } else if out.code != Some(0) {
            problems.push(format!("expected exit 0, got {:?}", out.code));
        }
        if out.panicked() {
            problems.push("panicked".to_owned());
        }
        let outside_before: Tree = case
            .before
            .iter()
            .filter(|(p, _)| !p.starts_with("root"))
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect();
        let after = snapshot(case.sandbox.outer());
        let outside_after: Tree = after
            .iter()
            .filter(|(p, _)| !p.starts_with("root"))
            .map(|(p, e)| (p.clone(), e.clone()))
            .collect();
        let diff = tree_diff(&outside_before, &outside_after);
        if !diff.is_empty() {
            problems.push(format!("something outside the root changed:\n{diff}"));
        }
        let secret_file = match case.backend {
            Backend::Postfix => RELAY_SECRETS,
            Backend::MailEnable => REG_FILE,
        };
        let reference = &references.iter().find(|(b, _)| *b == case.backend).unwrap().1;
        for (rel, want) in reference {
            let path = case.sandbox.root().join(rel);
            match (fs::symlink_metadata(&path), want) {
                (Err(_), None) => {}
                (Err(_), Some(_)) => problems.push(format!("{rel} is missing")),
                (Ok(m), _) if !m.file_type().is_file() => {
                    problems.push(format!("{rel} is not a regular file: {:?}", m.file_type()))
                }
                (Ok(m), want) => {
                    if m.uid() != me {
                        problems.push(format!("{rel} is owned by uid {}, not {me}", m.uid()));
                    }
                    if *rel == secret_file && m.mode() & 0o777 != 0o600 {
                        problems.push(format!("{rel} has mode {:o}, not 600", m.mode() & 0o777));
                    }
                    let got = fs::read(&path).unwrap();
                    if Some(&got) != want.as_ref() {
                        problems.push(format!("{rel} differs from what a clean apply writes"));
                    }
                }
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "[{:?}] {}: {}\n    run: {}",
                case.backend,
                case.label,
                problems.join("; "),
                out.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) of a {kind:?} at an old fixed temp name were not harmless:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ------------------------------------------------------ managed path tests

#[test]
fn a_symlink_at_a_managed_or_backup_path_is_refused_and_its_target_untouched() {
    assert_managed_path_refused(Hostile::Symlink);
}

#[test]
fn a_dangling_symlink_at_a_managed_or_backup_path_is_refused_and_creates_nothing_outside() {
    assert_managed_path_refused(Hostile::DanglingSymlink);
}

#[test]
fn a_fifo_at_a_managed_or_backup_path_is_refused_without_blocking() {
    assert_managed_path_refused(Hostile::Fifo);
}

#[test]
fn a_folder_at_a_managed_or_backup_path_is_refused() {
    assert_managed_path_refused(Hostile::Folder);
}

#[test]
#[ignore = "needs root for mknod/chown (run with --include-ignored as root; .ci/run does)"]
fn a_device_at_a_managed_or_backup_path_is_refused() {
    assert_managed_path_refused(Hostile::Device);
}

// ------------------------------------------------- old fixed temp names

#[test]
fn a_symlink_at_an_old_temp_name_cannot_redirect_the_secrets_outside_the_root() {
    assert_old_temp_name_ignored(Hostile::Symlink);
}

#[test]
fn a_dangling_symlink_at_an_old_temp_name_creates_nothing_outside_the_root() {
    assert_old_temp_name_ignored(Hostile::DanglingSymlink);
}

#[test]
fn a_fifo_at_an_old_temp_name_does_not_hang_apply() {
    assert_old_temp_name_ignored(Hostile::Fifo);
}

#[test]
#[ignore = "needs root for mknod/chown (run with --include-ignored as root; .ci/run does)"]
fn a_file_of_another_user_at_an_old_temp_name_does_not_give_them_the_secrets() {
    assert_old_temp_name_ignored(Hostile::ForeignFile);
}

// ------------------------------------------------------------ path options

/// `server set` over the base state with one extra global option: refused
/// with exit 1 or 2, the error names the option, nothing written anywhere.
fn assert_option_refused(cases: &[(&str, &str)]) {
    let deadline = Instant::now() + DEADLINE;
    let started: Vec<_> = cases
        .iter()
        .map(|(option, value)| {
            let sandbox = Sandbox::new();
            sandbox.base(Backend::Postfix);
            let before = snapshot(sandbox.outer());
            let pw = sandbox.input("pw-new");
            let args = sandbox.args(
                Backend::Postfix,
                &[
                    option,
                    value,
                    "server",
                    "set",
                    "--relay",
                    "[smtp.new.example]:587",
                    "--username",
                    "new-user",
                    "--password-file",
                    pw.to_str().unwrap(),
                ],
            );
            (option, value, sandbox, before, spawn(&args))
        })
        .collect();
    let mut failures = Vec::new();
    for (option, value, sandbox, before, running) in started {
        let out = running.finish(deadline);
        let mut problems = Vec::new();
        if out.blocked || !matches!(out.code, Some(1 | 2)) {
            problems.push("expected exit 1 or 2".to_owned());
        }
        if out.panicked() {
            problems.push("panicked".to_owned());
        }
        if !out.stderr.contains(option) {
            problems.push(format!("the error does not name {option}"));
        }
        let diff = tree_diff(&before, &snapshot(sandbox.outer()));
        if !diff.is_empty() {
            problems.push(format!("files were written:\n{diff}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{option} {value:?}: {}\n    run: {}",
                problems.join("; "),
                out.describe()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} path option(s) were not refused cleanly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_map_dir_with_a_line_break_cannot_inject_a_relayhost_into_main_cf() {
    assert_option_refused(&[
        ("--map-dir", "/m\nrelayhost = [evil.example]:25"),
        ("--map-dir", "/var/spool/m\rrelayhost = [evil.example]:25"),
    ]);
}

#[test]
fn a_map_dir_with_whitespace_comma_equals_or_hash_is_refused() {
    assert_option_refused(&[
        ("--map-dir", "/var/spool/my maps"),
        ("--map-dir", "/var/spool/my\tmaps"),
        ("--map-dir", "/var/spool/a,b"),
        ("--map-dir", "/var/spool/a=b"),
        ("--map-dir", "/var/spool/a#b"),
    ]);
}

#[test]
fn relative_map_and_config_dirs_are_refused() {
    assert_option_refused(&[
        ("--map-dir", "var/spool/postfix/plesk"),
        ("--config-dir", "etc/postfix"),
    ]);
}

#[test]
fn a_map_or_config_dir_with_dotdot_cannot_escape_the_root() {
    // Each lands in OUTER/escaped* when `..` is not refused: still inside the
    // test's own temporary folder, where the snapshot sees it.
    assert_option_refused(&[
        ("--map-dir", "/../escaped"),
        ("--map-dir", "/var/../../escaped-too"),
        ("--map-dir", "/var/spool/postfix/../../../../escaped-three"),
        ("--config-dir", "/../escaped-config"),
    ]);
}

#[test]
fn a_second_instance_without_map_dir_does_not_write_the_primary_instances_tables() {
    let sandbox = Sandbox::new();
    sandbox.base(Backend::Postfix);
    let plesk = sandbox.root().join("var/spool/postfix/plesk");
    let before = snapshot(&plesk);
    let pw = sandbox.input("pw-new");
    let out = sandbox.run_now(
        Backend::Postfix,
        &[
            "--config-dir",
            "/etc/postfix-out",
            "server",
            "set",
            "--relay",
            "[smtp.new.example]:587",
            "--username",
            "new-user",
            "--password-file",
            pw.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let diff = tree_diff(&before, &snapshot(&plesk));
    assert!(
        diff.is_empty(),
        "the second instance wrote the primary instance's tables in /var/spool/postfix/plesk:\n{diff}\nrun: {}",
        out.describe()
    );
    let written: Vec<PathBuf> = snapshot(&sandbox.root())
        .into_iter()
        .filter(|(p, e)| {
            p.file_name().is_some_and(|n| n == "relay_secrets")
                && matches!(e, Entry::File { bytes, .. } if bytes.windows(12).any(|w| w == b"new-pass-Pv8"))
        })
        .map(|(p, _)| p)
        .collect();
    assert!(
        !written.is_empty(),
        "the second instance wrote no relay_secrets with its password"
    );
    for path in &written {
        assert!(
            path.starts_with("etc/postfix-out"),
            "the second instance's relay_secrets is {}, not below /etc/postfix-out",
            path.display()
        );
    }
}

/// `--settings` in a folder whose learned MailEnable names include domain
/// level (see the fixture's comment).
fn learned_settings() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mailenable-learned/settings.toml")
}
