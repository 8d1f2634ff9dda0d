//! Updating a compiled table in place instead of rebuilding it: when few
//! keys of a `hash:` or `lmdb:` table change, a copy of the current
//! compiled file is staged next to the staged text table, and `postmap -i`
//! (keys inserted or replaced, read from stdin) and `postmap -d -` (keys
//! deleted, read from stdin) update that copy. The text table and the
//! compiled one are then replaced together by the transaction, as after a
//! full rebuild: a crash leaves the old pair or the new pair.
//!
//! Only a table in the exact form this backend writes is updated in place
//! (header comment, one `key value` line per entry, keys in strictly
//! increasing order, no continuation lines), so that the keys that changed
//! are exactly what postmap would read differently. The new text is always
//! one this backend wrote (rendered, or the current text with one domain's
//! line spliced in), so the lines both texts share are in that form too;
//! only the lines between them are checked. Anything else, a missing
//! compiled file, or one older than its text, is rebuilt in full.

use std::path::Path;

use smarthost_core::text_ends;

use crate::PostfixOptions;

/// A deletion weighs this many insertions in the choice between updating
/// in place and rebuilding: `postmap -d` took 3.4 µs a key and
/// `postmap -i -r` 0.7 µs (see [`INCREMENTAL_MAX_WEIGHT_PERCENT`]).
pub(crate) const DELETE_WEIGHT: usize = 5;

/// The switch point: a table is updated in place while its weighted
/// changes (keys inserted or replaced, plus [`DELETE_WEIGHT`] × keys
/// deleted) are at most this percentage of its entries, and rebuilt in
/// full beyond.
///
/// Measured with Postfix 3.7.11 (Debian 12) on the project's 2-core
/// machine, a `hash:` table of 100,000 entries (`sender_relay`, 10 MB
/// compiled), 2026-11-25, medians of a few runs with the machine shared:
/// a full `postmap` 92 ms; copying the compiled file 7 ms; `postmap -i -r`
/// 6 ms + 0.7 µs a key (1 key 6 ms, 10,000 keys 19 ms, 100,000 keys 68 to
/// 79 ms); `postmap -d -` 5 ms + 3.4 µs a key (10,000 keys 41 ms, 100,000
/// keys 344 ms). The update in place costs as much as the rebuild at about
/// 1.1 × the entries in weighted changes; the switch is rounded down to
/// the table's size, where it is still no slower. lmdb (not installed on
/// the measuring machine) was measured earlier at 63 ms for a full build
/// and 5 ms for an incremental one (notes/postfix.md).
pub(crate) const INCREMENTAL_MAX_WEIGHT_PERCENT: usize = 100;

/// The keys that differ between two texts of a table.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyChanges<'t> {
    /// `(key, value)` of every key added or whose value changed.
    pub(crate) upserts: Vec<(&'t str, &'t str)>,
    /// Every key that is gone.
    pub(crate) deletes: Vec<&'t str>,
    /// How many entries the table has before the change.
    pub(crate) entries_before: usize,
}

impl KeyChanges<'_> {
    /// Whether updating in place is worth it ([`INCREMENTAL_MAX_WEIGHT_PERCENT`]).
    pub(crate) fn worth_it(&self) -> bool {
        let weight = self.upserts.len() + DELETE_WEIGHT * self.deletes.len();
        weight * 100 <= self.entries_before * INCREMENTAL_MAX_WEIGHT_PERCENT
    }

    /// Whether nothing changed.
    pub(crate) fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }

    /// What postmap reads on stdin for `-i`: one `key value` line each.
    pub(crate) fn upsert_input(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.upserts {
            out.push_str(k);
            out.push(' ');
            out.push_str(v);
            out.push('\n');
        }
        out
    }

    /// What postmap reads on stdin for `-d -`: one key a line.
    pub(crate) fn delete_input(&self) -> String {
        let mut out = String::new();
        for k in &self.deletes {
            out.push_str(k);
            out.push('\n');
        }
        out
    }
}

