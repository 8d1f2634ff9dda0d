//! `--reload-command` as a command line: words split at blanks, and a part
//! in double quotes kept together, so that `"C:\Program Files\MailEnable\
//! restart.cmd" --quick` and `/usr/sbin/postfix -c "/etc/postfix two" reload`
//! work. No shell runs it: no variables, globs or pipes. A backslash is
//! literal except before a double quote (`\"`), as Windows' own rule has it,
//! so Windows paths need no doubling.

use crate::error::CliError;

/// The program and its arguments; an error for an empty command or an
/// unterminated quote.
pub(crate) fn split(option: &str, text: &str) -> Result<Vec<String>, CliError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'"') => {
                word.push('"');
                chars.next();
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quoted {
        return Err(CliError::Usage(format!(
            "{option}: a double quote is not closed: {text:?}"
        )));
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err(CliError::Usage(format!("{option}: the command is empty")));
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn ok(text: &str) -> Vec<String> {
        split("--reload-command", text).unwrap()
    }

    #[test]
    fn words_quotes_and_windows_paths() {
        assert_eq!(ok("postfix reload"), ["postfix", "reload"]);
        assert_eq!(ok("  net   stop  MESMTPCS "), ["net", "stop", "MESMTPCS"]);
        assert_eq!(
            ok(r#""C:\Program Files\Mail Enable\Bin\restart.cmd" --quick"#),
            [r"C:\Program Files\Mail Enable\Bin\restart.cmd", "--quick"]
        );
        assert_eq!(
            ok(r#"/usr/sbin/postfix -c "/etc/postfix two" reload"#),
            ["/usr/sbin/postfix", "-c", "/etc/postfix two", "reload"]
        );
        assert_eq!(ok(r#"echo "" x"#), ["echo", "", "x"]);
        assert_eq!(ok(r#"say \"hi\""#), ["say", "\"hi\""]);
        assert_eq!(ok(r"C:\bin\x.exe"), [r"C:\bin\x.exe"]);
    }

    #[test]
    fn unterminated_quotes_and_empty_commands_are_refused() {
        for text in ["", "   ", r#""C:\Program Files\x"#] {
            let err = split("--reload-command", text).unwrap_err().to_string();
            assert!(err.starts_with("--reload-command: "), "{err}");
        }
    }
}
