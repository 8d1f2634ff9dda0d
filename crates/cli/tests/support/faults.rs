//! Shared helpers for the fault-injection tests (crash.rs, enospc.rs): run
//! the real binary with a timeout, generate an old and a new policy, take a
//! snapshot of the configuration under a root and compare it with reference
//! snapshots, write a private Postfix configuration, mount a tmpfs.
//!
//! Include with `#[path = "support/faults.rs"] mod faults;`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_smarthost")
}

/// What a finished (or timed-out) command did.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// The exit code, `None` when killed by a signal or timed out.
    pub(crate) code: Option<i32>,
    /// The signal that ended it.
    pub(crate) signal: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) timed_out: bool,
    pub(crate) elapsed: Duration,
}

impl Outcome {
    pub(crate) fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// One line for an assertion message: exit status and the last lines of stderr.
    pub(crate) fn brief(&self) -> String {
        let status = if self.timed_out {
            "timed out".to_owned()
        } else if let Some(c) = self.code {
            format!("exit {c}")
        } else {
            format!("signal {}", self.signal.unwrap_or(0))
        };
        let err: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = err[err.len().saturating_sub(2)..].join(" | ");
        let tail: String = tail.chars().take(300).collect();
        if tail.is_empty() {
            status
        } else {
            format!("{status}: {tail}")
        }
    }
}

/// Runs `program args`, stdin closed, with extra environment variables;
/// kills it (and reports `timed_out`) after `timeout`.
pub(crate) fn run_program(program: &str, args: &[String], env: &[(String, String)], timeout: Duration) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let start = Instant::now();
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start: {e}"));
    let reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Outcome {
        code: if timed_out { None } else { status.code() },
        signal: status.signal(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        timed_out,
        elapsed: start.elapsed(),
    }
}

/// Runs the smarthost binary.
pub(crate) fn run(args: &[String], env: &[(String, String)], timeout: Duration) -> Outcome {
    run_program(bin(), args, env, timeout)
}

/// `["a", "b"]` as owned strings.
pub(crate) fn strings<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    items.iter().map(|s| s.as_ref().to_owned()).collect()
}

pub(crate) fn path_str(p: &Path) -> String {
    p.to_str().expect("test paths are UTF-8").to_owned()
}

/// Whether an environment variable is set to something other than "" or "0".
pub(crate) fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A positive integer from the environment, or the default.
pub(crate) fn env_number(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------
// Names that are not configuration.

/// Suffixes (and whole names) of the files the transaction keeps next to the
/// configuration: backups of the previous generation, the lock, the journal,
/// temporary files.
pub(crate) const NOT_CONFIG_SUFFIXES: &[&str] = &[
    ".smarthost-backup",
    ".smarthost.lock",
    ".smarthost-journal",
    ".smarthost-tmp",
];

/// Temp files end with this; none may remain once a command has recovered.
pub(crate) const TEMP_SUFFIX: &str = ".smarthost-tmp";

pub(crate) fn is_config_name(name: &str) -> bool {
    !NOT_CONFIG_SUFFIXES.iter().any(|s| name.ends_with(s)) && !is_temp_name(name)
}

/// A temp file (`.<name>.<random>.smarthost-tmp`), or a temp folder
/// (`.smarthost-tmp.<random>`).
pub(crate) fn is_temp_name(name: &str) -> bool {
    name.ends_with(TEMP_SUFFIX) || name.contains(".smarthost-tmp.")
}

// ---------------------------------------------------------------------------
// Snapshots.

/// How a snapshot is taken.
#[derive(Debug, Clone, Default)]
pub(crate) struct SnapshotOptions {
    /// This absolute path, wherever it appears in a file, is replaced by
    /// `<ROOT>`, so that snapshots of different folders compare (live mode:
    /// main.cf names the map folder).
    pub(crate) normalize: Option<String>,
    /// Compiled tables (e.g. `.db`): only their presence is recorded; their
    /// content is checked with `postmap -q` (Berkeley DB files are not
    /// byte-for-byte reproducible).
    pub(crate) compiled_suffix: Option<String>,
    /// Names (relative to the root) left out, e.g. a filler file.
    pub(crate) exclude: BTreeSet<String>,
}

/// Every configuration file under a root: relative path -> content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Snapshot {
    pub(crate) files: BTreeMap<String, Vec<u8>>,
}

const COMPILED: &[u8] = b"<compiled table: checked with postmap -q>";

