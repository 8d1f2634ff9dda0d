//! `smarthost assets DIR`: the man pages and shell completions that the
//! .deb and .rpm install, checked as a packager and a user would.
//!
//! The lint tests run `mandoc -T lint` and `groff -z -wall -man`: they are
//! `#[ignore]`d (the linters are not part of a fresh machine), run by
//! `cargo test -- --include-ignored` (.ci/run installs the linters), and fail
//! when a linter is missing.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

fn smarthost() -> Command {
    Command::new(env!("CARGO_BIN_EXE_smarthost"))
}

/// The assets, written once for every test of this file.
fn assets() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = smarthost()
            .arg("assets")
            .arg(dir.path())
            .env("SOURCE_DATE_EPOCH", "1767225600")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
    .path()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(assets().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pages() -> BTreeSet<String> {
    std::fs::read_dir(assets())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".1"))
        .collect()
}

/// The commands `smarthost [COMMAND...] --help` lists, but `help`.
fn commands(path: &[&str]) -> Vec<String> {
    let out = smarthost().args(path).arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    help.lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.is_empty())
        // "  plan  Show ...": a command; deeper indented lines continue its help.
        .filter_map(|l| l.strip_prefix("  ").filter(|rest| !rest.starts_with(' ')))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_page_per_subcommand() {
    let pages = pages();
    assert!(pages.contains("smarthost.1"));
    let mut expected = 1;
    for command in commands(&[]) {
        assert!(
            pages.contains(&format!("smarthost-{command}.1")),
            "no page for {command}: {pages:?}"
        );
        expected += 1;
        for sub in commands(&[&command]) {
            assert!(
                pages.contains(&format!("smarthost-{command}-{sub}.1")),
                "no page for {command} {sub}"
            );
            expected += 1;
        }
    }
    assert_eq!(pages.len(), expected, "{pages:?}");
    for name in [
        "smarthost-plan.1",
        "smarthost-server-set.1",
        "smarthost-domain-disable.1",
    ] {
        assert!(pages.contains(name), "{name}");
    }
    assert!(
        !pages.iter().any(|p| p.contains("assets")),
        "the hidden command got a page"
    );
}

#[test]
fn every_page_named_in_a_page_exists() {
    let pages = pages();
    let mut named = 0;
    for page in &pages {
        let text = read(page);
        // SUBCOMMANDS and SEE ALSO: \fBsmarthost\-server\fR(1) or smarthost\-server(1)
        for (i, _) in text.match_indices("(1)") {
            let before = text[..i].trim_end_matches("\\fR");
            let start = before
                .rfind(|c: char| c.is_whitespace() || c == 'B')
                .map_or(0, |s| s + 1);
            let name = before[start..].replace("\\-", "-");
            if name.starts_with("smarthost") {
                assert!(
                    pages.contains(&format!("{name}.1")),
                    "{page} names {name}(1), which is not generated"
                );
                named += 1;
            }
        }
    }
    // Every subcommand page names smarthost(1); the parents name their children.
    assert!(named >= 2 * (pages.len() - 1), "only {named} references found");
}

#[test]
fn pages_have_the_sections_a_man_page_has() {
    for page in pages() {
        let text = read(&page);
        for section in [
            ".SH NAME",
            ".SH SYNOPSIS",
            ".SH DESCRIPTION",
            ".SH \"EXIT STATUS\"",
            ".SH VERSION",
        ] {
            assert!(text.contains(section), "{page}: no {section}");
        }
        assert!(
            text.contains("2026\\-01\\-01") || text.contains("2026-01-01"),
            "{page}: SOURCE_DATE_EPOCH ignored"
        );
    }
    let top = read("smarthost.1");
    for section in [
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH \"SEE ALSO\"",
        ".SH \"GLOBAL OPTIONS\"",
    ] {
        assert!(top.contains(section), "smarthost.1: no {section}");
    }
    for var in ["SMARTERMAIL_PASSWORD", "SMARTERMAIL_USERNAME", "SSL_CERT_FILE"] {
        assert!(top.contains(var), "smarthost.1: ENVIRONMENT misses {var}");
    }
    let set = read("smarthost-server-set.1");
    assert!(set.contains(".SH EXAMPLES") && set.contains(".SH FILES") && set.contains(".SH ENVIRONMENT"));
    assert!(
        set.contains("password\\-env"),
        "server set: the --password-env variable"
    );
    let plan = read("smarthost-plan.1");
    assert!(plan.contains("\\fB3\\fR"), "plan: exit status 3");
    assert!(read("smarthost-check.1").contains("\\fB4\\fR"), "check: exit status 4");
}

