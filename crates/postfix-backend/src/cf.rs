//! A lossless editor for Postfix's configuration files (main.cf and
//! master.cf).
//!
//! Postfix reads these files as *logical lines*: a line that starts with
//! non-whitespace text begins one, and following lines that start with
//! whitespace continue it. Blank lines and lines whose first non-whitespace
//! character is `#` are ignored anywhere, even between continuation lines.
//! A `#` after text is not a comment (postconf(5), "main.cf syntax").
//!
//! [`CfFile`] keeps every byte of the input: the text is copied once, and
//! every item is a span of it until it is edited (as toml_edit keeps an
//! untouched item's text). Printing an unedited file gives back the input,
//! for any input (CRLF files, no final newline, garbage). Only items that
//! are edited are re-rendered. A parse allocates the copy and the list of
//! items, and nothing per line except the joined value of an entry with
//! continuation lines: main.cf is parsed several times per run, and a
//! hand-edited one has thousands of lines.

use crate::maps::FastMap;

/// A piece of text: a span of the parsed source, or its own once edited.
#[derive(Clone, Debug)]
enum Text {
    /// `source[start..end]`.
    Span(usize, usize),
    /// Text that was not in the source.
    Owned(String),
}

impl Text {
    fn get<'a>(&'a self, source: &'a str) -> &'a str {
        match self {
            Text::Span(start, end) => &source[*start..*end],
            Text::Owned(text) => text,
        }
    }

    /// The text, made its own so that it can be changed.
    fn to_mut<'a>(&'a mut self, source: &str) -> &'a mut String {
        if let Text::Span(start, end) = *self {
            *self = Text::Owned(source[start..end].to_owned());
        }
        match self {
            Text::Owned(text) => text,
            Text::Span(..) => unreachable!("made owned above"),
        }
    }
}

/// One piece of a configuration file.
#[derive(Clone, Debug)]
enum Item {
    /// Blank and comment lines, kept as they are.
    Trivia(Text),
    /// A logical line: its first line, continuation lines and any blank or
    /// comment lines between them.
    Entry(Entry),
}

/// A logical line.
#[derive(Clone, Debug)]
struct Entry {
    /// The exact text, with line endings.
    raw: Text,
    /// Where the parameter name (main.cf) or service name (master.cf) is in
    /// the raw text; `None` when the line has no `name =` form (main.cf).
    name: Option<(usize, usize)>,
    /// [`name_key`] of the name: looking a name up compares this first.
    key: u64,
    /// The value: the text after `=` and the continuation lines, joined by
    /// single spaces, comment lines left out (main.cf).
    value: Value,
}

/// An entry's value: a span of its raw text when it is one piece (one
/// line, or one non-empty continuation), else the pieces joined.
#[derive(Clone, Debug)]
enum Value {
    /// `raw[start..end]`.
    InRaw(usize, usize),
    /// The pieces joined by single spaces.
    Joined(String),
}

/// A parsed file.
#[derive(Clone, Debug, Default)]
pub(crate) struct CfFile {
    /// The text as parsed; unedited items are spans of it.
    source: String,
    /// Whether `source` has a `\r` (else no span has a CRLF line ending).
    source_has_cr: bool,
    items: Vec<Item>,
}

fn is_trivia(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn starts_with_whitespace(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// Whether a line continues the logical line before it (or is ignored):
/// blank, a comment, or indented.
fn continues(line: &str) -> bool {
    is_trivia(line) || starts_with_whitespace(line)
}

fn strip_eol(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// The end of the line of `text` that starts at `at`, line ending included.
///
/// Eight bytes at a time: a line of main.cf is a few dozen bytes, too short
/// for `str::find`'s memchr to pay for its setup (it was a third of a
/// parse). `x - 0x01..01 & !x & 0x80..80` has its lowest set bit in the
/// first zero byte of `x` (bits above it may be wrong, never below), and
/// `x` is the word XOR `\n` in every byte.
fn line_end(text: &str, at: usize) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const NEWLINES: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let bytes = &text.as_bytes()[at..];
    let mut words = bytes.chunks_exact(8);
    let mut offset = at;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().expect("8 bytes")) ^ NEWLINES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return offset + (found.trailing_zeros() / 8) as usize + 1;
        }
        offset += 8;
    }
    let rest = words.remainder();
    rest.iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| offset + i + 1)
}