fn replace_bytes(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Takes a snapshot of `root` (a missing root is an empty snapshot).
pub(crate) fn snapshot(root: &Path, options: &SnapshotOptions) -> Snapshot {
    fn walk(dir: &Path, base: &Path, options: &SnapshotOptions, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = path_str(path.strip_prefix(base).unwrap());
            if !is_config_name(&name) || options.exclude.contains(&rel) {
                continue;
            }
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(&path, base, options, out);
            } else if kind.is_file() {
                let content = if options.compiled_suffix.as_deref().is_some_and(|s| name.ends_with(s)) {
                    COMPILED.to_vec()
                } else {
                    let raw = std::fs::read(&path).unwrap_or_else(|e| format!("<unreadable: {e}>").into_bytes());
                    match &options.normalize {
                        Some(prefix) => replace_bytes(&raw, prefix.as_bytes(), b"<ROOT>"),
                        None => raw,
                    }
                };
                out.insert(rel, content);
            } else {
                // A symlink, FIFO or device where configuration belongs.
                out.insert(rel, format!("<not a regular file: {kind:?}>").into_bytes());
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(root, root, options, &mut files);
    Snapshot { files }
}

/// Temp files left anywhere under `root`.
pub(crate) fn temp_leftovers(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_temp_name(&name) {
                out.push(path_str(path.strip_prefix(base).unwrap()));
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&path, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Which generation a snapshot is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Generation {
    Old,
    New,
    /// Neither: each file that differs from the old generation, and what it is.
    Mixed(String),
}

impl Generation {
    /// "old", "new" or the mix.
    pub(crate) fn describe(&self) -> &str {
        match self {
            Generation::Old => "old",
            Generation::New => "new",
            Generation::Mixed(what) => what,
        }
    }

    pub(crate) fn is_consistent(&self) -> bool {
        !matches!(self, Generation::Mixed(_))
    }
}

/// Compares `actual` with the two references.
pub(crate) fn classify(actual: &Snapshot, old: &Snapshot, new: &Snapshot) -> Generation {
    if actual == old {
        return Generation::Old;
    }
    if actual == new {
        return Generation::New;
    }
    let paths: BTreeSet<&String> = actual
        .files
        .keys()
        .chain(old.files.keys())
        .chain(new.files.keys())
        .collect();
    let mut parts = Vec::new();
    for path in paths {
        let a = actual.files.get(path);
        let o = old.files.get(path);
        let n = new.files.get(path);
        if a == o && a == n {
            continue;
        }
        let what = match (a, a == o, a == n) {
            (None, true, _) => "absent (old)",
            (_, true, _) => "old",
            (None, _, true) => "absent (new)",
            (_, _, true) => "new",
            (None, _, _) => "absent",
            (Some(_), _, _) => "other",
        };
        parts.push(format!("{path}={what}"));
    }
    Generation::Mixed(format!("MIX [{}]", parts.join(" ")))
}

// ---------------------------------------------------------------------------
// Policies.

/// Domains of the old policy: d0000 ..< OLD_END.
pub(crate) const OLD_END: usize = 2000;
/// Removed in the new policy: d0000 ..< REMOVED_END.
pub(crate) const REMOVED_END: usize = 300;
/// Added in the new policy: OLD_END ..< NEW_END.
pub(crate) const NEW_END: usize = 2300;
/// The domain that switches to implicit TLS on port 465 (master.cf changes).
pub(crate) const WRAPPED: usize = 1000;

pub(crate) fn domain(i: usize) -> String {
    format!("d{i:04}.example")
}

/// Writes `old.toml`, `new.toml` and their password files into `dir`:
/// the old policy has a server-wide relay and `old_end` domains with
/// passwords; the new one changes the server relay and its key, removes the
/// first domains, adds new ones, changes a third of the passwords and moves
/// one domain to implicit TLS (465).
pub(crate) fn write_policies(dir: &Path) -> (PathBuf, PathBuf) {
    write_policies_sized(dir, OLD_END, REMOVED_END, NEW_END, WRAPPED)
}

pub(crate) fn write_policies_sized(
    dir: &Path,
    old_end: usize,
    removed_end: usize,
    new_end: usize,
    wrapped: usize,
) -> (PathBuf, PathBuf) {
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    for k in 0..8 {
        std::fs::write(secrets.join(format!("old-{k}.key")), format!("old-password-{k}-Xq7\n")).unwrap();
        std::fs::write(secrets.join(format!("new-{k}.key")), format!("new-password-{k}-Vb2\n")).unwrap();
    }
    std::fs::write(secrets.join("server-old.key"), "SG.old-server-key-Lm3\n").unwrap();
    std::fs::write(secrets.join("server-new.key"), "SG.new-server-key-Rt9\n").unwrap();
    let relays = [
        "[smtp.relay-a.example]:587",
        "[smtp.relay-b.example]:587",
        "[10.0.0.25]:2525",
    ];

    let mut old = String::from(
        "[server]\nrelay = \"[smtp.old-server.example]:587\"\nencryption = \"starttls\"\n\
         username = \"apikey\"\npassword_file = \"secrets/server-old.key\"\n\n",
    );
    for i in 0..old_end {
        let d = domain(i);
        let relay = relays[i % 3];
        let encryption = if i % 3 == 2 { "none" } else { "starttls" };
        old.push_str(&format!(
            "[domains.\"{d}\"]\nrelay = \"{relay}\"\nencryption = \"{encryption}\"\n\
             username = \"postmaster@{d}\"\npassword_file = \"secrets/old-{}.key\"\n\n",
            i % 8
        ));
    }

    let mut new = String::from(
        "[server]\nrelay = \"[smtp.new-server.example]:587\"\nencryption = \"starttls\"\n\
         username = \"apikey\"\npassword_file = \"secrets/server-new.key\"\n\n",
    );
    for i in removed_end..new_end {
        let d = domain(i);
        let (relay, encryption) = if i == wrapped {
            ("[smtp.implicit-tls.example]:465", "implicit-tls")
        } else {
            (relays[i % 3], if i % 3 == 2 { "none" } else { "starttls" })
        };
        let key = if i >= old_end || i % 3 == 0 {
            format!("new-{}", i % 8)
        } else {
            format!("old-{}", i % 8)
        };
        new.push_str(&format!(
            "[domains.\"{d}\"]\nrelay = \"{relay}\"\nencryption = \"{encryption}\"\n\
             username = \"postmaster@{d}\"\npassword_file = \"secrets/{key}.key\"\n\n"
        ));
    }
    let old_path = dir.join("old.toml");
    let new_path = dir.join("new.toml");
    std::fs::write(&old_path, old).unwrap();
    std::fs::write(&new_path, new).unwrap();
    (old_path, new_path)
}

// ---------------------------------------------------------------------------
// Lookup tables.

/// Parses a Postfix lookup table's text: key -> value (first whitespace
/// splits; comments and blank lines skipped).
pub(crate) fn parse_table(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.split_once(char::is_whitespace)?;
            Some((k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

/// Checks that each compiled table `<map_dir>/<name>.db` agrees with its
/// text table, with `postmap -c CONFIG_DIR -q - hash:FILE`: every key of the
/// text has the text's value, and every key in `other_keys` (the other
/// generation's keys of that table) that the text lacks is absent. Returns
/// the disagreements.
pub(crate) fn compiled_tables_disagree(
    config_dir: &Path,
    map_dir: &Path,
    other_keys: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    use std::io::Write;
    let mut problems = Vec::new();
    let Ok(entries) = std::fs::read_dir(map_dir) else {
        return problems;
    };
    let mut tables: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_config_name(n) && !n.contains('.'))
        .collect();
    tables.sort();
    for name in tables {
        let file = map_dir.join(&name);
        let text = parse_table(&std::fs::read_to_string(&file).unwrap_or_default());
        let mut query: BTreeSet<String> = text.keys().cloned().collect();
        if let Some(other) = other_keys.get(&name) {
            query.extend(other.iter().cloned());
        }
        let mut child = Command::new("postmap")
            .arg("-c")
            .arg(config_dir)
            .arg("-q")
            .arg("-")
            .arg(format!("hash:{}", file.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("postmap starts");
        let mut input = String::new();
        for k in &query {
            input.push_str(k);
            input.push('\n');
        }
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let out = child.wait_with_output().unwrap();
        let _ = writer.join();
        // postmap -q - exits 1 when some key is not found; only a fatal
        // error (missing or corrupt .db) prints on stderr.
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("fatal") || stderr.contains("error") {
            problems.push(format!("{name}.db: {}", stderr.trim().lines().next().unwrap_or("")));
            continue;
        }
        let found = parse_table(&String::from_utf8_lossy(&out.stdout));
        let wrong = text.iter().filter(|(k, v)| found.get(*k) != Some(*v)).count();
        let stale = found.keys().filter(|k| !text.contains_key(*k)).count();
        if wrong > 0 || stale > 0 {
            problems.push(format!(
                "{name}.db disagrees with {name}: {wrong} of {} keys missing or different, {stale} keys that the text no longer has",
                text.len()
            ));
        }
    }
    problems
}

/// Every key of every text table in a snapshot of the map folder
/// (`<prefix><name>` entries).
pub(crate) fn table_keys(snapshot: &Snapshot, prefix: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::new();
    for (path, content) in &snapshot.files {
        if let Some(name) = path.strip_prefix(prefix) {
            if !name.contains('.') && !name.contains('/') {
                let keys = parse_table(&String::from_utf8_lossy(content)).into_keys().collect();
                out.insert(name.to_owned(), keys);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------
// A private Postfix instance's configuration (shared notes, postfix-e2e.md).

/// Writes a private instance's main.cf and master.cf into `config_dir`
/// (queue and data folders in `var_dir`), enough for `postmap -c` and
/// `postfix -c ... check`. Nothing is started.
pub(crate) fn write_private_instance(config_dir: &Path, var_dir: &Path) {
    test_support::postfix::write_config(config_dir, var_dir, "");
}

// ---------------------------------------------------------------------------
// Copies.

/// `cp -a FROM TO` (keeps modes, owners and hard links between files of
/// the copied tree, e.g. a table and its `.smarthost-backup`).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).unwrap();
    }
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap();
    assert!(status.success(), "cp -a {} {}", from.display(), to.display());
}

// ---------------------------------------------------------------------------
// Messages.

/// Phrases that claim that putting the previous configuration back failed.
pub(crate) const FAILED_RESTORE_PHRASES: &[&str] = &[
    "also failed",
    "restore failed",
    "restoring failed",
    "failed to restore",
    "could not be restored",
    "could not restore",
    "not restored",
    "rollback failed",
    "roll back failed",
];

/// Whether a message claims a failed restore.
pub(crate) fn claims_failed_restore(message: &str) -> Option<&'static str> {
    let lower = message.to_lowercase();
    FAILED_RESTORE_PHRASES.iter().copied().find(|p| lower.contains(p))
}

/// What every command prints on stderr when it rolled back an interrupted apply.
pub(crate) const RECOVERED: &str = "recovered an interrupted apply";

// ---------------------------------------------------------------------------
// Sampling.

/// Up to `budget` of the invocation numbers `1..=count`, deterministically:
/// all of them when they fit; otherwise the `interesting` ones first (those
/// that touch the configuration; evenly spread over three quarters of the
/// budget when there are more), then evenly spread numbers over the whole
/// range, always with the first and the last. `budget == 0` means no limit.
pub(crate) fn choose_points(count: usize, interesting: &BTreeSet<usize>, budget: usize) -> Vec<usize> {
    if budget == 0 || count <= budget {
        return (1..=count).collect();
    }
    fn spread(items: &[usize], n: usize) -> Vec<usize> {
        if n == 0 || items.is_empty() {
            return Vec::new();
        }
        if items.len() <= n {
            return items.to_vec();
        }
        if n == 1 {
            return vec![items[items.len() - 1]];
        }
        (0..n).map(|i| items[i * (items.len() - 1) / (n - 1)]).collect()
    }
    let mut chosen: BTreeSet<usize> = BTreeSet::from([1, count]);
    let interesting: Vec<usize> = interesting.iter().copied().filter(|&n| n >= 1 && n <= count).collect();
    chosen.extend(spread(&interesting, (budget * 3 / 4).min(budget.saturating_sub(2))));
    let rest: Vec<usize> = (1..=count).filter(|n| !chosen.contains(n)).collect();
    chosen.extend(spread(&rest, budget.saturating_sub(chosen.len())));
    chosen.into_iter().collect()
}

// ---------------------------------------------------------------------------
// tmpfs.

/// A tmpfs mounted on a fresh temporary folder; unmounted when dropped
/// (also when the test panics).
pub(crate) struct TmpfsMount {
    dir: tempfile::TempDir,
}

impl TmpfsMount {
    /// Mounts `size_kib` KiB of tmpfs; the error says why not.
    pub(crate) fn mount(size_kib: u64) -> Result<TmpfsMount, String> {
        let dir = tempfile::Builder::new()
            .prefix("smarthost-enospc")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k,mode=0755"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("mount does not start: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(TmpfsMount { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes available to an unprivileged... (tmpfs reserves nothing for
    /// root, so available = free), from `stat -f`.
    pub(crate) fn available(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(self.path())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let mut it = text.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        let (blocks, size) = (it.next().unwrap(), it.next().unwrap());
        blocks * size
    }

    /// Removes everything in the mount.
    pub(crate) fn clear(&self) {
        for entry in std::fs::read_dir(self.path()).unwrap().flatten() {
            let p = entry.path();
            if entry.file_type().unwrap().is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
        }
    }
}
