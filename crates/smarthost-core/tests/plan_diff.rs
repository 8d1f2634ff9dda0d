//! `FileChange::diff` diffs only the lines around the changes of two
//! versions of a file: the output must still be a unified diff that turns
//! the old text into the new one (checked by applying it), with hunk
//! headers that name the right lines, and the same as the diff of the
//! whole texts where the change is not ambiguous. (Where lines repeat, a
//! diff may pair them in more than one right way.)

use proptest::prelude::*;
use smarthost_core::FileChange;

/// The unified diff of the whole texts, as `FileChange::diff` made it
/// before it looked at a window only.
fn whole(before: &str, after: &str) -> String {
    let mut out = similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header("a/etc/table", "b/etc/table")
        .to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn text() -> impl Strategy<Value = String> {
    // Few distinct lines, so that lines repeat and edits collide; lines
    // that share prefixes and suffixes; sometimes no final newline.
    let line = prop::sample::select(vec![
        "a",
        "b",
        "ab",
        "ba",
        "key value",
        "key valux",
        "",
        "@x y",
        "@x yy",
    ]);
    (prop::collection::vec(line, 0..40), any::<bool>()).prop_map(|(lines, newline)| {
        let mut text = lines.join("\n");
        if newline && !text.is_empty() {
            text.push('\n');
        }
        text
    })
}

/// `before` with a few lines replaced, inserted or removed.
fn edited() -> impl Strategy<Value = (String, String)> {
    (
        text(),
        prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, "[a-c]{0,3}"), 0..4),
    )
        .prop_map(|(before, edits)| {
            let mut lines: Vec<String> = before.split_inclusive('\n').map(str::to_owned).collect();
            for (at, kind, new) in edits {
                let i = if lines.is_empty() { 0 } else { at.index(lines.len()) };
                match kind {
                    0 if !lines.is_empty() => lines[i] = format!("{new}\n"),
                    1 => lines.insert(i, format!("{new}\n")),
                    _ if !lines.is_empty() => {
                        lines.remove(i);
                    }
                    _ => {}
                }
            }
            (before, lines.concat())
        })
}

/// Applies a unified diff (as `FileChange::diff` writes it) to `before`,
/// checking every context and removed line against the stated position.
fn apply(before: &str, diff: &str) -> Result<String, String> {
    let old: Vec<&str> = before.split_inclusive('\n').collect();
    let mut out: Vec<String> = Vec::new();
    let mut at = 0; // lines of `old` consumed
    let mut lines = diff.split_inclusive('\n');
    let header = (lines.next(), lines.next());
    if diff.is_empty() {
        return Ok(before.to_owned());
    }
    if !matches!(header, (Some(a), Some(b)) if a.starts_with("--- ") && b.starts_with("+++ ")) {
        return Err(format!("no file header: {diff}"));
    }
    let mut last: Option<String> = None; // the last line written, for "\ No newline"
    for line in lines {
        if let Some(ranges) = line.strip_prefix("@@ -") {
            let old_range = ranges.split(' ').next().unwrap();
            let (start, len) = match old_range.split_once(',') {
                Some((s, l)) => (s.parse::<usize>().unwrap(), l.parse::<usize>().unwrap()),
                None => (old_range.parse::<usize>().unwrap(), 1),
            };
            let first = if len == 0 { start } else { start - 1 };
            if first < at {
                return Err(format!("hunk at line {start} overlaps the previous one"));
            }
            out.extend(old[at..first].iter().map(|l| l.to_string()));
            at = first;
            continue;
        }
        if line.starts_with('\\') {
            // The previous line had no newline at the end.
            if let Some(prev) = last.take() {
                let fixed = prev.strip_suffix('\n').unwrap_or(&prev).to_owned();
                if out.last() == Some(&prev) {
                    *out.last_mut().unwrap() = fixed;
                }
            }
            continue;
        }
        let (kind, text) = line.split_at(1);
        match kind {
            " " | "-" => {
                let expected = old.get(at).ok_or("past the end of the old text")?;
                if expected.trim_end_matches('\n') != text.trim_end_matches('\n') {
                    return Err(format!("line {} is {expected:?}, the diff says {text:?}", at + 1));
                }
                at += 1;
                if kind == " " {
                    out.push(expected.to_string());
                    last = Some(expected.to_string());
                } else {
                    last = None;
                }
            }
            "+" => {
                out.push(text.to_owned());
                last = Some(text.to_owned());
            }
            _ => return Err(format!("unexpected line {line:?}")),
        }
    }
    out.extend(old[at..].iter().map(|l| l.to_string()));
    Ok(out.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_window_diff_turns_the_old_text_into_the_new((before, after) in edited()) {
        let change = FileChange::new("/etc/table".into(), 0o644, Some(before.clone()), Some(after.clone()));
        let diff = change.diff();
        prop_assert_eq!(apply(&before, &diff), Ok(after.clone()), "{}", diff);
        // The whole diff passes the same check: the checker is right.
        prop_assert_eq!(apply(&before, &whole(&before, &after)), Ok(after.clone()));
        prop_assert_eq!(diff.is_empty(), before == after);
    }

    #[test]
    fn unrelated_texts_too(before in text(), after in text()) {
        let change = FileChange::new("/etc/table".into(), 0o644, Some(before.clone()), Some(after.clone()));
        prop_assert_eq!(apply(&before, &change.diff()), Ok(after.clone()));
    }

    /// Distinct lines: one right diff only, and the window finds it.
    #[test]
    fn without_repeated_lines_it_is_the_whole_diff(n in 1usize..60, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 1..4)) {
        let before: String = (0..n).map(|i| format!("@line{i} value{i}\n")).collect();
        let mut lines: Vec<String> = before.split_inclusive('\n').map(str::to_owned).collect();
        for (k, (at, insert)) in edits.iter().enumerate() {
            let i = at.index(lines.len().max(1));
            if *insert || lines.is_empty() { lines.insert(i, format!("@new{k} v\n")) } else { lines[i] = format!("@changed{k} v\n") }
        }
        let after = lines.concat();
        let change = FileChange::new("/etc/table".into(), 0o644, Some(before.clone()), Some(after.clone()));
        prop_assert_eq!(change.diff(), whole(&before, &after));
    }
}

#[test]
fn one_line_of_a_large_table() {
    let before: String = (0..100_000)
        .map(|i| format!("@customer{i}.example [relay{}.example.net]:587\n", i % 50))
        .collect();
    let after = before.replace("@customer77777.example [relay27", "@customer77777.example [relay28");
    let change = FileChange::new("/etc/table".into(), 0o644, Some(before.clone()), Some(after.clone()));
    let diff = change.diff();
    assert_eq!(diff, whole(&before, &after));
    assert!(diff.contains("@@ -77775,7 +77775,7 @@"), "{diff}");
}
