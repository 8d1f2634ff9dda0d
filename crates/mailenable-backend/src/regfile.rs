//! `.reg` files as regedit writes and reads them: "Windows Registry Editor
//! Version 5.00", UTF-16LE with a BOM and CRLF line ends; `"` and `\`
//! escaped in names and strings; `dword:` for REG_DWORD, `hex(2):` for
//! REG_EXPAND_SZ (read only), `-` to delete a value.

use crate::error::Error;
use crate::registry::{MemoryRegistry, RegData, Registry};
use crate::schema;

/// The first line of every file.
pub const HEADER: &str = "Windows Registry Editor Version 5.00";

/// One line of a `.reg` file's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegLine {
    /// `"name"=value`.
    Set(String, RegData),
    /// `"name"=-`.
    Delete(String),
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The full `HKEY_LOCAL_MACHINE\...` path of a 32-bit view key, as a 64-bit
/// regedit must be given it.
pub fn hklm_path(key: &str) -> String {
    let tail = key.strip_prefix("SOFTWARE\\").unwrap_or(key);
    format!("{}\\SOFTWARE\\WOW6432Node\\{tail}", schema::HKLM)
}

/// The text of a `.reg` file: sections in order, each with its lines. A
/// string with a line break or NUL cannot be written in a `.reg` file and is
/// refused (validation rejects such values long before).
pub fn render(sections: &[(String, Vec<RegLine>)]) -> Result<String, Error> {
    for (key, lines) in sections {
        for line in lines {
            if let RegLine::Set(name, RegData::Sz(s)) = line {
                if s.contains(['\n', '\r', '\0']) {
                    return Err(Error::Registry {
                        key: key.clone(),
                        name: name.clone(),
                        reason: "a line break or NUL cannot be written to a .reg file".into(),
                    });
                }
            }
        }
    }
    let mut out = format!("{HEADER}\r\n\r\n");
    for (key, lines) in sections {
        out.push_str(&format!("[{}]\r\n", hklm_path(key)));
        for line in lines {
            match line {
                RegLine::Set(name, RegData::Sz(s)) => {
                    out.push_str(&format!("\"{}\"=\"{}\"\r\n", escape(name), escape(s)))
                }
                RegLine::Set(name, RegData::Dword(d)) => {
                    out.push_str(&format!("\"{}\"=dword:{d:08x}\r\n", escape(name)))
                }
                RegLine::Delete(name) => out.push_str(&format!("\"{}\"=-\r\n", escape(name))),
            }
        }
        out.push_str("\r\n");
    }
    Ok(out)
}

/// UTF-16LE with a byte order mark, as regedit writes.
pub fn encode(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// Text from UTF-16LE (with BOM) or UTF-8 bytes.
pub fn decode(bytes: &[u8]) -> Option<String> {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16(&units).ok()
    } else {
        String::from_utf8(bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes).to_vec()).ok()
    }
}

/// Reads a quoted string with `\\` and `\"` escapes; the rest after it.
fn quoted(s: &str) -> Option<(String, &str)> {
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &s[i + 2..])),
            c => out.push(c),
        }
    }
    None
}

/// The 32-bit view key for a file's `[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\...]`.
fn view_key(path: &str) -> Option<String> {
    let rest = path.strip_prefix(schema::HKLM)?.strip_prefix('\\')?;
    let lower = rest.to_lowercase();
    match lower.strip_prefix("software\\wow6432node\\") {
        Some(_) => Some(format!("SOFTWARE\\{}", &rest["software\\wow6432node\\".len()..])),
        None => Some(rest.to_owned()),
    }
}