/// The entries of a table in this backend's own form, one at a time, in
/// order; an entry is `None` when the text is in any other form.
struct Entries<'t> {
    lines: std::str::SplitInclusive<'t, char>,
    last: Option<&'t str>,
}

impl<'t> Entries<'t> {
    fn new(text: &'t str) -> Self {
        Self::after(text, None)
    }

    /// The entries of `text`, which must all come after the key `last`.
    fn after(text: &'t str, last: Option<&'t str>) -> Self {
        Entries {
            lines: text.split_inclusive('\n'),
            last,
        }
    }

    /// The next entry; `Some(None)` when the text is not in the form.
    fn next_entry(&mut self) -> Option<Option<(&'t str, &'t str)>> {
        loop {
            let line = self.lines.next()?;
            let Some(line) = line.strip_suffix('\n') else {
                return Some(None);
            };
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            return Some(self.check(line));
        }
    }

    fn check(&mut self, line: &'t str) -> Option<(&'t str, &'t str)> {
        let (key, value) = own_entry(line)?;
        if self.last.is_some_and(|last| last >= key) {
            return None;
        }
        self.last = Some(key);
        Some((key, value))
    }
}

/// A line of a table in this backend's own form, without its line break:
/// `key value`, the key without whitespace, control characters or upper
/// case (postmap lowercases), the value without tab, control character or
/// leading or trailing space (postmap strips them; inner spaces are kept).
pub(crate) fn own_entry(line: &str) -> Option<(&str, &str)> {
    let space = memchr::memchr(b' ', line.as_bytes())?;
    let (key, value) = (&line.as_bytes()[..space], &line.as_bytes()[space + 1..]);
    // Folded without early exit, so that the compiler checks many bytes
    // at once (this runs on every line of a 100,000-entry table).
    let bad_key = key.iter().fold(false, |bad, &b| {
        bad | (b <= b' ') | (b == 0x7f) | b.is_ascii_uppercase()
    });
    let bad_value = value.iter().fold(false, |bad, &b| bad | (b < b' ') | (b == 0x7f));
    let spaced = value.first().is_none_or(|&b| b == b' ') || value.last() == Some(&b' ');
    if key.is_empty() || bad_key || bad_value || spaced {
        return None;
    }
    Some((&line[..space], &line[space + 1..]))
}

/// The keys that differ from `before` to `after`, when both are in this
/// backend's own form: one pass over the lines that differ, no copy.
///
/// The lines both texts start and end with are the same entries, so only
/// the part between them is walked (a one-domain change of a 100,000-entry
/// table compares two texts at memory speed and walks a line or two). The
/// part walked must be in the form, in order after the last common line
/// and before the first common line at the end.
pub(crate) fn key_changes<'t>(before: &'t str, after: &'t str) -> Option<KeyChanges<'t>> {
    let (b, a) = (before.as_bytes(), after.as_bytes());
    // The common lines at the start: up to the last line break in common.
    let same = text_ends::common_prefix(b, a);
    let start = memchr::memrchr(b'\n', &b[..same]).map_or(0, |i| i + 1);
    // The common lines at the end, not overlapping those, starting after a
    // line break in both.
    let room = b.len().min(a.len()) - start;
    let mut tail = text_ends::common_suffix(&b[b.len() - room..], &a[a.len() - room..]);
    while tail > 0 && !(b[b.len() - tail - 1] == b'\n' && a[a.len() - tail - 1] == b'\n') {
        tail -= 1;
    }
    let last_common = last_key(&before[..start]);
    let (mut old, mut new) = (
        Entries::after(&before[start..before.len() - tail], last_common),
        Entries::after(&after[start..after.len() - tail], last_common),
    );
    let mut changes = KeyChanges {
        entries_before: entry_lines(&b[..start]) + entry_lines(&b[b.len() - tail..]),
        ..KeyChanges::default()
    };
    let (mut o, mut n) = (old.next_entry(), new.next_entry());
    loop {
        match (o, n) {
            (Some(None), _) | (_, Some(None)) => return None,
            (None, None) => break,
            (Some(Some(a)), Some(Some(b))) if a.0 == b.0 => {
                if a.1 != b.1 {
                    changes.upserts.push(b);
                }
                changes.entries_before += 1;
                o = old.next_entry();
                n = new.next_entry();
            }
            (Some(Some(a)), Some(Some(b))) if a.0 < b.0 => {
                changes.deletes.push(a.0);
                changes.entries_before += 1;
                o = old.next_entry();
            }
            (Some(Some(a)), None) => {
                changes.deletes.push(a.0);
                changes.entries_before += 1;
                o = old.next_entry();
            }
            (_, Some(Some(b))) => {
                changes.upserts.push(b);
                n = new.next_entry();
            }
        }
    }
    // The first common line at the end comes after both parts walked.
    let mut rest = Entries::new(&before[before.len() - tail..]);
    match rest.next_entry() {
        Some(None) => return None,
        Some(Some((first, _))) if old.last.is_some_and(|k| k >= first) || new.last.is_some_and(|k| k >= first) => {
            return None
        }
        _ => {}
    }
    Some(changes)
}

