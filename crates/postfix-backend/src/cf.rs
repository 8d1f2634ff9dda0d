//! A lossless editor for Postfix's configuration files (main.cf and
//! master.cf).
//!
//! Postfix reads these files as *logical lines*: a line that starts with
//! non-whitespace text begins one, and following lines that start with
//! whitespace continue it. Blank lines and lines whose first non-whitespace
//! character is `#` are ignored anywhere, even between continuation lines.
//! A `#` after text is not a comment (postconf(5), "main.cf syntax").
//!
//! [`CfFile`] keeps every byte of the input: each item owns its raw text,
//! line endings included. Printing an unedited file gives back the input, for
//! any input (CRLF files, no final newline, garbage). Only items that are
//! edited are re-rendered.

use winnow::ascii::space0;
use winnow::token::{rest, take_while};
use winnow::Parser;

/// One piece of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// Blank and comment lines, kept as they are.
    Trivia(String),
    /// A logical line: its first line, continuation lines and any blank or
    /// comment lines between them.
    Entry(Entry),
}

/// A logical line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The exact text, with line endings.
    pub(crate) raw: String,
    /// The parameter name (main.cf) or service name (master.cf); `None` when
    /// the line has no `name =` form (main.cf) .
    pub(crate) name: Option<String>,
    /// The value: the text after `=` and the continuation lines, joined by
    /// single spaces, comment lines left out (main.cf).
    pub(crate) value: String,
}

/// A parsed file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct CfFile {
    items: Vec<Item>,
}

