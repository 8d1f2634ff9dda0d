//! What two texts share at their start and at their end: the part both
//! of this project's diffs skip (the plan's diff window, and the keys a
//! Postfix table update in place sends to `postmap`), compared a block at
//! a time, so that two megabyte texts that differ in one line are compared
//! at memory speed.

/// How many leading bytes `a` and `b` share (compared a block at a time).
pub fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 256;
    let len = a.len().min(b.len());
    let mut i = 0;
    while i + BLOCK <= len && a[i..i + BLOCK] == b[i..i + BLOCK] {
        i += BLOCK;
    }
    while i < len && a[i] == b[i] {
        i += 1;
    }
    i
}

/// How many trailing bytes `a` and `b` share.
pub fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const BLOCK: usize = 256;
    let len = a.len().min(b.len());
    let (la, lb) = (a.len(), b.len());
    let mut i = 0;
    while i + BLOCK <= len && a[la - i - BLOCK..la - i] == b[lb - i - BLOCK..lb - i] {
        i += BLOCK;
    }
    while i < len && a[la - i - 1] == b[lb - i - 1] {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_start_and_end_are_counted_across_blocks() {
        let long = "x".repeat(1000);
        let (a, b) = (format!("{long}a{long}"), format!("{long}bb{long}"));
        assert_eq!(common_prefix(a.as_bytes(), b.as_bytes()), 1000);
        assert_eq!(common_suffix(a.as_bytes(), b.as_bytes()), 1000);
        assert_eq!(common_prefix(b"same", b"same"), 4);
        assert_eq!(common_suffix(b"ab", b"b"), 1);
        assert_eq!(common_prefix(b"", b"abc"), 0);
    }
}