/// `name = value` of a main.cf logical line's first line (line ending
/// stripped): the name and what follows `=`, or `None` when the line does
/// not start with a name (ASCII letters, digits, `_`, `.`, `-`) and `=`,
/// with only spaces and tabs between. Byte by byte: it runs for every
/// line of every parse.
fn parameter(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    let is_name = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    let is_blank = |b: &&u8| matches!(b, b' ' | b'\t');
    let name_end = bytes.iter().take_while(|b| is_name(b)).count();
    if name_end == 0 {
        return None;
    }
    let equals = name_end + bytes[name_end..].iter().take_while(is_blank).count();
    if bytes.get(equals) != Some(&b'=') {
        return None;
    }
    let value = equals + 1 + bytes[equals + 1..].iter().take_while(is_blank).count();
    Some((&line[..name_end], &line[value..]))
}

/// A key of an entry's name: its length and its first and last eight
/// bytes, mixed. The edits look names up one at a time, each time over
/// every entry of the file: comparing a number first keeps that cheap on a
/// main.cf of thousands of parameters. Two names with the same key are
/// told apart by their text.
fn name_key(name: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let bytes = name.as_bytes();
    let word = |part: &[u8]| {
        let mut word = [0u8; 8];
        word[..part.len()].copy_from_slice(part);
        u64::from_le_bytes(word)
    };
    let head = word(&bytes[..bytes.len().min(8)]);
    let tail = word(&bytes[bytes.len().saturating_sub(8)..]);
    ((head.wrapping_mul(K) ^ tail).rotate_left(23) ^ bytes.len() as u64).wrapping_mul(K)
}

/// A hasher for [`name_key`]s, which are mixed already: the key itself.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; anything else is folded in all the same.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x517c_c1b7_2722_0a95);
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = key;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Where `part` (a slice of `whole`) is in `whole`.
fn span_in(whole: &str, part: &str) -> (usize, usize) {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    (start, start + part.len())
}

impl Entry {
    /// The entry of `raw`, whose text is `text` (the same text, where the
    /// spans point).
    fn parse(raw: Text, text: &str, kind: Kind) -> Entry {
        let head_end = line_end(text, 0);
        let head = strip_eol(&text[..head_end]);
        let (name, first) = match kind {
            Kind::Main => match parameter(head) {
                Some((name, value)) => (Some(name), value.trim()),
                None => (None, head.trim()),
            },
            Kind::Master => (head.split_whitespace().next(), head.trim()),
        };
        if head_end == text.len() {
            // One line, as most are: the value is a span of it.
            let (start, end) = span_in(text, first);
            return Entry {
                raw,
                key: name.map_or(0, name_key),
                name: name.map(|n| span_in(text, n)),
                value: Value::InRaw(start, end),
            };
        }
        let lines = text[head_end..].split_inclusive('\n');
        let mut pieces = std::iter::once(first)
            .chain(lines.filter(|l| !is_trivia(l)).map(|l| strip_eol(l).trim()))
            .filter(|s| !s.is_empty());
        let value = match (pieces.next(), pieces.next()) {
            (None, _) => Value::InRaw(0, 0),
            (Some(only), None) => {
                let (start, end) = span_in(text, only);
                Value::InRaw(start, end)
            }
            (Some(one), Some(two)) => {
                let mut joined = [one, two].join(" ");
                for piece in pieces {
                    joined.push(' ');
                    joined.push_str(piece);
                }
                Value::Joined(joined)
            }
        };
        Entry {
            raw,
            key: name.map_or(0, name_key),
            name: name.map(|n| span_in(text, n)),
            value,
        }
    }

