//! A direct JSON writer for the records written once per trade (`raw_trades` and
//! `enriched_trades`): field names are the contract's literal names, written as they are, and
//! values go straight into the buffer. The serde derives on the contract types stay the
//! definition of the wire form; tests check that both give the same bytes, escapes included.
//! serde_json's own serializer spends about as much on the field names and their escaping as on
//! the values.
//!
//! What makes it cheap (callgrind counts in BENCHMARKS.md): each field name is one constant
//! slice `,"name":` made at compile time by [`key!`] (the object's first comma becomes its `{`),
//! strings are checked for characters to escape eight bytes at a time, and decimals are written
//! from `itoa`'s digits without an intermediate text.

use std::fmt;

use crate::decimal::{Decimal, SCALE, WideDecimal, write_scaled};

/// A field name as it is written inside an object: `,"name":`. Made by [`key!`] from a literal
/// that needs no escaping (the contract's names do not).
#[derive(Debug, Clone, Copy)]
pub struct Key(&'static [u8]);

impl Key {
    /// Only through [`key!`], which writes the name's quotes, colon and comma.
    pub(crate) const fn new(written: &'static str) -> Self {
        Key(written.as_bytes())
    }
}

/// The [`Key`] of a field named by a string literal.
macro_rules! key {
    ($name:literal) => {
        $crate::contract::json::Key::new(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use key;

/// Writes one JSON object into a byte buffer, field by field.
#[derive(Debug)]
pub struct JsonObject<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
}

impl<'b> JsonObject<'b> {
    /// Opens an object at the end of `out`, with room reserved for `expected_len` bytes.
    pub fn begin(out: &'b mut Vec<u8>, expected_len: usize) -> Self {
        out.reserve(expected_len);
        let start = out.len();
        JsonObject { out, start }
    }

    /// Closes the object.
    pub fn end(self) {
        match self.out.get_mut(self.start) {
            Some(comma) => *comma = b'{', // the first field's comma
            None => self.out.push(b'{'),
        }
        self.out.push(b'}');
    }

    fn key(&mut self, key: Key) {
        self.out.extend_from_slice(key.0);
    }

    pub fn str(&mut self, key: Key, value: &str) {
        self.key(key);
        write_str(self.out, value);
    }

    /// A string of the contract's own (an enum's name), which needs no escaping.
    pub fn name(&mut self, key: Key, value: &'static str) {
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    pub fn opt_str(&mut self, key: Key, value: Option<&str>) {
        match value {
            Some(value) => self.str(key, value),
            None => self.null(key),
        }
    }

    pub fn str_array<'s>(&mut self, key: Key, values: impl IntoIterator<Item = &'s str>) {
        self.key(key);
        self.out.push(b'[');
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            write_str(self.out, value);
        }
        self.out.push(b']');
    }

    pub fn i64(&mut self, key: Key, value: i64) {
        self.key(key);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn bool(&mut self, key: Key, value: bool) {
        self.key(key);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A number, written by serde_json itself (its exponent form is its own; `null` when not
    /// finite).
    pub fn opt_f64(&mut self, key: Key, value: Option<f64>) {
        self.key(key);
        let _ = serde_json::to_writer(&mut *self.out, &value); // a number always serializes
    }

    /// A decimal as a JSON string of its digits (how [`Decimal`] serializes).
    pub fn decimal(&mut self, key: Key, value: Decimal) {
        self.key(key);
        self.scaled(i128::from(value.units()), SCALE);
    }

    pub fn opt_decimal(&mut self, key: Key, value: Option<Decimal>) {
        match value {
            Some(value) => self.decimal(key, value),
            None => self.null(key),
        }
    }

    /// A wide decimal as a JSON string of its digits (how [`WideDecimal`] serializes).
    pub fn wide<const S: u32>(&mut self, key: Key, value: WideDecimal<S>) {
        self.key(key);
        self.scaled(value.units(), S);
    }

    fn null(&mut self, key: Key) {
        self.key(key);
        self.out.extend_from_slice(b"null");
    }

    fn scaled(&mut self, value: i128, scale: u32) {
        self.out.push(b'"');
        let _ = write_scaled(&mut Bytes(self.out), value, scale); // writing to a Vec cannot fail
        self.out.push(b'"');
    }
}

/// A JSON string: as is when nothing in it needs escaping (the usual case), else as serde_json
/// escapes it.
fn write_str(out: &mut Vec<u8>, value: &str) {
    if needs_escape(value.as_bytes()) {
        let _ = serde_json::to_writer(out, value); // a str always serializes
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Whether `text` holds a byte JSON must escape: a control character, `"` or `\`. Eight bytes
/// at a time (the classic "has a byte less than n / equal to c" word tests, exact as a yes or
/// no), the rest one by one.
fn needs_escape(text: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const fn has_zero_byte(word: u64) -> bool {
        word.wrapping_sub(ONES) & !word & HIGHS != 0
    }
    const fn has_byte_below(word: u64, n: u8) -> bool {
        word.wrapping_sub(ONES * n as u64) & !word & HIGHS != 0
    }
    let mut words = text.chunks_exact(8);
    for word in &mut words {
        let word = u64::from_ne_bytes([word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7]]);
        if has_byte_below(word, 0x20)
            || has_zero_byte(word ^ (ONES * u64::from(b'"')))
            || has_zero_byte(word ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'b>(&'b mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::needs_escape;

    /// The word test against the byte-by-byte definition, for every byte at every position of
    /// a word and of its remainder.
    #[test]
    fn needs_escape_agrees_with_the_byte_test() {
        // Around the byte: letters, the edges of the ranges tested, and non-ASCII.
        for around in [b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
            for len in [1usize, 7, 8, 9, 16, 19] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut text = vec![around; len];
                        text[at] = byte;
                        let expected = [byte, around].iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\');
                        assert_eq!(needs_escape(&text), expected, "byte {byte:#x} at {at} of {len} among {around:#x}");
                    }
                }
            }
        }
        assert!(!needs_escape(b""));
        assert!(!needs_escape("prix \u{e9}\u{20ac} 😀 ~\x7f!".as_bytes()));
    }
}