fn is_trivia(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn starts_with_whitespace(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

fn strip_eol(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

/// `name = value` of a main.cf logical line's first line.
fn parameter<'a>(input: &mut &'a str) -> winnow::Result<(&'a str, &'a str)> {
    let name = take_while(1.., |c: char| {
        c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
    });
    (name, space0, '=', space0, rest)
        .map(|(n, _, _, _, v)| (n, v))
        .parse_next(input)
}

impl Entry {
    fn parse(raw: String, kind: Kind) -> Entry {
        let mut lines = raw.split_inclusive('\n');
        let head = strip_eol(lines.next().unwrap_or(""));
        let tail = lines.filter(|l| !is_trivia(l)).map(|l| strip_eol(l).trim());
        let (name, first) = match kind {
            Kind::Main => match parameter.parse(head) {
                Ok((name, value)) => (Some(name.to_owned()), value.trim()),
                Err(_) => (None, head.trim()),
            },
            Kind::Master => (head.split_whitespace().next().map(str::to_owned), head.trim()),
        };
        let value = std::iter::once(first)
            .chain(tail)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        Entry { raw, name, value }
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
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if is_trivia(lines[i]) || starts_with_whitespace(lines[i]) {
                // Trivia, or a continuation with nothing to continue: kept as is.
                let start = i;
                while i < lines.len() && (is_trivia(lines[i]) || starts_with_whitespace(lines[i])) {
                    i += 1;
                }
                items.push(Item::Trivia(lines[start..i].concat()));
                continue;
            }
            // A logical line: the head, then continuation lines; blank and
            // comment lines belong to it only when a continuation follows.
            let start = i;
            i += 1;
            let mut end = i;
            while i < lines.len() && (is_trivia(lines[i]) || starts_with_whitespace(lines[i])) {
                if !is_trivia(lines[i]) {
                    end = i + 1;
                }
                i += 1;
            }
            items.push(Item::Entry(Entry::parse(lines[start..end].concat(), kind)));
            i = end;
        }
        CfFile { items }
    }

    /// The file's text.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            match item {
                Item::Trivia(t) => out.push_str(t),
                Item::Entry(e) => out.push_str(&e.raw),
            }
        }
        out
    }

    /// Every entry named `name`, in file order.
    pub(crate) fn entries<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a Entry> + use<'a, 'n> {
        self.items.iter().filter_map(move |item| match item {
            Item::Entry(e) if e.name.as_deref() == Some(name) => Some(e),
            _ => None,
        })
    }

    /// The effective value of a main.cf parameter: the last occurrence wins,
    /// as in Postfix.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.entries(name).last().map(|e| e.value.as_str())
    }

    /// The names of all entries, in file order, each once.
    pub(crate) fn names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Entry(e) => e.name.as_deref(),
                Item::Trivia(_) => None,
            })
            .filter(|n| seen.insert(*n))
            .collect()
    }

    /// Every parameter with its effective value (the last occurrence wins,
    /// as in Postfix), in the order of first occurrence; one pass over the
    /// file, where [`CfFile::names`] then [`CfFile::get`] would scan it once
    /// per name.
    pub(crate) fn effective(&self) -> Vec<(&str, &str)> {
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut out: Vec<(&str, &str)> = Vec::new();
        for item in &self.items {
            let Item::Entry(e) = item else { continue };
            let Some(name) = e.name.as_deref() else { continue };
            match index.get(name) {
                Some(&i) => out[i].1 = &e.value,
                None => {
                    index.insert(name, out.len());
                    out.push((name, &e.value));
                }
            }
        }
        out
    }

    /// How many times `name` occurs.
    pub(crate) fn count(&self, name: &str) -> usize {
        self.entries(name).count()
    }

    fn line_ending(&self) -> &'static str {
        if self.render().contains("\r\n") {
            "\r\n"
        } else {
            "\n"
        }
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
        self.put(name, Entry::parse(text, kind));
    }

    /// `entry` in place of every occurrence of `name`, where the last one
    /// is, or at the end; an identical single entry is left as it is.
    fn put(&mut self, name: &str, entry: Entry) {
        let last = self
            .items
            .iter()
            .rposition(|i| matches!(i, Item::Entry(e) if e.name.as_deref() == Some(name)));
        let Some(at) = last else {
            let eol = self.line_ending();
            self.ensure_final_newline(eol);
            self.items.push(Item::Entry(entry));
            return;
        };
        if matches!(&self.items[at], Item::Entry(old) if old.raw == entry.raw) && self.count(name) == 1 {
            return;
        }
        self.items[at] = Item::Entry(entry);
        let mut index = 0;
        self.items.retain(|item| {
            let keep = index >= at || !matches!(item, Item::Entry(e) if e.name.as_deref() == Some(name));
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
        self.entries(name).last().map(|e| e.raw.as_str())
    }

    /// Puts back an entry's exact text (as [`CfFile::raw`] gave it) in place
    /// of every occurrence of `name`, where the last one is, or at the end.
    pub(crate) fn restore(&mut self, name: &str, raw: &str, kind: Kind) {
        self.put(name, Entry::parse(raw.to_owned(), kind));
    }

    /// Whether the text ends with a line break (an empty file counts as
    /// ending with one: appending to it adds nothing before).
    pub(crate) fn ends_with_newline(&self) -> bool {
        match self.items.last() {
            Some(Item::Trivia(t)) => t.ends_with('\n'),
            Some(Item::Entry(e)) => e.raw.ends_with('\n'),
            None => true,
        }
    }

    /// Removes the line break at the very end, if there is one.
    pub(crate) fn strip_final_newline(&mut self) {
        let text = match self.items.last_mut() {
            Some(Item::Trivia(t)) => t,
            Some(Item::Entry(e)) => &mut e.raw,
            None => return,
        };
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        } else if text.ends_with('\n') {
            text.pop();
        }
    }

    /// Removes every occurrence of `name`.
    pub(crate) fn remove(&mut self, name: &str) {
        self.items
            .retain(|item| !matches!(item, Item::Entry(e) if e.name.as_deref() == Some(name)));
    }

    fn ensure_final_newline(&mut self, eol: &str) {
        let needs = match self.items.last_mut() {
            Some(Item::Trivia(t)) => (!t.ends_with('\n')).then_some(t),
            Some(Item::Entry(e)) => (!e.raw.ends_with('\n')).then_some(&mut e.raw),
            None => None,
        };
        if let Some(text) = needs {
            text.push_str(eol);
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
            let before: Vec<Entry> = f
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Entry(e) if e.name.as_deref() != Some("relayhost") => Some(e.clone()),
                    _ => None,
                })
                .collect();
            f.set("relayhost", "[smtp.example.com]:587");
            f.set("smtp_tls_policy_maps", "hash:/x");
            let out = f.render();
            for e in before {
                assert!(out.contains(&e.raw), "{name}: lost {:?}", e.raw);
            }
            let again = CfFile::parse(&out, Kind::Main);
            assert_eq!(again.get("relayhost"), Some("[smtp.example.com]:587"), "{name}");
            assert_eq!(again.count("relayhost"), 1, "{name}");
        }
    }

    proptest! {
        #[test]
        fn any_text_round_trips(text in any::<String>()) {
            prop_assert_eq!(CfFile::parse(&text, Kind::Main).render(), text.clone());
            prop_assert_eq!(CfFile::parse(&text, Kind::Master).render(), text);
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
