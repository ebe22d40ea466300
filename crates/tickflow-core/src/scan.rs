//! Readers of JSON in one plain form, for the messages that make up nearly all of a stream: each
//! venue's most frequent frame as the venue writes it (no whitespace, no escapes; Binance's trade
//! frame in Binance's own key order, Finnhub's and Coinbase's trade messages with keys in any
//! order), and a `raw_trades` record as the producer writes it (`validate`). Values are read as
//! they are. Whatever a reader does not expect (whitespace, an unknown or repeated key, an
//! escape, a `null` where none is written, a number serde would read otherwise) makes it give up,
//! and the caller reads the message with serde as before. So it never accepts a message serde
//! would refuse, nor reads one differently (property tests next to each reader); it only skips
//! serde's general machinery (the performance notes' schema-specific scanner).

/// A frame, validated as UTF-8 once, and how far it has been read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    /// `None` when the frame is not UTF-8 (serde refuses it too).
    pub(crate) fn new(frame: &'a [u8]) -> Option<Self> {
        Some(Scan::text(std::str::from_utf8(frame).ok()?))
    }

    /// A message already validated as UTF-8.
    pub(crate) fn text(text: &'a str) -> Self {
        Scan { text, at: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        &self.text.as_bytes()[self.at..]
    }

    /// The next `len` bytes as text, read. Only called on lengths that end before an ASCII byte
    /// or at the end, so the slice is on character boundaries.
    fn take(&mut self, len: usize) -> &'a str {
        let text = &self.text[self.at..self.at + len];
        self.at += len;
        text
    }

    /// Reads `expected` exactly, or reads nothing.
    pub(crate) fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.rest().starts_with(expected).then(|| self.at += expected.len())
    }

    /// The text of a string whose opening quote was read, and its closing quote: text without
    /// escapes or control characters (else `None`: serde reads those).
    pub(crate) fn string(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        let text = self.take(end);
        self.at += 1;
        Some(text)
    }

    /// A string, its quotes included (see [`Scan::string`]).
    pub(crate) fn quoted(&mut self) -> Option<&'a str> {
        let mut scan = *self;
        scan.literal(b"\"")?;
        let text = scan.string()?;
        *self = scan;
        Some(text)
    }

    /// The text of a JSON number, exactly as written (`-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`).
    pub(crate) fn number(&mut self) -> Option<&'a str> {
        let bytes = self.rest();
        let digits_from = |at: usize| bytes[at.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
        let mut at = usize::from(bytes.first() == Some(&b'-'));
        match digits_from(at) {
            0 => return None,
            n if n > 1 && bytes[at] == b'0' => return None,
            n => at += n,
        }
        if bytes.get(at) == Some(&b'.') {
            let n = digits_from(at + 1);
            if n == 0 {
                return None;
            }
            at += 1 + n;
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1 + usize::from(matches!(bytes.get(at + 1), Some(b'+' | b'-')));
            let n = digits_from(at);
            if n == 0 {
                return None;
            }
            at += n;
        }
        Some(self.take(at))
    }

    /// An object: `field(key, scan)` reads each key's value (and may refuse the key), in the
    /// order written. Keys are plain strings.
    pub(crate) fn object(&mut self, mut field: impl FnMut(&'a str, &mut Scan<'a>) -> Option<()>) -> Option<()> {
        self.literal(b"{")?;
        if self.literal(b"}").is_some() {
            return Some(());
        }
        loop {
            let key = self.quoted()?;
            self.literal(b":")?;
            field(key, self)?;
            if self.literal(b",").is_none() {
                return self.literal(b"}");
            }
        }
    }

    /// An array, each item read by `item`.
    pub(crate) fn list<T>(&mut self, mut item: impl FnMut(&mut Scan<'a>) -> Option<T>) -> Option<Vec<T>> {
        self.literal(b"[")?;
        let mut items = Vec::new();
        if self.literal(b"]").is_some() {
            return Some(items);
        }
        loop {
            items.push(item(self)?);
            if self.literal(b",").is_none() {
                return self.literal(b"]").map(|()| items);
            }
        }
    }

    /// A JSON number that is a whole non-negative number in `u64`, written without a fraction
    /// or exponent (`0`, `17`; not `017`, `1.0`, `1e3`: the next literal refuses what follows).
    pub(crate) fn unsigned(&mut self) -> Option<u64> {
        let rest = self.rest();
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && rest[0] == b'0') {
            return None;
        }
        let value = rest[..digits]
            .iter()
            .try_fold(0u64, |value, &digit| value.checked_mul(10)?.checked_add(u64::from(digit - b'0')))?;
        self.at += digits;
        Some(value)
    }

    /// A whole number in `i64`, as [`Scan::unsigned`] with an optional `-` (not `-0`, which
    /// serde_json reads as a float).
    pub(crate) fn signed(&mut self) -> Option<i64> {
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

    pub(crate) fn bool(&mut self) -> Option<bool> {
        if self.literal(b"true").is_some() { Some(true) } else { self.literal(b"false").map(|()| false) }
    }

    /// Whether the whole frame was read.
    pub(crate) fn is_done(&self) -> bool {
        self.at == self.text.len()
    }
}

/// What the readers' property tests share.
#[cfg(test)]
pub(crate) mod testing {
    use proptest::prelude::*;

    /// Frames of `frames`, some with one change at a random place (a byte dropped, or a space,
    /// comma, brace, quote, backslash or unknown field put in), so that the readers meet forms
    /// they must leave to serde.
    pub(crate) fn mutated(frames: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        let inserted = prop::sample::select(vec!["", " ", ",", "}", "\"", "\\", ",\"x\":1"]);
        let mutation = prop::option::of((any::<prop::sample::Index>(), inserted));
        (frames, mutation).prop_map(|(mut frame, mutation)| {
            if let Some((at, text)) = mutation {
                let at = at.index(frame.len().max(1));
                if frame.is_char_boundary(at) && frame.is_char_boundary((at + 1).min(frame.len())) {
                    frame.replace_range(at..(at + usize::from(text.is_empty())).min(frame.len()), text);
                }
            }
            frame
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Scan;

    fn all<'t, T>(text: &'t str, read: impl Fn(&mut Scan<'t>) -> Option<T>) -> Option<T> {
        let mut scan = Scan::new(text.as_bytes())?;
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
