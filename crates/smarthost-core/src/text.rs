//! Character rules shared by every validated value: what could inject into a
//! configuration file, a lookup table or a registry value.

use crate::error::Error;

/// Rejects the characters that break out of a value in any of the files we
/// write: line breaks, NUL and other control characters. `what` names the
/// kind of value in the message.
pub(crate) fn reject_control(field: &str, value: &str) -> Result<(), Error> {
    // Printable ASCII (space to '~') has nothing to reject.
    if value.bytes().all(|b| matches!(b, b' '..=b'~')) {
        return Ok(());
    }
    for c in value.chars() {
        let reason = match c {
            '\n' => "contains a line break (LF), which would start a new line in the configuration",
            '\r' => "contains a carriage return (CR), which would start a new line in the configuration",
            '\t' => "contains whitespace (a tab), which separates fields in lookup tables",
            '\0' => "contains a NUL byte, which ends the value early in C programs such as Postfix",
            c if c.is_control() => {
                return Err(Error::invalid(
                    field,
                    value,
                    format!("contains the control character U+{:04X}", c as u32),
                ))
            }
            _ => continue,
        };
        return Err(Error::invalid(field, value, reason));
    }
    Ok(())
}

/// Rejects what [`reject_control`] rejects plus the separators of Postfix
/// parameters and tables: whitespace, `#`, `,` and `=`.
pub(crate) fn reject_separators(field: &str, value: &str) -> Result<(), Error> {
    // Printable ASCII other than space, '#', ',' and '=' has nothing to
    // reject.
    if (value.bytes()).all(|b| matches!(b, b'!'..=b'~') && !matches!(b, b'#' | b',' | b'=')) {
        return Ok(());
    }
    reject_control(field, value)?;
    for c in value.chars() {
        let reason = match c {
            ' ' | '\t' => "contains whitespace, which separates fields in lookup tables",
            c if c.is_whitespace() => "contains a Unicode whitespace character",
            '#' => "contains '#', which starts a comment in configuration files",
            ',' => "contains ',', which separates list items in Postfix parameters",
            '=' => "contains '=', which separates a parameter's name from its value",
            _ => continue,
        };
        return Err(Error::invalid(field, value, reason));
    }
    Ok(())
}
