//! [`Plan`]: the exact changes a backend will make, as an ordered list that
//! can be shown as a redacted unified diff or serialized to JSON.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};
use similar::TextDiff;

use crate::credentials::{Secret, REDACTED};

/// The version of the JSON layout of plans and reports. 2: routes name
/// the `rule` that won (`via: "direct"` no longer means "no rule") and
/// policies carry backups, direct exceptions, mailboxes, recipient routes
/// and bounces (docs/json.md).
pub const JSON_SCHEMA: u32 = 2;

/// An ordered list of changes. Plans are deterministic: the same current
/// state and the same desired policy give the same plan, and a plan computed
/// right after applying the same policy is empty.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Version of this JSON layout ([`JSON_SCHEMA`]).
    pub schema: u32,
    /// The backend that made the plan (`postfix`, ...).
    pub backend: String,
    /// What is changed, in the order it is applied.
    pub changes: Vec<Change>,
    /// Things the administrator should know; they do not stop the plan.
    pub warnings: Vec<String>,
    /// What the plan found and keeps or replaces (a takeover report): manual
    /// settings it replaces, settings it leaves alone.
    pub notes: Vec<String>,
    /// The fingerprint of every managed item the plan was made from; the
    /// backend refuses to apply the plan when it no longer matches.
    #[serde(skip)]
    pub basis: Option<crate::transaction::Basis>,
}

/// One change.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Change {
    /// A file is created, changed or deleted.
    File(FileChange),
    /// A registry value is set or deleted.
    Registry(RegistryChange),
    /// A request to a mail server's API.
    Api(ApiRequest),
    /// A command run after the files are written (`postmap`, a reload).
    Command(CommandRun),
}

/// A file's content before and after. The content may hold secrets: it is
/// only shown through the redaction given at construction.
#[derive(Clone)]
pub struct FileChange {
    path: PathBuf,
    mode: u32,
    before: Option<String>,
    after: Option<String>,
    redact: Option<fn(&str) -> String>,
}

impl FileChange {
    /// A change of a file that holds no secret. `None` means "absent".
    pub fn new(path: PathBuf, mode: u32, before: Option<String>, after: Option<String>) -> Self {
        FileChange {
            path,
            mode,
            before,
            after,
            redact: None,
        }
    }

    /// A change of a file that holds secrets: `redact` turns a content into
    /// what may be shown. Only the redacted texts are ever displayed.
    /// `redact` must work line by line: a diff gives it whole lines of the
    /// content, not always all of them.
    pub fn sensitive(
        path: PathBuf,
        mode: u32,
        before: Option<String>,
        after: Option<String>,
        redact: fn(&str) -> String,
    ) -> Self {
        FileChange {
            path,
            mode,
            before,
            after,
            redact: Some(redact),
        }
    }

    /// The file's path (under the backend's root).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The permission bits the file is written with (e.g. `0o600`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// The content the plan expects to find; `None`: the file does not exist.
    pub fn before(&self) -> Option<&str> {
        self.before.as_deref()
    }

    /// The content to write; `None`: the file is deleted.
    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// Whether the file holds secrets.
    pub fn is_sensitive(&self) -> bool {
        self.redact.is_some()
    }

