//! The lookup tables this backend owns: their type, their text and how they
//! are read back.
//!
//! Table syntax (postmap(1)): one `key value` per line, whitespace between;
//! `#` starts a comment only at the start of a line; leading and trailing
//! whitespace is stripped. postmap lowercases keys unless told otherwise, so
//! keys are written in lower case.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use smarthost_core::REDACTED;

/// The header of every table this backend writes.
pub(crate) const HEADER: &str = "# Managed by smarthost: changes made here are overwritten.\n";

/// A Postfix lookup table type this backend can write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapType {
    /// Berkeley DB hash, compiled by postmap into `.db`.
    Hash,
    /// LMDB, compiled by postmap into `.lmdb` (Postfix 3.9+ may lack hash).
    Lmdb,
    /// Plain text read at process start; no postmap, needs a reload.
    Texthash,
}

impl MapType {
    /// Whether `postmap` must compile the table after it is written.
    pub fn needs_postmap(self) -> bool {
        !matches!(self, MapType::Texthash)
    }

    /// Whether postmap can update a compiled table of this type in place
    /// (`postmap -i`, `postmap -d`).
    pub(crate) fn updates_in_place(self) -> bool {
        matches!(self, MapType::Hash | MapType::Lmdb)
    }

    /// The file postmap builds from `path`, if any.
    pub fn compiled_suffix(self) -> Option<&'static str> {
        match self {
            MapType::Hash => Some(".db"),
            MapType::Lmdb => Some(".lmdb"),
            MapType::Texthash => None,
        }
    }

    /// The file postmap builds from the table at `source`
    /// (`relay_secrets` -> `relay_secrets.db`), if any.
    pub fn compiled_path(self, source: &std::path::Path) -> Option<std::path::PathBuf> {
        self.compiled_suffix().map(|suffix| {
            let mut name = source.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        })
    }

    /// Picks the best type from `postconf -m` output: hash, else lmdb, else
    /// texthash (always built in).
    pub fn from_supported(postconf_m: &str) -> MapType {
        let has = |t: &str| postconf_m.lines().any(|l| l.trim() == t);
        if has("hash") {
            MapType::Hash
        } else if has("lmdb") {
            MapType::Lmdb
        } else {
            MapType::Texthash
        }
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapType::Hash => "hash",
            MapType::Lmdb => "lmdb",
            MapType::Texthash => "texthash",
        })
    }
}

impl FromStr for MapType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "hash" => Ok(MapType::Hash),
            "lmdb" => Ok(MapType::Lmdb),
            "texthash" => Ok(MapType::Texthash),
            other => Err(format!("map type {other:?} is not supported (hash, lmdb or texthash)")),
        }
    }
}

/// A hasher for maps keyed by table keys and relays (FxHash: a multiply
/// and a rotate per word). The keys come from this server's own files, so
/// SipHash's protection against chosen collisions buys nothing, and it was
/// 8% of reading back 100,000 domains.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// A `HashSet` with [`FastHasher`].
pub(crate) type FastSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<FastHasher>>;

/// A table's entries, sorted by key so the text is deterministic.
pub(crate) type Table = BTreeMap<String, String>;

/// Builds a table's text line by line. Entries must come in key order, so
/// that the text is deterministic; large tables are written without an
/// intermediate map.
#[derive(Debug, Default)]
pub(crate) struct TableText {
    text: String,
    entries: usize,
}

impl TableText {
    /// An empty table whose text has room for `bytes` (no regrowth while a
    /// large table is written).
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        TableText {
            text: String::with_capacity(bytes),
            entries: 0,
        }
    }

    /// Appends `key value`.
    pub(crate) fn push(&mut self, key: impl fmt::Display, value: impl fmt::Display) {
        use fmt::Write as _;
        if self.entries == 0 {
            self.text.push_str(HEADER);
        }
        self.entries += 1;
        let _ = writeln!(self.text, "{key} {value}");
    }

    /// Appends `key` and the value made of `parts`, without the formatting
    /// machinery (a fleet's tables have 100,000 lines).
    pub(crate) fn push_parts(&mut self, key: &str, parts: &[&str]) {
        if self.entries == 0 {
            self.text.push_str(HEADER);
        }
        self.entries += 1;
        self.text.push_str(key);
        self.text.push(' ');
        for part in parts {
            self.text.push_str(part);
        }
        self.text.push('\n');
    }

    /// Whether the table has no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The text; `None` when the table has no entry (the file is removed).
    pub(crate) fn finish(self) -> Option<String> {
        (self.entries > 0).then_some(self.text)
    }
}

/// The text of a table given as a map; `None` when it is empty.
pub(crate) fn render(table: &Table) -> Option<String> {
    let mut out = TableText::default();
    for (k, v) in table {
        out.push(k, v);
    }
    out.finish()
}

/// Reads a table's entries (comments and blank lines skipped; a line that
/// starts with whitespace continues the previous value).
pub(crate) fn parse(text: &str) -> Table {
    let mut table = Table::new();
    for_each_entry(text, |k, v| {
        table.insert(k.into_owned(), v.into_owned());
    });
    table
}

/// Calls `f` with each entry of a table's text, in file order, as
/// [`parse`] reads it: the key lowercased, continuation lines joined by a
/// space. Both borrow from `text` unless they had to change.
pub(crate) fn for_each_entry<'t>(text: &'t str, mut f: impl FnMut(Cow<'t, str>, Cow<'t, str>)) {
    let mut pending: Option<(Cow<'t, str>, Cow<'t, str>)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = pending.as_mut() {
                let v = v.to_mut();
                v.push(' ');
                v.push_str(trimmed);
            }
            continue;
        }
        if let Some((k, v)) = pending.take() {
            f(k, v);
        }
        let (key, value) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
        let key = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(key.to_ascii_lowercase())
        } else {
            Cow::Borrowed(key)
        };
        pending = Some((key, Cow::Borrowed(value.trim())));
    }
    if let Some((k, v)) = pending {
        f(k, v);
    }
}

/// The secrets table as it may be shown: every password replaced.
pub(crate) fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push_str(line);
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line of a secrets table can only hold a secret.
            out.push_str(REDACTED);
            out.push('\n');
            continue;
        }
        let (key, value) = trimmed.split_once([' ', '\t']).unwrap_or((trimmed, ""));
        let user = value.trim().split_once(':').map_or("", |(user, _)| user);
        out.push_str(&format!("{key} {user}:{REDACTED}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_redaction() {
        let mut t = Table::new();
        t.insert("@b.example".into(), "user:pa:ss".into());
        t.insert("[relay.example]:587".into(), "apikey:SECRET".into());
        let text = render(&t).unwrap();
        assert_eq!(parse(&text), t);
        let shown = redact_secrets(&text);
        assert!(!shown.contains("SECRET") && !shown.contains("pa:ss"), "{shown}");
        assert!(shown.contains("@b.example user:<redacted>"), "{shown}");
        assert!(shown.contains("[relay.example]:587 apikey:<redacted>"), "{shown}");
        assert!(!redact_secrets("key user:x\n  continued-secret\n").contains("continued-secret"));
    }
}
