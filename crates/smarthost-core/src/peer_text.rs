//! Text from peers (SMTP replies, HTTP API messages, certificate names)
//! made safe to show: secrets redacted, control characters escaped, length
//! capped.
//!
//! A peer is not trusted: a relay may echo the AUTH line (and with it the
//! password, base64-encoded), an API may repeat the password it was sent, a
//! banner may carry terminal escape sequences, and a reply may be megabytes
//! long. [`Redactor::sanitize`] handles all of it in one pass:
//!
//! ```
//! use smarthost_core::peer_text::Redactor;
//!
//! let redactor = Redactor::new().with_login("apikey", "s3cret-Key-42");
//! let reply = "535 5.7.8 AUTH PLAIN AGFwaWtleQBzM2NyZXQtS2V5LTQy rejected \x1b]0;pwned\x07";
//! assert_eq!(
//!     redactor.sanitize(reply),
//!     r"535 5.7.8 AUTH PLAIN <redacted> rejected \x1b]0;pwned\x07"
//! );
//! ```

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::credentials::{Credentials, REDACTED};

/// The default limit of [`Redactor::sanitize`], in characters of output
/// (the truncation marker comes on top).
pub const MAX_PEER_TEXT: usize = 1000;

/// Secrets at least this many characters long are redacted wherever they
/// occur, also inside a longer word; shorter ones only as a whole token.
pub const MIN_SUBSTRING_SECRET: usize = 8;

/// Characters that end a token, besides whitespace and control characters.
const BOUNDARIES: &[char] = &['"', '\'', '<', '>', '(', ')', '[', ']', '{', '}', ',', ';', ':', '='];

/// Sentence punctuation that ends a token when whitespace, a boundary or
/// the end of the text follows it (`... password x.`), but not inside a
/// word (`x.example`).
const SENTENCE_END: &[char] = &['.', '!', '?'];

