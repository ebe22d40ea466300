//! JSON lines to Arrow columns, driven by the contract: each record is read once by serde_json
//! straight into its table's column builders, with no tape or value tree in between.
//!
//! A record is taken only as its contract declares it: an object with no property the contract
//! does not name, no property twice, every non-nullable property present and not null, and each
//! value of its declared JSON type (text for decimals and base64 bytes, integers for integer and
//! timestamp columns). Decimals are parsed by arrow's own `parse_decimal` at the column's
//! precision and scale (what arrow-json does), base64 text becomes bytes. The first record that
//! breaks a rule fails the whole decode with its line number; the caller decides what to leave out.

use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Decimal128Builder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::types::Decimal128Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_cast::parse::parse_decimal;
use arrow_schema::{ArrowError, Field};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tickflow_core::contract::schema::{Column, ColumnType};

use crate::schema::{UTC, columns_schema};

/// Why records could not be decoded: the line (1-based) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("line {line}: {cause}")]
    Record { line: usize, cause: serde_json::Error },
    #[error("line {line}: not UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("the columns do not form a batch: {0}")]
    Batch(#[from] ArrowError),
}

/// Decodes newline-separated JSON records of a contract with these `columns` into one batch of
/// their Arrow schema ([`columns_schema`]); blank lines are skipped.
pub fn decode_lines(columns: &[Column], json_lines: &[u8]) -> Result<RecordBatch, DecodeError> {
    let rows = memchr::memchr_iter(b'\n', json_lines).count() + 1;
    let mut table = Table::new(columns, rows);
    for (index, line) in lines(json_lines).filter(|line| !line.iter().all(u8::is_ascii_whitespace)).enumerate() {
        let record = |cause| DecodeError::Record { line: index + 1, cause };
        // One UTF-8 check of the whole line; serde_json then need not check each string again.
        let line = std::str::from_utf8(line).map_err(|_| DecodeError::NotUtf8 { line: index + 1 })?;
        let mut reader = serde_json::Deserializer::from_str(line);
        Row(&mut table).deserialize(&mut reader).map_err(record)?;
        reader.end().map_err(record)?;
    }
    Ok(RecordBatch::try_new(Arc::new(columns_schema(columns)), table.finish()?)?)
}

/// The lines of `text`, found with memchr (a byte-at-a-time split was half the decoding time).
fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text).chain([text.len()]).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
}

/// The builders of one table's columns, and which columns the current record has set.
struct Table<'c> {
    columns: &'c [Column],
    values: Vec<Values>,
    seen: Vec<bool>,
}

enum Values {
    Utf8(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Binary(BinaryBuilder),
    Decimal { builder: Decimal128Builder, precision: u8, scale: i8 },
    Timestamp(TimestampMicrosecondBuilder),
    ListOfUtf8(ListBuilder<StringBuilder>),
}

impl<'c> Table<'c> {
    fn new(columns: &'c [Column], rows: usize) -> Self {
        let values = columns.iter().map(|column| Values::new(column.column_type, rows)).collect();
        Table { columns, values, seen: vec![false; columns.len()] }
    }

    /// The index of a property, trying the column after the previous one first (records are
    /// written in the contract's order).
    fn column_named(&self, name: &str, after: Option<usize>) -> Option<usize> {
        let next = after.map_or(0, |i| i + 1);
        if self.columns.get(next).is_some_and(|c| c.name == name) {
            return Some(next);
        }
        self.columns.iter().position(|c| c.name == name)
    }

    fn finish(self) -> Result<Vec<ArrayRef>, ArrowError> {
        self.values.into_iter().map(Values::finish).collect()
    }
}

impl Values {
    fn new(column_type: ColumnType, rows: usize) -> Self {
        match column_type {
            ColumnType::Utf8 => Values::Utf8(StringBuilder::with_capacity(rows, rows * 8)),
            ColumnType::Int32 => Values::Int32(Int32Builder::with_capacity(rows)),
            ColumnType::Int64 => Values::Int64(Int64Builder::with_capacity(rows)),
            ColumnType::Float64 => Values::Float64(Float64Builder::with_capacity(rows)),
            ColumnType::Boolean => Values::Boolean(BooleanBuilder::with_capacity(rows)),
            ColumnType::Binary => Values::Binary(BinaryBuilder::with_capacity(rows, rows * 8)),
            ColumnType::Decimal { precision, scale } => {
                Values::Decimal { builder: Decimal128Builder::with_capacity(rows), precision, scale }
            }
            ColumnType::TimestampMicrosUtc => Values::Timestamp(TimestampMicrosecondBuilder::with_capacity(rows)),
            ColumnType::ListOfUtf8 => {
                Values::ListOfUtf8(ListBuilder::new(StringBuilder::new()).with_field(Arc::new(Field::new(
                    "item",
                    arrow_schema::DataType::Utf8,
                    false,
                ))))
            }
        }
    }

    fn append_null(&mut self) {
        match self {
            Values::Utf8(b) => b.append_null(),
            Values::Int32(b) => b.append_null(),
            Values::Int64(b) => b.append_null(),
            Values::Float64(b) => b.append_null(),
            Values::Boolean(b) => b.append_null(),
            Values::Binary(b) => b.append_null(),
            Values::Decimal { builder, .. } => builder.append_null(),
            Values::Timestamp(b) => b.append_null(),
            Values::ListOfUtf8(b) => b.append_null(),
        }
    }