/// The key of the last entry line of `text` (a comment or an empty text:
/// none).
fn last_key(text: &str) -> Option<&str> {
    let line = text.strip_suffix('\n')?;
    let line = &line[line.rfind('\n').map_or(0, |i| i + 1)..];
    own_entry(line).map(|(k, _)| k)
}

/// How many lines of `text` are entries: every line but comments and
/// empty lines.
fn entry_lines(text: &[u8]) -> usize {
    let skipped = |line_start: usize| matches!(text.get(line_start), Some(b'#' | b'\n'));
    let mut entries = usize::from(text.first().is_some_and(|_| !skipped(0)));
    for end in memchr::memchr_iter(b'\n', text) {
        entries += usize::from(end + 1 < text.len() && !skipped(end + 1));
    }
    entries
}

/// The key changes to apply in place to the compiled table of `source`,
/// when that is possible and worth it: the map type can be updated in
/// place, the compiled file exists, is a regular file and is not older
/// than its text (else the text may hold what postmap never read), and
/// both texts are in this backend's form.
pub(crate) fn plan<'t>(
    options: &PostfixOptions,
    source: &Path,
    before: Option<&'t str>,
    after: &'t str,
) -> Option<KeyChanges<'t>> {
    if !options.compile_maps || !options.map_type.updates_in_place() {
        return None;
    }
    let compiled = options.map_type.compiled_path(source)?;
    let modified = |p: &Path| {
        std::fs::symlink_metadata(p)
            .ok()
            .filter(|m| m.file_type().is_file())
            .and_then(|m| m.modified().ok())
    };
    match (modified(source), modified(&compiled)) {
        (Some(text), Some(db)) if db >= text => {}
        _ => return None,
    }
    let changes = key_changes(before?, after)?;
    // No key changed (a table rewritten for its mode): rebuilt in full.
    (!changes.is_empty() && changes.worth_it()).then_some(changes)
}