    /// `create`, `modify` or `delete`.
    pub fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "create",
            (Some(_), Some(_)) => "modify",
            (Some(_), None) => "delete",
        }
    }

    /// The contents as they may be shown, computed when asked for.
    fn shown(&self) -> (Option<Cow<'_, str>>, Option<Cow<'_, str>>) {
        (self.show(self.before.as_deref()), self.show(self.after.as_deref()))
    }

    fn show<'a>(&self, text: Option<&'a str>) -> Option<Cow<'a, str>> {
        text.map(|t| match self.redact {
            Some(redact) => Cow::Owned(redact(t)),
            None => Cow::Borrowed(t),
        })
    }

    /// A unified diff of the redacted contents, with `a/` and `b/` headers.
    /// Two versions of one file are diffed over the lines that differ and
    /// their context only (see `Window`), so a change of a few lines of a
    /// large table costs little; the output is the same.
    pub fn diff(&self) -> String {
        let (before, after) = (self.before.as_deref(), self.after.as_deref());
        let window = match (before, after) {
            (Some(b), Some(a)) => Window::of(b, a),
            _ => Window {
                before: before.unwrap_or(""),
                after: after.unwrap_or(""),
                skipped_lines: 0,
            },
        };
        // Only a side that exists is redacted; a missing one is empty.
        let shown = |side: Option<&str>, part| side.and_then(|_| self.show(Some(part)));
        let (shown_before, shown_after) = (shown(before, window.before), shown(after, window.after));
        let name = self.path.display().to_string();
        let name = name.trim_start_matches('/');
        let old_name = if before.is_some() {
            format!("a/{name}")
        } else {
            "/dev/null".into()
        };
        let new_name = if after.is_some() {
            format!("b/{name}")
        } else {
            "/dev/null".into()
        };
        let mut out = TextDiff::from_lines(
            shown_before.as_deref().unwrap_or(""),
            shown_after.as_deref().unwrap_or(""),
        )
        .unified_diff()
        .context_radius(CONTEXT)
        .header(&old_name, &new_name)
        .to_string();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        shift_hunks(out, window.skipped_lines)
    }
}

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

/// The part of two texts that a unified diff with [`CONTEXT`] lines shows:
/// the lines from the first difference to the last, with their context.
/// Texts that share most of their lines (a table of 100,000 entries with
/// one changed) are diffed over that part only: tokenizing megabytes for
/// one line was a tenth of a one-domain change.
struct Window<'a> {
    before: &'a str,
    after: &'a str,
    /// Whole lines left out in front, the same in both texts.
    skipped_lines: usize,
}

impl<'a> Window<'a> {
    fn of(before: &'a str, after: &'a str) -> Window<'a> {
        let (b, a) = (before.as_bytes(), after.as_bytes());
        // The first difference, then back to its line's start and CONTEXT
        // lines more.
        let prefix = crate::text_ends::common_prefix(b, a);
        let first = before[..prefix].rfind('\n').map_or(0, |i| i + 1);
        let mut start = first;
        for _ in 0..CONTEXT {
            if start == 0 {
                break;
            }
            start = before[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        }
        // The last difference: the common suffix after the first differing
        // line (as the diff itself takes equal lines off the front first),
        // then on to its line's end and CONTEXT lines more. The suffix is
        // the same bytes in both texts, so both ends move together.
        let suffix = crate::text_ends::common_suffix(&b[first..], &a[first..]);
        let (mut end_b, mut end_a) = (b.len() - suffix, a.len() - suffix);
        let rest_of_line = |at: usize| before[at..].find('\n').map_or(before.len() - at, |i| i + 1);
        let mid_line = |text: &[u8], end: usize| end > first && text[end - 1] != b'\n';
        if mid_line(b, end_b) && mid_line(a, end_a) {
            let extra = rest_of_line(end_b);
            end_b += extra;
            end_a += extra;
        } else if mid_line(b, end_b) || mid_line(a, end_a) {
            // One side ends mid-line and the other at a line's end: keep
            // everything after (rare; only correctness matters here).
            end_b = b.len();
            end_a = a.len();
        }
        for _ in 0..CONTEXT {
            if end_b == b.len() {
                break;
            }
            let extra = rest_of_line(end_b);
            end_b += extra;
            end_a += extra;
        }
        Window {
            before: &before[start..end_b],
            after: &after[start..end_a],
            skipped_lines: count_lines(&b[..start]),
        }
    }
}

/// How many line breaks `text` has. Counted in blocks of 255 bytes into a
/// byte, which the compiler turns into vector instructions; counting into
/// a usize byte by byte took as long as finding the window.
fn count_lines(text: &[u8]) -> usize {
    text.chunks(255)
        .map(|block| usize::from(block.iter().fold(0u8, |n, &c| n + u8::from(c == b'\n'))))
        .sum()
}