/// Makes peer text safe to show: redacts the secrets it was built with,
/// escapes control characters and caps the length.
///
/// Rules, applied in one pass from the start of the text:
///
/// - **Redaction.** Each secret, and the forms in which SMTP AUTH sends it
///   (see [`Redactor::with_login`]), is replaced by [`REDACTED`]. An
///   occurrence that is a whole token (bounded on each side by the start or
///   end of the text, whitespace, a control character, or one of
///   `` "'<>()[]{},;:= ``; at the end also `.`, `!` or `?` followed by such
///   a boundary) is always replaced. An occurrence inside a longer token is
///   replaced only when the secret is at least [`MIN_SUBSTRING_SECRET`]
///   characters long: a shorter one inside a word is a coincidence (the
///   password `x` leaves `postfix-lmdb` alone), and replacing it would
///   both mangle the word and reveal the secret's characters. Overlapping
///   occurrences are replaced as one, so no part of a secret stays
///   visible; everything else is left exactly as it was.
/// - **Escaping.** C0 control characters (`\n` is kept by
///   [`Redactor::sanitize_lines`]), DEL, the C1 controls U+0080..U+009F and
///   the Unicode characters that reorder or split lines (bidi controls,
///   U+2028, U+2029) are shown as escapes: `\t`, `\r`, `\n`, `\x1b`,
///   `\u{9b}`, `\u{202e}`. An ESC or OSC sequence from a banner therefore
///   reaches a terminal as plain text. Backslashes are left as they are,
///   so text sanitized twice shows the same escapes, not doubled ones.
/// - **Length.** At most the limit (default [`MAX_PEER_TEXT`]) characters
///   of output, cut on a character boundary and never inside a redaction,
///   followed by ` … [N more bytes]` where N counts the bytes of the
///   original text not shown.
///
/// The output never contains a secret of [`MIN_SUBSTRING_SECRET`] or more
/// characters (unless the secret contains [`REDACTED`] itself), nor a
/// control character. `Debug` shows how many patterns it holds, never the
/// patterns; they are zeroed when dropped.
#[derive(Clone)]
pub struct Redactor {
    /// Longest first, so the longest match at a position wins.
    patterns: Vec<Zeroizing<String>>,
    limit: usize,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("patterns", &self.patterns.len())
            .field("limit", &self.limit)
            .finish()
    }
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Redactor {
    /// A redactor without secrets: escapes and truncates only.
    pub fn new() -> Redactor {
        Redactor {
            patterns: Vec::new(),
            limit: MAX_PEER_TEXT,
        }
    }

    /// Caps the output at `max_chars` characters instead of
    /// [`MAX_PEER_TEXT`].
    #[must_use]
    pub fn with_limit(mut self, max_chars: usize) -> Redactor {
        self.limit = max_chars;
        self
    }

    fn add(&mut self, pattern: String) {
        let pattern = Zeroizing::new(pattern);
        if pattern.is_empty() || self.patterns.iter().any(|p| **p == *pattern) {
            return;
        }
        // Base64 is also shown without its `=` padding; `=` is a boundary,
        // so the unpadded form covers both.
        let at = self
            .patterns
            .iter()
            .position(|p| p.len() < pattern.len())
            .unwrap_or(self.patterns.len());
        self.patterns.insert(at, pattern);
    }

    fn add_base64(&mut self, bytes: &[u8]) {
        let encoded = Zeroizing::new(base64(bytes));
        self.add(encoded.trim_end_matches('=').to_owned());
        self.add(encoded.to_string());
    }

    /// Redacts `secret` and its base64 form (what AUTH LOGIN sends as the
    /// password). An empty secret is ignored.
    #[must_use]
    pub fn with_secret(mut self, secret: &str) -> Redactor {
        if secret.is_empty() {
            return self;
        }
        self.add(secret.to_owned());
        self.add_base64(secret.as_bytes());
        self
    }

    /// Redacts `password` as [`Redactor::with_secret`] does, plus the AUTH
    /// PLAIN forms: base64 of `\0username\0password` (what the connection
    /// check sends) and of `username\0username\0password`. The user name
    /// and its base64 form (the AUTH LOGIN user line) are not secret and
    /// stay visible.
    #[must_use]
    pub fn with_login(mut self, username: &str, password: &str) -> Redactor {
        if password.is_empty() {
            return self;
        }
        self = self.with_secret(password);
        let plain = Zeroizing::new(format!("\0{username}\0{password}"));
        self.add_base64(plain.as_bytes());
        let plain = Zeroizing::new(format!("{username}\0{username}\0{password}"));
        self.add_base64(plain.as_bytes());
        self
    }

    /// [`Redactor::with_login`] for validated credentials.
    #[must_use]
    pub fn with_credentials(self, credentials: &Credentials) -> Redactor {
        self.with_login(credentials.username().as_str(), credentials.password().expose())
    }

    /// Sanitizes one line of peer text: every line break is escaped too.
    pub fn sanitize(&self, text: &str) -> String {
        self.run(text, false)
    }

    /// Sanitizes peer text that may span lines: `\n` (and `\r\n`, shown as
    /// `\n`) is kept, every other control character is escaped.
    pub fn sanitize_lines(&self, text: &str) -> String {
        self.run(text, true)
    }

    /// The end of the redaction that starts at `at`, if a pattern matches
    /// there under the token rule.
    fn match_at(&self, text: &str, at: usize) -> Option<usize> {
        let rest = &text[at..];
        self.patterns.iter().find_map(|p| {
            let end = at + p.len();
            let long = p.chars().count() >= MIN_SUBSTRING_SECRET;
            (rest.starts_with(p.as_str()) && (long || whole_token(text, at, end))).then_some(end)
        })
    }

    /// The end of the redaction starting at `at`, extended over every match
    /// that begins inside it, so that overlapping secrets go as one.
    fn redaction_at(&self, text: &str, at: usize) -> Option<usize> {
        let mut end = self.match_at(text, at)?;
        let mut inner = next_char(text, at);
        while inner < end {
            if let Some(e) = self.match_at(text, inner) {
                end = end.max(e);
            }
            inner = next_char(text, inner);
        }
        Some(end)
    }

    fn run(&self, text: &str, multi_line: bool) -> String {
        let mut out = String::new();
        let mut shown = 0;
        let mut at = 0;
        while at < text.len() {
            let (piece, next) = match self.redaction_at(text, at) {
                Some(end) => (Cow::Borrowed(REDACTED), end),
                None => {
                    let c = text[at..].chars().next().unwrap_or_default();
                    let next = at + c.len_utf8();
                    if multi_line && c == '\r' && text[next..].starts_with('\n') {
                        (Cow::Borrowed(""), next)
                    } else {
                        (escape(c, &text[at..next], multi_line), next)
                    }
                }
            };
            let width = piece.chars().count();
            if shown + width > self.limit {
                break;
            }
            out.push_str(&piece);
            shown += width;
            at = next;
        }
        if at < text.len() {
            let _ = write!(out, " … [{} more bytes]", text.len() - at);
        }
        self.scrub(out)
    }

    /// A last pass over the output: a long secret that only appears once
    /// escapes or markers sit next to other text is redacted too.
    fn scrub(&self, mut out: String) -> String {
        let long = || {
            self.patterns
                .iter()
                .filter(|p| p.chars().count() >= MIN_SUBSTRING_SECRET && !p.contains(REDACTED))
        };
        for _ in 0..4 {
            match long().find(|p| out.contains(p.as_str())) {
                Some(p) => out = out.replace(p.as_str(), REDACTED),
                None => return out,
            }
        }
        if long().any(|p| out.contains(p.as_str())) {
            REDACTED.to_owned()
        } else {
            out
        }
    }
}

