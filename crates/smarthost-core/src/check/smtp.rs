//! Reading SMTP replies with bounds: a line is at most [`MAX_LINE`] bytes and
//! a reply at most [`MAX_REPLY_LINES`] lines, so a hostile server cannot make
//! the check use unbounded memory or run forever (each read also has the
//! step's timeout, applied by the caller).

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::Failure;

/// Longest reply line accepted (RFC 5321 4.5.3.1.5 allows 512 octets).
pub(crate) const MAX_LINE: usize = 4096;
/// Most lines in one multi-line reply.
pub(crate) const MAX_REPLY_LINES: usize = 128;

/// One SMTP reply: its code and the text of each line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) code: u16,
    pub(crate) lines: Vec<String>,
}

impl Reply {
    pub(crate) fn text(&self) -> String {
        self.lines.join(" / ")
    }
}

/// Reads one line (without CRLF), at most [`MAX_LINE`] bytes.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<String, Failure> {
    let mut line = Vec::new();
    loop {
        let buf = reader.fill_buf().await.map_err(|e| Failure::Io(e.to_string()))?;
        if buf.is_empty() {
            return Err(Failure::Closed);
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if line.len() + take > MAX_LINE {
            return Err(Failure::LineTooLong);
        }
        line.extend_from_slice(&buf[..take]);
        reader.consume(take);
        if done {
            while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                line.pop();
            }
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
    }
}

/// Reads a whole reply: `250-...` lines until `250 ...`.
pub(crate) async fn read_reply<R: AsyncBufRead + Unpin>(reader: &mut R) -> Result<Reply, Failure> {
    let mut lines = Vec::new();
    loop {
        let line = read_line(reader).await?;
        let bytes = line.as_bytes();
        let code = line
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .filter(|c| (200..600).contains(c));
        let Some(code) = code else {
            return Err(Failure::NotSmtp(line.chars().take(80).collect()));
        };
        lines.push(line.get(4..).unwrap_or("").to_owned());
        if lines.len() > MAX_REPLY_LINES {
            return Err(Failure::ReplyTooLong);
        }
        match bytes.get(3) {
            Some(b'-') => continue,
            _ => return Ok(Reply { code, lines }),
        }
    }
}

/// Sends one command line. `line` never holds a secret in clear in any
/// message this module produces: errors only carry I/O reasons.
pub(crate) async fn send<W: AsyncWrite + Unpin>(writer: &mut W, line: &str) -> Result<(), Failure> {
    writer
        .write_all(line.as_bytes())
        .await
        .map_err(|e| Failure::Io(e.to_string()))?;
    writer
        .write_all(b"\r\n")
        .await
        .map_err(|e| Failure::Io(e.to_string()))?;
    writer.flush().await.map_err(|e| Failure::Io(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn multi_line_replies_and_limits() {
        let mut input: &[u8] = b"250-mx.example\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n";
        let reply = read_reply(&mut input).await.unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines, ["mx.example", "STARTTLS", "AUTH PLAIN LOGIN"]);

        let long = vec![b'2'; MAX_LINE + 10];
        assert_eq!(read_reply(&mut &long[..]).await, Err(Failure::LineTooLong));
        let endless = "220-hello\r\n".repeat(MAX_REPLY_LINES + 5);
        assert_eq!(read_reply(&mut endless.as_bytes()).await, Err(Failure::ReplyTooLong));
        assert!(matches!(
            read_reply(&mut &b"\x16\x03\x01garbage\n"[..]).await,
            Err(Failure::NotSmtp(_))
        ));
        assert_eq!(read_reply(&mut &b""[..]).await, Err(Failure::Closed));
    }
}