/// Adds `offset` to the first line number of both ranges of every hunk
/// header (`@@ -12,7 +12,6 @@`) of a unified diff.
fn shift_hunks(diff: String, offset: usize) -> String {
    if offset == 0 {
        return diff;
    }
    let mut out = String::with_capacity(diff.len() + 16);
    for line in diff.split_inclusive('\n') {
        match line.strip_prefix("@@ -").and_then(|rest| rest.split_once(" @@")) {
            Some((ranges, tail)) => {
                let shift = |range: &str| match range.split_once(',') {
                    Some((start, len)) => format!("{},{len}", start.parse::<usize>().unwrap_or(0) + offset),
                    None => (range.parse::<usize>().unwrap_or(0) + offset).to_string(),
                };
                let (old, new) = ranges.split_once(" +").unwrap_or((ranges, "0"));
                out.push_str(&format!("@@ -{} +{} @@{tail}", shift(old), shift(new)));
            }
            None => out.push_str(line),
        }
    }
    out
}

impl std::fmt::Debug for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (before, after) = self.shown();
        let (before, after) = (before.as_deref(), after.as_deref());
        f.debug_struct("FileChange")
            .field("path", &self.path)
            .field("mode", &format_args!("{:04o}", self.mode))
            .field("before", &before)
            .field("after", &after)
            .finish()
    }
}

impl Serialize for FileChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("FileChange", 5)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("mode", &format!("{:04o}", self.mode))?;
        st.serialize_field("action", self.action())?;
        st.serialize_field("sensitive", &self.is_sensitive())?;
        st.serialize_field("diff", &self.diff())?;
        st.end()
    }
}

/// A registry value to set or delete (Windows backends).
#[derive(Clone, Debug, Serialize)]
pub struct RegistryChange {
    /// Full key path, e.g. `HKEY_LOCAL_MACHINE\SOFTWARE\...`.
    pub key: String,
    /// Value name.
    pub name: String,
    /// The value to set; `None` deletes it.
    pub value: Option<RegistryValue>,
    /// The value the plan expects to replace; `None`: the value is absent.
    /// The backend refuses the plan when the registry holds anything else.
    /// A secret prints as [`REDACTED`], as in `value`.
    pub before: Option<RegistryValue>,
}

/// A typed registry value. A secret string prints as [`REDACTED`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum RegistryValue {
    /// `REG_SZ`.
    Sz(String),
    /// `REG_SZ` holding a secret.
    SecretSz(Secret),
    /// `REG_DWORD`.
    Dword(u32),
}

/// An HTTP request to a mail server's API. Values at the JSON pointers in
/// `secret_pointers` are redacted whenever the request is shown: by
/// `Debug`, by `Serialize` and by [`Plan::render`].
#[derive(Clone)]
pub struct ApiRequest {
    /// HTTP method.
    pub method: String,
    /// Path below the API's base URL.
    pub path: String,
    /// JSON body, if any (holds secrets in clear; never shown as is).
    pub body: Option<serde_json::Value>,
    /// JSON pointers (RFC 6901) of the body's secret values.
    pub secret_pointers: Vec<String>,
}

impl std::fmt::Debug for ApiRequest {
    /// Shows the body with every secret replaced by [`REDACTED`], never
    /// the body as is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("body", &self.redacted_body())
            .field("secret_pointers", &self.secret_pointers)
            .finish()
    }
}

impl ApiRequest {
    /// The body with every secret replaced by [`REDACTED`].
    pub fn redacted_body(&self) -> Option<serde_json::Value> {
        let mut body = self.body.clone()?;
        for pointer in &self.secret_pointers {
            if let Some(v) = body.pointer_mut(pointer) {
                *v = serde_json::Value::String(REDACTED.into());
            }
        }
        Some(body)
    }
}

impl Serialize for ApiRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("ApiRequest", 3)?;
        st.serialize_field("method", &self.method)?;
        st.serialize_field("path", &self.path)?;
        st.serialize_field("body", &self.redacted_body())?;
        st.end()
    }
}