/// Sanitizes one line of peer text that holds no secret of ours:
/// [`Redactor::sanitize`] without redaction.
pub fn sanitize(text: &str) -> String {
    Redactor::new().sanitize(text)
}

fn next_char(text: &str, at: usize) -> usize {
    at + text[at..].chars().next().map_or(1, char::len_utf8)
}

fn is_boundary(c: char) -> bool {
    c.is_whitespace() || c.is_control() || BOUNDARIES.contains(&c)
}

/// Whether `text[start..end]` is a whole token.
fn whole_token(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back().is_none_or(is_boundary);
    let mut after = text[end..].chars();
    let after = match after.next() {
        None => true,
        Some(c) if is_boundary(c) => true,
        Some(c) if SENTENCE_END.contains(&c) => after.next().is_none_or(is_boundary),
        Some(_) => false,
    };
    before && after
}

/// Characters shown as escapes: controls, and the ones that reorder text
/// or start a new line in a terminal.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// How `c` (the text `raw`) is shown.
fn escape(c: char, raw: &str, multi_line: bool) -> Cow<'_, str> {
    match c {
        '\n' if multi_line => Cow::Borrowed("\n"),
        '\n' => Cow::Borrowed("\\n"),
        '\r' => Cow::Borrowed("\\r"),
        '\t' => Cow::Borrowed("\\t"),
        c if (c as u32) < 0x80 && needs_escape(c) => Cow::Owned(format!("\\x{:02x}", c as u32)),
        c if needs_escape(c) => Cow::Owned(format!("\\u{{{:x}}}", c as u32)),
        _ => Cow::Borrowed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "Tr0ub4dor&3-long";

    fn b64(s: &str) -> String {
        base64(s.as_bytes())
    }

    #[test]
    fn the_secret_and_every_auth_encoding_are_redacted() {
        let r = Redactor::new().with_login("user", PASSWORD);
        let login = b64(PASSWORD);
        let plain = b64(&format!("\0user\0{PASSWORD}"));
        let plain_authzid = b64(&format!("user\0user\0{PASSWORD}"));
        let text = format!("535 {PASSWORD} AUTH PLAIN {plain} / {plain_authzid} / {login}");
        assert_eq!(
            r.sanitize(&text),
            "535 <redacted> AUTH PLAIN <redacted> / <redacted> / <redacted>"
        );
        // Unpadded and inside other text.
        let unpadded = plain.trim_end_matches('=');
        assert_eq!(r.sanitize(&format!("got '{unpadded}'")), "got '<redacted>'");
        assert_eq!(r.sanitize(&format!("x{login}y")), "x<redacted>y");
        // The user name and its AUTH LOGIN form are not secret.
        let user = b64("user");
        assert_eq!(r.sanitize(&format!("334 {user}")), format!("334 {user}"));
    }

    #[test]
    fn what_the_check_sends_is_covered() {
        // The exact lines of the connection check (probe.rs): PLAIN as
        // base64 of "\0user\0password", LOGIN as base64 of the password.
        let r = Redactor::new().with_login("postmaster@mg.example", "pw");
        let plain = format!("AUTH PLAIN {}", b64("\0postmaster@mg.example\0pw"));
        assert_eq!(r.sanitize(&plain), "AUTH PLAIN <redacted>");
        assert_eq!(
            r.sanitize(&format!("535 {} rejected", b64("pw"))),
            "535 <redacted> rejected"
        );
    }

    #[test]
    fn a_short_secret_is_redacted_only_as_a_whole_token() {
        let r = Redactor::new().with_secret("x");
        assert_eq!(r.sanitize("postfix-lmdb x"), "postfix-lmdb <redacted>");
        assert_eq!(
            r.sanitize("pass=x; user:x,(x)"),
            "pass=<redacted>; user:<redacted>,(<redacted>)"
        );
        assert_eq!(r.sanitize("password x."), "password <redacted>.");
        assert_eq!(r.sanitize("x.example"), "x.example");
        assert_eq!(r.sanitize("\"x\""), "\"<redacted>\"");
        assert_eq!(r.sanitize("\x1bx\x07"), "\\x1b<redacted>\\x07");
        let seven = Redactor::new().with_secret("abcdefg");
        assert_eq!(seven.sanitize("zabcdefgz abcdefg"), "zabcdefgz <redacted>");
    }

    #[test]
    fn a_long_secret_is_redacted_inside_words_too() {
        let r = Redactor::new().with_secret("abcdefgh");
        assert_eq!(r.sanitize("zzabcdefghzz"), "zz<redacted>zz");
        assert_eq!(r.sanitize("abcdefgabcdefgh"), "abcdefg<redacted>");
    }

    #[test]
    fn overlapping_secrets_go_as_one() {
        let r = Redactor::new().with_secret("abcdefgh").with_secret("efghijkl");
        assert_eq!(r.sanitize("abcdefghijkl!"), "<redacted>!");
        let r = Redactor::new().with_secret("aaaaaaaa");
        assert_eq!(r.sanitize("aaaaaaaaaa b"), "<redacted> b");
    }

    #[test]
    fn other_text_is_left_alone() {
        let r = Redactor::new().with_login("user", PASSWORD);
        let text = "250-mx.example.com Hello [192.0.2.1] \u{e9}t\u{e9} \\x1b 😀";
        assert_eq!(r.sanitize(text), text);
    }

    #[test]
    fn control_characters_are_escaped() {
        let r = Redactor::new();
        assert_eq!(r.sanitize("a\x1b]0;pwned\x07b"), "a\\x1b]0;pwned\\x07b");
        assert_eq!(r.sanitize("a\x1b[2Jb\x7f\0"), "a\\x1b[2Jb\\x7f\\x00");
        assert_eq!(r.sanitize("\u{9b}31m\u{85}"), "\\u{9b}31m\\u{85}");
        assert_eq!(r.sanitize("l1\r\nl2\tx"), "l1\\r\\nl2\\tx");
        assert_eq!(r.sanitize_lines("l1\r\nl2\n\x1b"), "l1\nl2\n\\x1b");
        assert_eq!(r.sanitize("abc\u{202e}fed\u{2028}"), "abc\\u{202e}fed\\u{2028}");
    }

    #[test]
    fn long_text_is_cut_with_a_marker() {
        let r = Redactor::new().with_limit(10);
        assert_eq!(r.sanitize("0123456789"), "0123456789");
        assert_eq!(r.sanitize("0123456789abc"), "0123456789 … [3 more bytes]");
        // On a char boundary: é is two bytes.
        assert_eq!(r.sanitize("ééééééééééé"), "éééééééééé … [2 more bytes]");
        // An escape is not split.
        assert_eq!(r.sanitize("01234567\x1b"), "01234567 … [1 more bytes]");
        let nine_mb = "x".repeat(9 << 20);
        assert_eq!(
            sanitize(&nine_mb),
            format!(
                "{} … [{} more bytes]",
                "x".repeat(MAX_PEER_TEXT),
                (9 << 20) - MAX_PEER_TEXT
            )
        );
    }

    #[test]
    fn a_cut_never_reveals_part_of_a_secret() {
        let r = Redactor::new().with_secret("SECRETSECRET").with_limit(14);
        // The secret starts before the cut and ends after it: all or nothing.
        assert_eq!(r.sanitize("0123SECRETSECRET"), "0123<redacted>");
        assert_eq!(r.sanitize("012345SECRETSECRET"), "012345 … [12 more bytes]");
    }

    #[test]
    fn debug_hides_the_patterns() {
        let r = Redactor::new().with_login("user", PASSWORD);
        let debug = format!("{r:?}");
        assert!(!debug.contains(PASSWORD) && !debug.contains(&b64(PASSWORD)), "{debug}");
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;

        fn peer_char() -> impl Strategy<Value = char> {
            prop_oneof![
                any::<char>(),
                prop::char::range('\0', '\u{9f}'),
                Just('\x1b'),
                Just(' '),
                Just('='),
            ]
        }

        proptest! {
            #[test]
            fn output_has_no_secret_and_no_control_char(
                user in "[a-z@.]{1,12}",
                password in "[A-Za-z0-9_.+/=@!-]{8,24}",
                parts in prop::collection::vec((prop::collection::vec(peer_char(), 0..40), 0..5u8), 0..12),
                limit in 1usize..200,
                lines in any::<bool>(),
            ) {
                let r = Redactor::new().with_login(&user, &password).with_limit(limit);
                let encodings = [
                    password.clone(),
                    base64(password.as_bytes()),
                    base64(format!("\0{user}\0{password}").as_bytes()),
                    base64(format!("{user}\0{user}\0{password}").as_bytes()),
                ];
                let mut text = String::new();
                for (noise, which) in &parts {
                    text.extend(noise.iter());
                    if let Some(e) = encodings.get(usize::from(*which)) {
                        text.push_str(e);
                    }
                }
                let out = if lines { r.sanitize_lines(&text) } else { r.sanitize(&text) };
                for e in &encodings {
                    prop_assert!(!out.contains(e.trim_end_matches('=')), "{out:?} shows {e:?}");
                }
                prop_assert!(!out.chars().any(|c| c.is_control() && !(lines && c == '\n')), "{out:?}");
                prop_assert!(out.chars().count() <= limit + " … [N more bytes]".len() + 20);
            }

            #[test]
            fn text_without_secrets_or_controls_is_unchanged(text in "[^\\p{Cc}\u{200e}\u{200f}\u{2028}-\u{202e}\u{2066}-\u{2069}\u{061c}]{0,200}") {
                let r = Redactor::new().with_login("someone", "not-in-the-text-\u{1F511}");
                prop_assert_eq!(r.sanitize(&text), text);
            }
        }
    }
}