/// Parses a `.reg` file into a registry (deletions remove values). `name`
/// is used in errors.
pub fn parse(name: &str, text: &str) -> Result<MemoryRegistry, Error> {
    let err = |line: usize, reason: &str| Error::RegFile {
        path: name.to_owned(),
        line,
        reason: reason.to_owned(),
    };
    let mut registry = MemoryRegistry::new();
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r')).enumerate().peekable();
    match lines.next() {
        Some((_, first)) if first.trim_start_matches('\u{feff}') == HEADER => {}
        _ => return Err(err(1, "not a Windows Registry Editor 5.00 file")),
    }
    let mut key: Option<String> = None;
    while let Some((index, raw)) = lines.next() {
        let n = index + 1;
        let mut line = raw.to_owned();
        while line.ends_with('\\') {
            line.pop();
            match lines.next() {
                Some((_, next)) => line.push_str(next.trim_start()),
                None => return Err(err(n, "a continued line ends the file")),
            }
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if let Some(path) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            key = if path.starts_with('-') {
                None
            } else {
                Some(view_key(path).ok_or_else(|| err(n, "not below HKEY_LOCAL_MACHINE"))?)
            };
            continue;
        }
        let Some(key) = &key else {
            return Err(err(n, "a value outside a key"));
        };
        if line.starts_with('@') {
            continue; // the key's default value: not used here
        }
        let (value_name, rest) = quoted(line).ok_or_else(|| err(n, "a value name must be quoted"))?;
        let data = rest
            .strip_prefix('=')
            .ok_or_else(|| err(n, "expected = after the value name"))?;
        if data == "-" {
            registry.delete(key, &value_name)?;
        } else if let Some(hex) = data.strip_prefix("dword:") {
            let d = u32::from_str_radix(hex, 16).map_err(|_| err(n, "a dword is 8 hex digits"))?;
            registry.set(key, &value_name, &RegData::Dword(d))?;
        } else if let Some(hex) = data.strip_prefix("hex(2):") {
            let bytes: Result<Vec<u8>, _> = hex
                .split(',')
                .filter(|b| !b.is_empty())
                .map(|b| u8::from_str_radix(b.trim(), 16))
                .collect();
            let bytes = bytes.map_err(|_| err(n, "bad hex(2) data"))?;
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let text = String::from_utf16(&units).map_err(|_| err(n, "bad UTF-16 in hex(2) data"))?;
            registry.set(key, &value_name, &RegData::Sz(text.trim_end_matches('\0').to_owned()))?;
        } else if data.starts_with('"') {
            let (s, tail) = quoted(data).ok_or_else(|| err(n, "an unterminated string"))?;
            if !tail.trim().is_empty() {
                return Err(err(n, "text after the string"));
            }
            registry.set(key, &value_name, &RegData::Sz(s))?;
        } else if data.starts_with("hex") {
            continue; // other binary types are not ours
        } else {
            return Err(err(n, "an unknown value type"));
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_quotes_backslashes_and_unicode() {
        let key = schema::SMTP_KEY.to_owned();
        let tricky = "p\"a\\ss wörd 🚀 ".repeat(3);
        let sections = vec![(
            key.clone(),
            vec![
                RegLine::Set("SmartHost".into(), RegData::Sz(tricky.clone())),
                RegLine::Set("SmartHostPort".into(), RegData::Dword(587)),
            ],
        )];
        let text = render(&sections).unwrap();
        assert!(text.starts_with(
            "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\Mail Enable\\"
        ));
        assert!(text.contains("\"SmartHostPort\"=dword:0000024b\r\n"));
        let bytes = encode(&text);
        assert_eq!(&bytes[..2], &[0xFF, 0xFE]);
        let parsed = parse("t.reg", &decode(&bytes).unwrap()).unwrap();
        assert_eq!(parsed.get(&key, "SmartHost").unwrap(), Some(RegData::Sz(tricky)));
        assert_eq!(parsed.get(&key, "SmartHostPort").unwrap(), Some(RegData::Dword(587)));
    }

    #[test]
    fn line_breaks_and_nul_are_refused() {
        for bad in ["a\nb", "a\rb", "a\0b"] {
            let sections = vec![(
                "SOFTWARE\\X".to_owned(),
                vec![RegLine::Set("V".into(), RegData::Sz(bad.into()))],
            )];
            assert!(render(&sections).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hex2_and_deletions() {
        let text = "Windows Registry Editor Version 5.00\r\n\r\n[HKEY_LOCAL_MACHINE\\SOFTWARE\\WOW6432Node\\X]\r\n\"A\"=hex(2):25,00,41,00,\\\r\n  00,00\r\n\"B\"=\"b\"\r\n\"B\"=-\r\n";
        let r = parse("t.reg", text).unwrap();
        assert_eq!(r.get("SOFTWARE\\X", "A").unwrap(), Some(RegData::Sz("%A".into())));
        assert_eq!(r.get("SOFTWARE\\X", "B").unwrap(), None);
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = parse(
            "x.reg",
            "Windows Registry Editor Version 5.00\r\n[HKEY_LOCAL_MACHINE\\S]\r\n\"a\"=dword:zz\r\n",
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "x.reg, line 3: a dword is 8 hex digits");
    }
}
