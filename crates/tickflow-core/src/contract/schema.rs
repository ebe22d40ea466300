//! The contracts in `schemas/` as data: the JSON Schema documents, embedded at build time, and
//! the column model every columnar consumer (the lake's Arrow/Parquet schema, dbt sources)
//! derives from them. There is no second, hand-written list of columns anywhere.
//!
//! Column types come from the JSON type, refined by an `x-column` annotation where JSON cannot
//! say enough: `{"type": "decimal", "precision": P, "scale": S}`, `{"type": "timestamp",
//! "unit": "us"}` or `{"type": "int32"}`. A `"null"` in the JSON type makes the column nullable.

use serde_json::Value;

/// One contract of `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contract {
    /// The table and schema file stem, e.g. `trade`.
    pub name: &'static str,
    /// The JSON Schema document text.
    pub json_schema: &'static str,
}

macro_rules! contract {
    ($name:literal) => {
        Contract { name: $name, json_schema: include_str!(concat!("../../../../schemas/", $name, ".schema.json")) }
    };
}

pub const TRADE: Contract = contract!("trade");
pub const ENRICHED_TRADE: Contract = contract!("enriched_trade");
pub const CANDLE: Contract = contract!("candle");
pub const ANOMALY: Contract = contract!("anomaly");
pub const DEAD_LETTER: Contract = contract!("dead_letter");
pub const WATERMARK: Contract = contract!("watermark");
pub const FEED_GAP: Contract = contract!("feed_gap");

pub const ALL_CONTRACTS: [Contract; 7] = [TRADE, ENRICHED_TRADE, CANDLE, ANOMALY, DEAD_LETTER, WATERMARK, FEED_GAP];

/// The type of one column, independent of any columnar library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Utf8,
    Int32,
    Int64,
    Float64,
    Boolean,
    Binary,
    Decimal {
        precision: u8,
        scale: i8,
    },
    /// Microseconds since the epoch, UTC.
    TimestampMicrosUtc,
    ListOfUtf8,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schema {contract} is not valid JSON: {cause}")]
    Json { contract: &'static str, cause: serde_json::Error },
    #[error("schema {contract}, property {property}: {problem}")]
    Property { contract: &'static str, property: String, problem: &'static str },
    #[error("schema {contract} has no `properties` object")]
    NoProperties { contract: &'static str },
}

impl Contract {
    /// The parsed JSON Schema document.
    pub fn document(&self) -> Result<Value, SchemaError> {
        serde_json::from_str(self.json_schema).map_err(|cause| SchemaError::Json { contract: self.name, cause })
    }

    /// The columns, in the order the schema declares its properties.
    pub fn columns(&self) -> Result<Vec<Column>, SchemaError> {
        let document = self.document()?;
        let properties = document
            .get("properties")
            .and_then(Value::as_object)
            .ok_or(SchemaError::NoProperties { contract: self.name })?;
        properties
            .iter()
            .map(|(name, property)| {
                column(name, property).map_err(|problem| SchemaError::Property {
                    contract: self.name,
                    property: name.clone(),
                    problem,
                })
            })
            .collect()
    }
}

fn column(name: &str, property: &Value) -> Result<Column, &'static str> {
    let (json_type, nullable) = json_type(property)?;
    let column_type = match property.get("x-column") {
        Some(annotation) => annotated_type(annotation)?,
        None => match json_type {
            "string" if property.get("contentEncoding").and_then(Value::as_str) == Some("base64") => ColumnType::Binary,
            "string" => ColumnType::Utf8,
            "integer" => ColumnType::Int64,
            "number" => ColumnType::Float64,
            "boolean" => ColumnType::Boolean,
            "array" => match property.pointer("/items/type").and_then(Value::as_str) {
                Some("string") => ColumnType::ListOfUtf8,
                _ => return Err("arrays must be of strings"),
            },
            _ => return Err("unsupported JSON type"),
        },
    };
    Ok(Column { name: name.to_owned(), column_type, nullable })
}

/// The non-null JSON type of a property and whether it admits null.
fn json_type(property: &Value) -> Result<(&str, bool), &'static str> {
    match property.get("type") {
        Some(Value::String(single)) => Ok((single, false)),
        Some(Value::Array(types)) => {
            let names: Vec<&str> = types.iter().filter_map(Value::as_str).collect();
            let nullable = names.contains(&"null");
            match names.iter().filter(|t| **t != "null").collect::<Vec<_>>().as_slice() {
                [single] => Ok((single, nullable)),
                _ => Err("a type union may only add null to one type"),
            }
        }
        _ => Err("every property needs a `type`"),
    }
}

fn annotated_type(annotation: &Value) -> Result<ColumnType, &'static str> {
    let number = |key: &str| annotation.get(key).and_then(Value::as_u64);
    match annotation.get("type").and_then(Value::as_str) {
        Some("decimal") => {
            let precision = number("precision").and_then(|p| u8::try_from(p).ok()).ok_or("decimal needs precision")?;
            let scale = number("scale").and_then(|s| i8::try_from(s).ok()).ok_or("decimal needs scale")?;
            Ok(ColumnType::Decimal { precision, scale })
        }
        Some("timestamp") if annotation.get("unit").and_then(Value::as_str) == Some("us") => {
            Ok(ColumnType::TimestampMicrosUtc)
        }
        Some("int32") => Ok(ColumnType::Int32),
        _ => Err("unknown x-column annotation"),
    }
}