/// A command the backend runs while applying.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CommandRun {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Why it runs.
    pub reason: String,
}

impl Plan {
    /// An empty plan for `backend`.
    pub fn new(backend: impl Into<String>) -> Self {
        Plan {
            schema: JSON_SCHEMA,
            backend: backend.into(),
            ..Plan::default()
        }
    }

    /// Whether the plan changes nothing (commands alone change nothing: they
    /// only follow changed files).
    pub fn is_empty(&self) -> bool {
        !self.changes.iter().any(|c| !matches!(c, Change::Command(_)))
    }

    /// The plan as text: unified diffs for files, one line per registry
    /// value, API request and command. Secrets are redacted.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for change in &self.changes {
            match change {
                Change::File(f) => {
                    let _ = writeln!(out, "# {} {} (mode {:04o})", f.action(), f.path.display(), f.mode);
                    out.push_str(&f.diff());
                }
                Change::Registry(r) => match &r.value {
                    Some(v) => {
                        let shown = match v {
                            RegistryValue::Sz(s) => format!("{s:?}"),
                            RegistryValue::SecretSz(_) => REDACTED.to_owned(),
                            RegistryValue::Dword(d) => format!("dword:{d:08x}"),
                        };
                        let _ = writeln!(out, "# registry set {}\\{} = {shown}", r.key, r.name);
                    }
                    None => {
                        let _ = writeln!(out, "# registry delete {}\\{}", r.key, r.name);
                    }
                },
                Change::Api(a) => {
                    let body = a.redacted_body().map(|b| format!(" {b}")).unwrap_or_default();
                    let _ = writeln!(out, "# api {} {}{body}", a.method, a.path);
                }
                Change::Command(c) => {
                    let _ = writeln!(out, "# run {} ({})", c.argv.join(" "), c.reason);
                }
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "note: {n}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        out
    }

    /// A SHA-256 fingerprint (hex) of exactly what this plan writes and
    /// runs, in order: every file's path, mode and whole content before and
    /// after, every registry value, API request and command. Secrets enter
    /// it only redacted, so it can be stored and shown; two plans with the
    /// same fingerprint make the same changes apart from the values of
    /// secrets. Warnings and notes are not part of it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        // Each field is length-prefixed, so no two plans feed the same bytes.
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(self.backend.as_bytes());
        for change in &self.changes {
            match change {
                Change::File(f) => {
                    let (before, after) = f.shown();
                    field(b"file");
                    field(f.path.as_os_str().as_encoded_bytes());
                    field(&f.mode.to_le_bytes());
                    for content in [before, after] {
                        match content {
                            Some(text) => {
                                field(b"present");
                                field(text.as_bytes());
                            }
                            None => field(b"absent"),
                        }
                    }
                }
                // Their JSON is already redacted.
                Change::Registry(r) => {
                    field(b"registry");
                    field(&serde_json::to_vec(r).unwrap_or_default());
                }
                Change::Api(a) => {
                    field(b"api");
                    field(&serde_json::to_vec(a).unwrap_or_default());
                }
                Change::Command(c) => {
                    field(b"command");
                    field(&serde_json::to_vec(c).unwrap_or_default());
                }
            }
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The files this plan changes.
    pub fn files(&self) -> impl Iterator<Item = &FileChange> {
        self.changes.iter().filter_map(|c| match c {
            Change::File(f) => Some(f),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_lines_counts_every_line_break_across_blocks() {
        let text: Vec<u8> = (0..2000).map(|i| if i % 3 == 0 { b'\n' } else { b'x' }).collect();
        for len in [0, 1, 254, 255, 256, 765, 766, 2000] {
            let naive = text[..len].iter().filter(|&&c| c == b'\n').count();
            assert_eq!(count_lines(&text[..len]), naive, "{len}");
        }
        assert_eq!(count_lines(&[b'\n'; 1000]), 1000);
    }
}