#[test]
fn global_options_are_described_once() {
    let described = |page: &str| read(page).matches(".TP\n\\fB\\-\\-root\\fR").count();
    assert_eq!(described("smarthost.1"), 1);
    for page in pages().iter().filter(|p| *p != "smarthost.1") {
        assert_eq!(described(page), 0, "{page} describes --root again");
    }
    // And in --help: under their own heading in smarthost --help, and not
    // repeated by a subcommand (tests/help.rs has the rest).
    let out = smarthost().args(["--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let (_, global) = help.split_once("Global options:").expect("a Global options heading");
    assert!(global.contains("--root"));
    let out = smarthost().args(["server", "set", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("--relay") && !help.contains("--root <DIR>"), "{help}");
}

#[test]
#[ignore = "needs mandoc (apt-get install mandoc; run with --include-ignored, .ci/run does)"]
fn mandoc_finds_nothing_to_say() {
    let mandoc = test_support::require::tool("mandoc", "mandoc");
    for page in pages() {
        let out = Command::new(&mandoc)
            .args(["-T", "lint", "-W", "style"])
            .arg(assets().join(&page))
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success() && said.is_empty(), "{page}:\n{said}");
    }
}

#[test]
#[ignore = "needs groff (apt-get install groff-base; run with --include-ignored, .ci/run does)"]
fn groff_renders_without_warnings() {
    let groff = test_support::require::tool("groff", "groff-base");
    for page in pages() {
        let out = Command::new(&groff)
            .args(["-z", "-wall", "-man"])
            .arg(assets().join(&page))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.is_empty(), "{page}:\n{said}");
    }
}

/// What bash completion offers after `words` (the last one being typed).
fn bash_complete(words: &[&str]) -> Vec<String> {
    let script = assets().join("smarthost.bash");
    let words: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; COMP_POINT=${{#COMP_LINE}}; \
         _smarthost smarthost \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash").args(["--norc", "-c", &program]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_provider_names() {
    for level in [&["server", "set"][..], &["domain", "set", "shop.example.com"]] {
        let mut words = vec!["smarthost"];
        words.extend_from_slice(level);
        words.extend(["--provider", ""]);
        let offered = bash_complete(&words);
        for name in ["sendgrid", "mailgun-eu", "amazon-ses", "microsoft365"] {
            assert!(
                offered.iter().any(|o| o == name),
                "{level:?}: {name} not offered: {offered:?}"
            );
        }
        words.pop();
        words.push("mailg");
        assert_eq!(bash_complete(&words), ["mailgun", "mailgun-eu"]);
    }
}

#[test]
fn bash_offers_no_hidden_command_or_option() {
    let offered = bash_complete(&["smarthost", ""]);
    assert!(
        offered.iter().any(|o| o == "plan") && offered.iter().any(|o| o == "server"),
        "{offered:?}"
    );
    assert!(!offered.iter().any(|o| o == "assets"), "{offered:?}");
    let offered = bash_complete(&["smarthost", "server", "set", "--pass"]);
    assert!(offered.iter().any(|o| o == "--password-file"), "{offered:?}");
    assert!(
        !offered.iter().any(|o| o == "--password"),
        "the refused --password is offered: {offered:?}"
    );
}

#[test]
fn zsh_and_fish_offer_the_providers_too() {
    for file in ["_smarthost", "smarthost.fish"] {
        let text = read(file);
        assert!(text.contains("sendgrid") && text.contains("Twilio SendGrid"), "{file}");
        assert!(!text.contains("assets"), "{file} offers the hidden command");
    }
}