    fn finish(self) -> Result<ArrayRef, ArrowError> {
        Ok(match self {
            Values::Utf8(mut b) => Arc::new(b.finish()),
            Values::Int32(mut b) => Arc::new(b.finish()),
            Values::Int64(mut b) => Arc::new(b.finish()),
            Values::Float64(mut b) => Arc::new(b.finish()),
            Values::Boolean(mut b) => Arc::new(b.finish()),
            Values::Binary(mut b) => Arc::new(b.finish()),
            Values::Decimal { mut builder, precision, scale } => {
                Arc::new(builder.finish().with_precision_and_scale(precision, scale)?)
            }
            Values::Timestamp(mut b) => Arc::new(b.finish().with_timezone(UTC)),
            Values::ListOfUtf8(mut b) => Arc::new(b.finish()),
        })
    }

    /// What the contract expects, for error messages.
    fn expected(&self) -> &'static str {
        match self {
            Values::Utf8(_) => "a string",
            Values::Int32(_) => "a 32-bit integer",
            Values::Int64(_) | Values::Timestamp(_) => "an integer",
            Values::Float64(_) => "a number",
            Values::Boolean(_) => "a boolean",
            Values::Binary(_) => "base64 text",
            Values::Decimal { .. } => "a decimal as text",
            Values::ListOfUtf8(_) => "an array of strings",
        }
    }
}

/// One record: an object whose properties go to their columns.
struct Row<'t, 'c>(&'t mut Table<'c>);

impl<'de> DeserializeSeed<'de> for Row<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Row<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let table = self.0;
        table.seen.fill(false);
        let mut previous = None;
        while let Some(index) = map.next_key_seed(Key { table, after: previous })? {
            if std::mem::replace(&mut table.seen[index], true) {
                return Err(de::Error::custom(format_args!("`{}` appears twice", table.columns[index].name)));
            }
            let column = &table.columns[index];
            map.next_value_seed(Value {
                values: &mut table.values[index],
                name: &column.name,
                nullable: column.nullable,
            })?;
            previous = Some(index);
        }
        for ((column, values), seen) in table.columns.iter().zip(&mut table.values).zip(&table.seen) {
            if !seen {
                if !column.nullable {
                    return Err(de::Error::custom(format_args!("missing field `{}`", column.name)));
                }
                values.append_null();
            }
        }
        Ok(())
    }
}

/// A property name: the index of its column, or an error for a name the contract does not have.
struct Key<'t, 'c> {
    table: &'t Table<'c>,
    after: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a property of the contract")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<usize, E> {
        self.table
            .column_named(name, self.after)
            .ok_or_else(|| E::custom(format_args!("`{name}` is not in the contract")))
    }
}

/// One property's value, appended to its column.
struct Value<'v> {
    values: &'v mut Values,
    name: &'v str,
    nullable: bool,
}

impl Value<'_> {
    fn wrong<E: de::Error>(&self, found: de::Unexpected) -> E {
        E::custom(format_args!("`{}` holds {found}, expected {}", self.name, self.values.expected()))
    }
}

impl<'de> DeserializeSeed<'de> for Value<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Value<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.values.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        if !self.nullable {
            return Err(E::custom(format_args!("`{}` is null", self.name)));
        }
        self.values.append_null();
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        match self.values {
            Values::Utf8(b) => b.append_value(text),
            Values::Binary(b) => match STANDARD.decode(text) {
                Ok(bytes) => b.append_value(bytes),
                Err(_) => return Err(E::custom(format_args!("`{}` is not base64", self.name))),
            },
            Values::Decimal { builder, precision, scale } => {
                match parse_decimal::<Decimal128Type>(text, *precision, *scale) {
                    Ok(units) => builder.append_value(units),
                    Err(cause) => return Err(E::custom(format_args!("`{}`: {cause}", self.name))),
                }
            }
            _ => return Err(self.wrong(de::Unexpected::Str(text))),
        }
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        match self.values {
            Values::Int64(b) => b.append_value(value),
            Values::Timestamp(b) => b.append_value(value),
            Values::Float64(b) => b.append_value(value as f64),
            Values::Int32(b) => match i32::try_from(value) {
                Ok(value) => b.append_value(value),
                Err(_) => return Err(self.wrong(de::Unexpected::Signed(value))),
            },
            _ => return Err(self.wrong(de::Unexpected::Signed(value))),
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        match (i64::try_from(value), &mut *self.values) {
            (Ok(value), _) => self.visit_i64(value),
            (Err(_), Values::Float64(b)) => {
                b.append_value(value as f64);
                Ok(())
            }
            (Err(_), _) => Err(self.wrong(de::Unexpected::Unsigned(value))),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        match self.values {
            Values::Float64(b) => b.append_value(value),
            _ => return Err(self.wrong(de::Unexpected::Float(value))),
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<(), E> {
        match self.values {
            Values::Boolean(b) => b.append_value(value),
            _ => return Err(self.wrong(de::Unexpected::Bool(value))),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let Values::ListOfUtf8(list) = self.values else {
            return Err(self.wrong(de::Unexpected::Seq));
        };
        while items.next_element_seed(Item { values: list.values(), name: self.name })?.is_some() {}
        list.append(true);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.wrong(de::Unexpected::Map))
    }
}

/// One string of a list column; the contract's lists hold no nulls.
struct Item<'v> {
    values: &'v mut StringBuilder,
    name: &'v str,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "strings in `{}`", self.name)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.values.append_value(text);
        Ok(())
    }
}
