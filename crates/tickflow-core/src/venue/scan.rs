//! A reader for frames of one exact, expected byte shape: the venue's own serialization of its
//! most frequent frame, matched byte by byte, its values read as they are. Whatever it does not
//! expect (whitespace, another key order, an extra field, an escape, `null`, a fraction) makes it
//! give up, and the caller reads the frame with serde as before. So it never accepts a frame
//! serde would refuse, nor reads one differently; it only skips serde's general machinery for
//! the frames that make up nearly all of a feed (the performance notes' schema-specific scanner).

/// The unread rest of a frame.
#[derive(Debug, Clone, Copy)]
pub(super) struct Scan<'a> {
    rest: &'a [u8],
}

impl<'a> Scan<'a> {
    pub(super) fn new(frame: &'a [u8]) -> Self {
        Scan { rest: frame }
    }

    /// Reads `expected` exactly, or reads nothing.
    pub(super) fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest = self.rest.strip_prefix(expected)?;
        Some(())
    }

    /// The text of a string whose opening quote was read, and its closing quote: text without
    /// escapes or control characters (else `None`: serde reads those).
    pub(super) fn string(&mut self) -> Option<&'a str> {
        let end = self.rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.rest[end] != b'"' {
            return None;
        }
        let text = std::str::from_utf8(&self.rest[..end]).ok()?;
        self.rest = &self.rest[end + 1..];
        Some(text)
    }

    /// A JSON number that is a whole non-negative number in `u64`, written without a fraction
    /// or exponent (`0`, `17`; not `017`, `1.0`, `1e3`: the next literal refuses what follows).
    pub(super) fn unsigned(&mut self) -> Option<u64> {
        let digits = self.rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && self.rest[0] == b'0') {
            return None;
        }
        let value = self.rest[..digits]
            .iter()
            .try_fold(0u64, |value, &digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))?;
        self.rest = &self.rest[digits..];
        Some(value)
    }

    /// A whole number in `i64`, as [`Scan::unsigned`] with an optional `-` (not `-0`, which
    /// serde_json reads as a float).
    pub(super) fn signed(&mut self) -> Option<i64> {
        let mut scan = *self;
        let negative = scan.literal(b"-").is_some();
        let magnitude = i128::from(scan.unsigned()?);
        if negative && magnitude == 0 {
            return None;
        }
        let value = i64::try_from(if negative { -magnitude } else { magnitude }).ok()?;
        *self = scan;
        Some(value)
    }

    pub(super) fn bool(&mut self) -> Option<bool> {
        if self.literal(b"true").is_some() { Some(true) } else { self.literal(b"false").map(|()| false) }
    }

    /// Whether the whole frame was read.
    pub(super) fn is_done(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Scan;

    fn all<'t, T>(text: &'t str, read: impl Fn(&mut Scan<'t>) -> Option<T>) -> Option<T> {
        let mut scan = Scan::new(text.as_bytes());
        let value = read(&mut scan)?;
        scan.is_done().then_some(value)
    }

    /// Each value reader against serde_json on the same text: it reads what serde reads, the
    /// same way, or gives up.
    #[test]
    fn values_are_read_as_serde_reads_them_or_not_at_all() {
        let numbers = ["0", "7", "17", "-0", "-5", "017", "-", "", "1.0", "1e3", "18446744073709551615"];
        let numbers =
            numbers.into_iter().chain(["18446744073709551616", "9223372036854775807", "-9223372036854775808"]);
        for text in numbers.chain(["-9223372036854775809", "12a", " 1"]) {
            if let Some(value) = all(text, Scan::unsigned) {
                assert_eq!(serde_json::from_str::<u64>(text).ok(), Some(value), "{text}");
            }
            if let Some(value) = all(text, Scan::signed) {
                assert_eq!(serde_json::from_str::<i64>(text).ok(), Some(value), "{text}");
            }
        }
        assert_eq!(all("18446744073709551615", Scan::unsigned), Some(u64::MAX));
        assert_eq!(all("-9223372036854775808", Scan::signed), Some(i64::MIN));
        assert_eq!(
            (all("017", Scan::unsigned), all("-", Scan::signed), all("1e3", Scan::unsigned)),
            (None, None, None)
        );
        assert_eq!((all("-0", Scan::signed), all("-5", Scan::signed)), (None, Some(-5)));
        for text in [r#""""#, r#""BTCUSDT""#, r#""é€😀""#, r#""a\"b""#, r#""a\u0041""#, "\"a\tb\"", r#""unterminated"#]
        {
            let read = all(text, |scan| {
                scan.literal(b"\"")?;
                scan.string()
            });
            if let Some(value) = read {
                assert_eq!(serde_json::from_str::<&str>(text).ok(), Some(value), "{text}");
            }
        }
        assert_eq!(all(r#""é€😀""#, |scan| scan.literal(b"\"").and_then(|()| scan.string())), Some("é€😀"));
        assert_eq!(all(r#""a\"b""#, |scan| scan.literal(b"\"").and_then(|()| scan.string())), None);
        assert_eq!(
            (all("true", Scan::bool), all("false", Scan::bool), all("null", Scan::bool)),
            (Some(true), Some(false), None)
        );
    }
}