/// The postmap commands that update the compiled table of `source` (a
/// staged copy) in place, each with what it reads on stdin.
pub(crate) fn commands(
    options: &PostfixOptions,
    source: &Path,
    changes: &KeyChanges<'_>,
) -> Vec<(Vec<String>, String)> {
    let table = format!("{}:{}", options.map_type, source.display());
    let mut out = Vec::new();
    let base = || {
        let mut argv = vec!["postmap".to_owned()];
        argv.extend(options.config_args());
        argv
    };
    if !changes.upserts.is_empty() {
        let mut argv = base();
        argv.extend(["-i".to_owned(), "-r".to_owned(), table.clone()]);
        out.push((argv, changes.upsert_input()));
    }
    if !changes.deletes.is_empty() {
        let mut argv = base();
        argv.extend(["-d".to_owned(), "-".to_owned(), table]);
        out.push((argv, changes.delete_input()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "# Managed by smarthost: changes made here are overwritten.\n";

    #[test]
    fn changes_are_the_keys_added_changed_and_removed() {
        let before = format!("{H}@a.example [r]:587\n@b.example [r]:587\n@d.example [s]:25\n");
        let after = format!("{H}@a.example [r]:587\n@b.example [s]:25\n@c.example [r]:587\n");
        let c = key_changes(&before, &after).unwrap();
        assert_eq!(c.upserts, [("@b.example", "[s]:25"), ("@c.example", "[r]:587")]);
        assert_eq!(c.deletes, ["@d.example"]);
        assert_eq!(c.entries_before, 3);
        assert_eq!(c.upsert_input(), "@b.example [s]:25\n@c.example [r]:587\n");
        assert_eq!(c.delete_input(), "@d.example\n");
        assert!(key_changes(&before, &before).unwrap().is_empty());
        // Everything new, everything gone.
        let c = key_changes(H, &after).unwrap();
        assert_eq!((c.upserts.len(), c.deletes.len()), (3, 0));
        let c = key_changes(&before, H).unwrap();
        assert_eq!((c.upserts.len(), c.deletes.len()), (0, 3));
    }

    #[test]
    fn a_table_in_another_form_is_not_diffed() {
        let ok = format!("{H}@a.example [r]:587\n");
        for other in [
            format!("{H}@b.example [r]:587\n@a.example [r]:587\n"), // unsorted
            format!("{H}@a.example [r]:587\n@a.example [s]:587\n"), // duplicate
            format!("{H}@a.example [r]:587\n  continued\n"),        // continuation
            format!("{H}@A.example [r]:587\n"),                     // postmap lowercases
            format!("{H}@a.example\t[r]:587\n"),                    // tab separator
            format!("{H}@a.example  [r]:587\n"),                    // two spaces
            format!("{H}@a.example [r]:587 \n"),                    // trailing space
            format!("{H}@a.example [r]:587\r\n"),                   // CRLF
            format!("{H}@a.example [r]:587"),                       // no final newline
            format!("{H}@a.example\n"),                             // no value
        ] {
            assert_eq!(key_changes(&other, &ok), None, "{other:?}");
            assert_eq!(key_changes(&ok, &other), None, "{other:?}");
        }
    }

    fn render(table: &std::collections::BTreeMap<String, String>) -> String {
        let mut text = H.to_owned();
        for (k, v) in table {
            text.push_str(&format!("{k} {v}\n"));
        }
        text
    }

    proptest::proptest! {
        /// Walking only the lines between the common start and end finds
        /// the same changes as comparing the two tables key by key.
        #[test]
        fn changes_are_those_of_the_two_tables(
            before in proptest::collection::btree_map("@[a-c]{1,3}", "[r-t]{1,2}", 0..12),
            after in proptest::collection::btree_map("@[a-c]{1,3}", "[r-t]{1,2}", 0..12),
        ) {
            let (old, new) = (render(&before), render(&after));
            let c = key_changes(&old, &new).unwrap();
            let upserts: Vec<(&str, &str)> = after
                .iter()
                .filter(|(k, v)| before.get(*k) != Some(*v))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let deletes: Vec<&str> = before.keys().filter(|k| !after.contains_key(*k)).map(String::as_str).collect();
            proptest::prop_assert_eq!(c.upserts, upserts);
            proptest::prop_assert_eq!(c.deletes, deletes);
            proptest::prop_assert_eq!(c.entries_before, before.len());
        }
    }

    #[test]
    fn the_switch_point_weighs_deletions() {
        let c = |u: usize, d: usize, n: usize| KeyChanges {
            upserts: vec![("k", "v"); u],
            deletes: vec!["k"; d],
            entries_before: n,
        };
        assert!(c(1, 0, 100_000).worth_it());
        assert!(c(100_000, 0, 100_000).worth_it());
        assert!(!c(100_001, 0, 100_000).worth_it());
        assert!(c(0, 20_000, 100_000).worth_it());
        assert!(!c(0, 20_001, 100_000).worth_it());
        // A new table (nothing before) is always built in full.
        assert!(!c(1, 0, 0).worth_it());
    }
}
