//! Enable, then disable: main.cf comes back byte for byte when it had no
//! relay settings (issue 15), for every corpus file (the repository's and
//! the installed Postfix's own samples) and every policy of the matrix.

#[path = "support/matrix.rs"]
mod matrix;

use std::path::{Path, PathBuf};

use postfix_backend::{PostfixOptions, PostfixWriter};
use smarthost_core::{ConfigWriter, Policy};

/// Every main.cf-like file of the corpus, with its name.
fn corpus() -> Vec<(String, String)> {
    let mut files = vec![("matrix base".to_owned(), matrix::BASE_MAIN_CF.to_owned())];
    for dir in [
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus"),
        "/usr/share/postfix",
    ] {
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let main_like = name.starts_with("main.cf") || (name.ends_with(".cf") && !name.starts_with("master"));
            if let (true, Ok(text)) = (main_like, std::fs::read_to_string(&path)) {
                files.push((path.display().to_string(), text));
            }
        }
    }
    files
}

/// Whether a file already relays by hand (a takeover, which disable does
/// not undo).
fn has_relay_settings(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start_matches('\u{feff}');
        let Some((name, value)) = l.split_once('=') else {
            return false;
        };
        let (name, value) = (name.trim(), value.trim());
        !l.starts_with(['#', ' ', '\t'])
            && !value.is_empty()
            && [
                "relayhost",
                "sender_dependent_relayhost_maps",
                "sender_dependent_default_transport_maps",
            ]
            .contains(&name)
    })
}

fn write(root: &Path, text: &str) {
    std::fs::create_dir_all(root.join("etc/postfix")).unwrap();
    std::fs::write(root.join("etc/postfix/main.cf"), text).unwrap();
}

#[test]
fn every_corpus_main_cf_comes_back_byte_for_byte_after_enable_and_disable() {
    let files = corpus();
    assert!(files.len() >= 4, "the corpus is missing: {files:?}");
    let mut checked = 0;
    for (name, text) in &files {
        if has_relay_settings(text) {
            continue;
        }
        for (case, policy) in matrix::cases().into_iter().chain(matrix::routing_cases()) {
            if policy == Policy::default() {
                continue;
            }
            let root = tempfile::tempdir().unwrap();
            write(root.path(), text);
            let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
            let (_, applied) = writer.converge(&policy).unwrap();
            assert!(applied.changed, "{name} / {case}: nothing was enabled");
            let enabled = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
            assert_ne!(&enabled, text, "{name} / {case}");
            writer.converge(&Policy::default()).unwrap();
            let disabled = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
            assert!(
                disabled == *text,
                "{name} / {case}: not byte for byte after disable\n--- before\n{text:?}\n--- after\n{disabled:?}"
            );
            let left: Vec<_> = walk(root.path())
                .into_iter()
                .filter(|p| !p.ends_with("main.cf") && !p.to_string_lossy().contains(".smarthost"))
                .collect();
            assert!(left.is_empty(), "{name} / {case}: left behind: {left:?}");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} combinations were checked");
}

#[test]
fn a_manual_relay_taken_over_is_emptied_not_restored_and_the_rest_kept() {
    let text = "myhostname = mx.example\nrelayhost = [old.example]:587\nsmtpd_banner = hi\n";
    let root = tempfile::tempdir().unwrap();
    write(root.path(), text);
    let writer = PostfixWriter::new(PostfixOptions::render_into(root.path()));
    let (_, case) = matrix::cases().into_iter().next().unwrap();
    let (plan, _) = writer.converge(&case).unwrap();
    assert!(
        plan.notes.iter().any(|n| n.contains("replaces relayhost")),
        "{:?}",
        plan.notes
    );
    writer.converge(&Policy::default()).unwrap();
    let disabled = std::fs::read_to_string(root.path().join("etc/postfix/main.cf")).unwrap();
    assert_eq!(disabled, "myhostname = mx.example\nrelayhost =\nsmtpd_banner = hi\n");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