    /// An edited entry: its own text.
    fn owned(text: String, kind: Kind) -> Entry {
        let mut entry = Entry::parse(Text::Owned(String::new()), &text, kind);
        entry.raw = Text::Owned(text);
        entry
    }

    fn raw<'a>(&'a self, source: &'a str) -> &'a str {
        self.raw.get(source)
    }

    fn name<'a>(&'a self, source: &'a str) -> Option<&'a str> {
        self.name.map(|(start, end)| &self.raw(source)[start..end])
    }

    /// Whether this entry is named `name`, whose [`name_key`] is `key`.
    fn is(&self, source: &str, name: &str, key: u64) -> bool {
        self.key == key && self.name(source) == Some(name)
    }

    fn value<'a>(&'a self, source: &'a str) -> &'a str {
        match &self.value {
            Value::InRaw(start, end) => &self.raw(source)[*start..*end],
            Value::Joined(text) => text,
        }
    }
}

/// Which file syntax to expect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// main.cf: `name = value`.
    Main,
    /// master.cf: `service type private unpriv chroot wakeup maxproc command`.
    Master,
}

impl CfFile {
    /// Splits a file into items. Never fails: text that is not a parameter
    /// is kept as an entry without a name.
    pub(crate) fn parse(text: &str, kind: Kind) -> CfFile {
        // Room for a line of 32 bytes on average, so that the list is not
        // copied as it grows; pages of it that are not used are never
        // touched.
        let mut items = Vec::with_capacity(text.len() / 32 + 1);
        let mut at = 0;
        while at < text.len() {
            let start = at;
            at = line_end(text, start);
            if continues(&text[start..at]) {
                // Trivia, or a continuation with nothing to continue: kept as is.
                while at < text.len() {
                    let next = line_end(text, at);
                    if !continues(&text[at..next]) {
                        break;
                    }
                    at = next;
                }
                items.push(Item::Trivia(Text::Span(start, at)));
                continue;
            }
            // A logical line: the head, then continuation lines; blank and
            // comment lines belong to it only when a continuation follows.
            let mut end = at;
            while at < text.len() {
                let next = line_end(text, at);
                let line = &text[at..next];
                if !continues(line) {
                    break;
                }
                at = next;
                if !is_trivia(line) {
                    end = at;
                }
            }
            items.push(Item::Entry(Entry::parse(
                Text::Span(start, end),
                &text[start..end],
                kind,
            )));
            at = end;
        }
        CfFile {
            source_has_cr: text.as_bytes().contains(&b'\r'),
            source: text.to_owned(),
            items,
        }
    }

    fn text<'a>(&'a self, item: &'a Item) -> &'a str {
        match item {
            Item::Trivia(t) => t.get(&self.source),
            Item::Entry(e) => e.raw(&self.source),
        }
    }

    /// The entries, with their names.
    fn named(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.items.iter().filter_map(|item| match item {
            Item::Entry(e) => e.name(&self.source).map(|name| (name, e)),
            Item::Trivia(_) => None,
        })
    }

    /// Whether `item` is an entry named `name`, whose [`name_key`] is `key`.
    fn is_named(&self, item: &Item, name: &str, key: u64) -> bool {
        matches!(item, Item::Entry(e) if e.is(&self.source, name, key))
    }

