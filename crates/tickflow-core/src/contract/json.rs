//! A direct JSON writer for the records written once per trade (`raw_trades` and
//! `enriched_trades`): field names are the contract's literal names, written as they are, and
//! values go straight into the buffer. The serde derives on the contract types stay the
//! definition of the wire form; tests check that both give the same bytes, escapes included.
//! serde_json's own serializer spends about as much on the field names and their escaping as on
//! the values.

use std::fmt;

use crate::decimal::{Decimal, SCALE, WideDecimal, write_scaled};

/// Writes one JSON object into a byte buffer, field by field.
#[derive(Debug)]
pub struct JsonObject<'b> {
    out: &'b mut Vec<u8>,
    first: bool,
}

impl<'b> JsonObject<'b> {
    /// Opens an object at the end of `out`.
    pub fn begin(out: &'b mut Vec<u8>) -> Self {
        out.push(b'{');
        JsonObject { out, first: true }
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }

    /// `name` must need no escaping (the contract's names do not).
    fn key(&mut self, name: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, name: &str, value: &str) {
        self.key(name);
        write_str(self.out, value);
    }

    pub fn opt_str(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(value) => self.str(name, value),
            None => self.null(name),
        }
    }

    pub fn str_array<'s>(&mut self, name: &str, values: impl IntoIterator<Item = &'s str>) {
        self.key(name);
        self.out.push(b'[');
        for (n, value) in values.into_iter().enumerate() {
            if n > 0 {
                self.out.push(b',');
            }
            write_str(self.out, value);
        }
        self.out.push(b']');
    }

    pub fn i64(&mut self, name: &str, value: i64) {
        self.key(name);
        self.out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
    }

    pub fn bool(&mut self, name: &str, value: bool) {
        self.key(name);
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A number, written by serde_json itself (its exponent form is its own; `null` when not
    /// finite).
    pub fn opt_f64(&mut self, name: &str, value: Option<f64>) {
        self.key(name);
        let _ = serde_json::to_writer(&mut *self.out, &value); // a number always serializes
    }

    /// A decimal as a JSON string of its digits (how [`Decimal`] serializes).
    pub fn decimal(&mut self, name: &str, value: Decimal) {
        self.key(name);
        self.scaled(i128::from(value.units()), SCALE);
    }

    pub fn opt_decimal(&mut self, name: &str, value: Option<Decimal>) {
        match value {
            Some(value) => self.decimal(name, value),
            None => self.null(name),
        }
    }

    /// A wide decimal as a JSON string of its digits (how [`WideDecimal`] serializes).
    pub fn wide<const S: u32>(&mut self, name: &str, value: WideDecimal<S>) {
        self.key(name);
        self.scaled(value.units(), S);
    }

    fn null(&mut self, name: &str) {
        self.key(name);
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
    if value.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(out, value); // a str always serializes
    }
}

/// `fmt::Write` into a byte buffer.
struct Bytes<'b>(&'b mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