    /// The file's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(self.source.len() + 256);
        for item in &self.items {
            out.push_str(self.text(item));
        }
        out
    }

    /// The exact text (continuation lines and line endings included) of
    /// every entry named `name`, in file order.
    pub(crate) fn raws<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.entries(name).map(|e| e.raw(&self.source))
    }

    /// Every entry named `name`, in file order.
    fn entries<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a Entry> + use<'a, 'n> {
        let key = name_key(name);
        self.items.iter().filter_map(move |item| match item {
            Item::Entry(e) if e.is(&self.source, name, key) => Some(e),
            _ => None,
        })
    }

    /// The effective value of a main.cf parameter: the last occurrence wins,
    /// as in Postfix.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.entries(name).last().map(|e| e.value(&self.source))
    }

    /// Calls `f` with each named entry in file order, its name, and the
    /// number of its name in the order of first occurrence (0, 1, ...),
    /// and whether this is that first occurrence. Names are grouped by
    /// their key, which was computed at the parse, not hashed again; a name
    /// whose key another name has is counted apart, by its text.
    fn number_names<'a>(&'a self, mut f: impl FnMut(usize, bool, &'a str, &'a Entry)) {
        let mut by_key: std::collections::HashMap<u64, (&str, usize), std::hash::BuildHasherDefault<KeyHasher>> =
            std::collections::HashMap::default();
        by_key.reserve(self.items.len());
        let mut others: FastMap<&str, usize> = FastMap::default();
        let mut next = 0;
        for (name, e) in self.named() {
            use std::collections::hash_map::Entry::{Occupied, Vacant};
            let (number, first) = match by_key.entry(e.key) {
                Occupied(known) if known.get().0 == name => (known.get().1, false),
                Occupied(_) => match others.entry(name) {
                    Occupied(known) => (*known.get(), false),
                    Vacant(slot) => (*slot.insert(next), true),
                },
                Vacant(slot) => (slot.insert((name, next)).1, true),
            };
            if first {
                next += 1;
            }
            f(number, first, name, e);
        }
    }

    /// The names of all entries, in file order, each once.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.items.len());
        self.number_names(|_, first, name, _| {
            if first {
                out.push(name);
            }
        });
        out
    }

    /// Every parameter with its effective value (the last occurrence wins,
    /// as in Postfix), in the order of first occurrence; one pass over the
    /// file, where [`CfFile::names`] then [`CfFile::get`] would scan it once
    /// per name.
    pub(crate) fn effective(&self) -> Vec<(&str, &str)> {
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(self.items.len());
        self.number_names(|number, first, name, e| {
            let value = e.value(&self.source);
            if first {
                out.push((name, value));
            } else {
                out[number].1 = value;
            }
        });
        out
    }

    /// How many times `name` occurs.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.entries(name).count()
    }

    /// `\r\n` when the text has a CRLF line ending, else `\n`.
    fn line_ending(&self) -> &'static str {
        // Items end at a line break (all but maybe the last), so no `\r\n`
        // straddles two of them; an edit that left one ending in `\r`
        // before another is checked too.
        let mut after_cr = false;
        for item in &self.items {
            let spanned = matches!(
                item,
                Item::Trivia(Text::Span(..))
                    | Item::Entry(Entry {
                        raw: Text::Span(..),
                        ..
                    })
            );
            if spanned && !self.source_has_cr && !after_cr {
                // Neither a CRLF nor a `\r` at its end.
                continue;
            }
            let text = self.text(item);
            if text.contains("\r\n") || (after_cr && text.starts_with('\n')) {
                return "\r\n";
            }
            if !text.is_empty() {
                after_cr = text.ends_with('\r');
            }
        }
        "\n"
    }

    /// Replaces every occurrence of `name` with one entry of `text` (a whole
    /// logical line, ending in `\n`), at the place of the last occurrence,
    /// the one Postfix uses. Appends it at the end when absent.
    pub(crate) fn replace(&mut self, name: &str, text: &str, kind: Kind) {
        let eol = self.line_ending();
        let text = if eol == "\r\n" {
            text.replace('\n', "\r\n")
        } else {
            text.to_owned()
        };
        self.put(name, Entry::owned(text, kind));
    }

    /// `entry` in place of every occurrence of `name`, where the last one
    /// is, or at the end; an identical single entry is left as it is.
    fn put(&mut self, name: &str, entry: Entry) {
        let key = name_key(name);
        let last = self.items.iter().rposition(|i| self.is_named(i, name, key));
        let Some(at) = last else {
            let eol = self.line_ending();
            self.ensure_final_newline(eol);
            self.items.push(Item::Entry(entry));
            return;
        };
        let same = matches!(&self.items[at], Item::Entry(old) if old.raw(&self.source) == entry.raw(&self.source));
        if same && self.count(name) == 1 {
            return;
        }
        self.items[at] = Item::Entry(entry);
        let source = &self.source;
        let mut index = 0;
        self.items.retain(|item| {
            let keep = index >= at || !matches!(item, Item::Entry(e) if e.is(source, name, key));
            index += 1;
            keep
        });
    }

    /// Sets a main.cf parameter to `value` (see [`CfFile::replace`]). An
    /// occurrence that already has this value is left byte for byte.
    pub(crate) fn set(&mut self, name: &str, value: &str) {
        if self.count(name) == 1 && self.get(name) == Some(value) {
            return;
        }
        let line = if value.is_empty() {
            format!("{name} =\n")
        } else {
            format!("{name} = {value}\n")
        };
        self.replace(name, &line, Kind::Main);
    }

    /// The exact text of the entry Postfix uses for `name` (the last one),
    /// continuation lines and line endings included.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.entries(name).last().map(|e| e.raw(&self.source))
    }

    /// Puts back an entry's exact text (as [`CfFile::raw`] gave it) in place
    /// of every occurrence of `name`, where the last one is, or at the end.
    pub(crate) fn restore(&mut self, name: &str, raw: &str, kind: Kind) {
        self.put(name, Entry::owned(raw.to_owned(), kind));
    }

    /// Whether the text ends with a line break (an empty file counts as
    /// ending with one: appending to it adds nothing before).
    pub(crate) fn ends_with_newline(&self) -> bool {
        match self.items.last() {
            Some(item) => self.text(item).ends_with('\n'),
            None => true,
        }
    }

    /// The text of the last item, made its own so that it can be changed.
    fn last_text_mut(&mut self) -> Option<&mut String> {
        let source = &self.source;
        match self.items.last_mut()? {
            Item::Trivia(t) => Some(t.to_mut(source)),
            Item::Entry(e) => Some(e.raw.to_mut(source)),
        }
    }

    /// Removes the line break at the very end, if there is one.
    pub(crate) fn strip_final_newline(&mut self) {
        if self.ends_with_newline() {
            let Some(text) = self.last_text_mut() else { return };
            if text.ends_with("\r\n") {
                text.truncate(text.len() - 2);
            } else {
                text.pop();
            }
        }
    }

    /// Removes every occurrence of `name`.
    pub(crate) fn remove(&mut self, name: &str) {
        let (source, key) = (&self.source, name_key(name));
        self.items
            .retain(|item| !matches!(item, Item::Entry(e) if e.is(source, name, key)));
    }

    fn ensure_final_newline(&mut self, eol: &str) {
        if !self.ends_with_newline() {
            if let Some(text) = self.last_text_mut() {
                text.push_str(eol);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The files of `tests/corpus`, and the Postfix sample files of the
    /// installed Postfix when there is one (Debian ships them in
    /// /usr/share/postfix; they are read in place, not copied here).
    fn corpus() -> Vec<(String, String)> {
        let mut files = Vec::new();
        let dirs = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus"),
            "/usr/share/postfix",
            "/etc/postfix",
        ];
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                let is_cf = name.ends_with(".cf") || name.contains(".cf.") || name.starts_with("main.cf");
                if let (true, Ok(text)) = (is_cf, std::fs::read_to_string(&path)) {
                    files.push((path.display().to_string(), text));
                }
            }
        }
        files
    }

    #[test]
    fn the_corpus_round_trips_and_edits_keep_unmanaged_lines() {
        let files = corpus();
        assert!(files.len() >= 4, "corpus missing: {files:?}");
        for (name, text) in files {
            for kind in [Kind::Main, Kind::Master] {
                assert_eq!(CfFile::parse(&text, kind).render(), text, "{name}");
            }
            let mut f = CfFile::parse(&text, Kind::Main);
            let before: Vec<String> = f
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Entry(e) if e.name(&f.source) != Some("relayhost") => Some(e.raw(&f.source).to_owned()),
                    _ => None,
                })
                .collect();
            f.set("relayhost", "[smtp.example.com]:587");
            f.set("smtp_tls_policy_maps", "hash:/x");
            let out = f.render();
            for e in before {
                assert!(out.contains(&e), "{name}: lost {e:?}");
            }
            let again = CfFile::parse(&out, Kind::Main);
            assert_eq!(again.get("relayhost"), Some("[smtp.example.com]:587"), "{name}");
            assert_eq!(again.count("relayhost"), 1, "{name}");
        }
    }

    #[test]
    fn a_parameter_is_a_name_blanks_an_equals_sign_blanks_and_the_rest() {
        for (line, expected) in [
            ("relayhost = [a]:25", Some(("relayhost", "[a]:25"))),
            ("a=b", Some(("a", "b"))),
            ("a \t= \t b c ", Some(("a", "b c "))),
            ("a-b.c_D9 =", Some(("a-b.c_D9", ""))),
            ("a ==b", Some(("a", "=b"))),
            ("=broken", None),
            ("a b = c", None),
            ("é = x", None),
            ("aé = x", None),
            ("a\u{a0}= x", None),
            ("name", None),
            ("", None),
        ] {
            assert_eq!(parameter(line), expected, "{line:?}");
        }
    }

    #[test]
    fn names_and_effective_values_count_each_name_once_even_when_keys_collide() {
        let text = "a = 1\nb = 2\n# c\na = 3\nc = 4\nb =\n  5\n";
        let mut f = CfFile::parse(text, Kind::Main);
        assert_eq!(f.names(), ["a", "b", "c"]);
        assert_eq!(f.effective(), [("a", "3"), ("b", "5"), ("c", "4")]);
        // Every name given the same key: told apart by their text.
        for item in &mut f.items {
            if let Item::Entry(e) = item {
                e.key = 7;
            }
        }
        assert_eq!(f.names(), ["a", "b", "c"]);
        assert_eq!(f.effective(), [("a", "3"), ("b", "5"), ("c", "4")]);
    }

    #[test]
    fn line_end_finds_the_first_line_break_at_any_place_in_a_word() {
        for len in 1..40 {
            for first in 0..len {
                // One line break at `first`, another one later when there is room.
                let mut text: Vec<u8> = vec![b'x'; len];
                text[first] = b'\n';
                if first + 3 < len {
                    text[first + 3] = b'\n';
                }
                let text = String::from_utf8(text).unwrap();
                for at in 0..=len {
                    let expected = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
                    assert_eq!(line_end(&text, at), expected, "{text:?} from {at}");
                }
            }
        }
        // Bytes next to `\n`, non-ASCII text, and no line break at all.
        let text = "\t\x0b\x0c\r é\u{8a}\u{10a}\nrest";
        assert_eq!(line_end(text, 0), text.find('\n').unwrap() + 1);
        assert_eq!(line_end("\u{10a}\u{10a}\u{10a}\u{10a}\u{10a}", 0), 10);
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in any::<String>()) {
            prop_assert_eq!(CfFile::parse(&text, Kind::Main).render(), text.clone());
            prop_assert_eq!(CfFile::parse(&text, Kind::Master).render(), text);
        }

        #[test]
        fn values_are_the_pieces_joined_by_single_spaces(
            lines in prop::collection::vec("([a-z_]{1,8} ?= ?[a-z$ ,]{0,10}|[ \t]+[a-z,]{0,6}[ \t]*|#[a-z ]{0,8}|[ \t]*)(\r?\n)", 0..20),
            tail in "[a-z =]{0,5}",
        ) {
            // The value as Postfix joins it, computed from the whole text of
            // each entry (the span-based value must agree).
            let text = lines.concat() + &tail;
            let file = CfFile::parse(&text, Kind::Main);
            for item in &file.items {
                let Item::Entry(e) = item else { continue };
                let mut raw_lines = e.raw(&file.source).split_inclusive('\n');
                let head = strip_eol(raw_lines.next().unwrap_or(""));
                let first = match head.split_once('=') {
                    Some((_, v)) if e.name.is_some() => v.trim(),
                    _ => head.trim(),
                };
                let joined = std::iter::once(first)
                    .chain(raw_lines.filter(|l| !is_trivia(l)).map(|l| strip_eol(l).trim()))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                prop_assert_eq!(e.value(&file.source), joined.as_str());
            }
        }

        #[test]
        fn config_like_text_round_trips_and_set_is_stable(
            lines in prop::collection::vec("([a-z_]{1,8} ?= ?[a-z$ ,]{0,10}|[ \t]+[a-z,]{1,6}|#[a-z ]{0,8}|[ \t]*)(\r?\n)", 0..20),
            tail in "[a-z =]{0,5}",
            value in r"[a-z.\[\]:0-9]{1,12}",
        ) {
            let text = lines.concat() + &tail;
            let parsed = CfFile::parse(&text, Kind::Main);
            prop_assert_eq!(parsed.render(), text.clone());
            let mut edited = parsed.clone();
            edited.set("relayhost", &value);
            let once = edited.render();
            let mut twice = CfFile::parse(&once, Kind::Main);
            twice.set("relayhost", &value);
            prop_assert_eq!(twice.render(), once.clone(), "setting twice changes nothing");
            let reparsed = CfFile::parse(&once, Kind::Main);
            prop_assert_eq!(reparsed.get("relayhost"), Some(value.as_str()));
        }
    }

    const SAMPLE: &str = "# comment\nmyhostname = mx.example.com\n\nsmtpd_recipient_restrictions =\n    permit_mynetworks,\n# inside\n    reject_unauth_destination\n# after\nrelayhost=old.example # not a comment\n";

    #[test]
    fn keeps_every_byte() {
        for text in [
            SAMPLE,
            "a = 1\r\nb = 2",
            "  stray continuation\nx",
            "",
            "\n\n",
            "=broken\n",
        ] {
            assert_eq!(CfFile::parse(text, Kind::Main).render(), text);
        }
    }

    #[test]
    fn reads_logical_lines() {
        let f = CfFile::parse(SAMPLE, Kind::Main);
        assert_eq!(
            f.get("smtpd_recipient_restrictions"),
            Some("permit_mynetworks, reject_unauth_destination")
        );
        assert_eq!(f.get("relayhost"), Some("old.example # not a comment"));
        assert_eq!(f.get("nonexistent"), None);
    }

    #[test]
    fn edits_touch_only_their_entry() {
        let mut f = CfFile::parse(SAMPLE, Kind::Main);
        f.set("relayhost", "[smtp.example.com]:587");
        f.set("myhostname", "mx.example.com");
        f.set("smtp_sasl_auth_enable", "yes");
        let out = f.render();
        assert_eq!(
            out,
            SAMPLE.replace(
                "relayhost=old.example # not a comment\n",
                "relayhost = [smtp.example.com]:587\n"
            ) + "smtp_sasl_auth_enable = yes\n"
        );
    }

    #[test]
    fn duplicates_collapse_into_the_last_place() {
        let mut f = CfFile::parse("relayhost = a\nx = 1\nrelayhost = b\ny = 2\n", Kind::Main);
        assert_eq!(f.count("relayhost"), 2);
        f.set("relayhost", "b");
        assert_eq!(f.render(), "x = 1\nrelayhost = b\ny = 2\n");
    }

    #[test]
    fn crlf_files_stay_crlf_and_a_missing_newline_is_added_before_appending() {
        let mut f = CfFile::parse("a = 1\r\nb = 2", Kind::Main);
        f.set("c", "3");
        assert_eq!(f.render(), "a = 1\r\nb = 2\r\nc = 3\r\n");
    }
}
