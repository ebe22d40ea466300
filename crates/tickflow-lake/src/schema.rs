//! Contract columns to Arrow fields, and the lake's tables.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::ArrowSchemaConverter;
use parquet::schema::types::SchemaDescriptor;
use tickflow_core::contract::schema::{self as contract_schema, Column, ColumnType, Contract, SchemaError};

/// The time zone of every timestamp column: UTC, spelled as an offset so no time-zone
/// database is needed to read it. Parquet marks the columns as adjusted to UTC.
pub const UTC: &str = "+00:00";

/// A table of the lake: the contract its rows follow. Files live under
/// `<root>/<name>/date=YYYY-MM-DD/symbol=<instrument>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LakeTable {
    pub name: &'static str,
    pub contract: Contract,
}

impl LakeTable {
    pub const TRADES: LakeTable = LakeTable { name: "trades", contract: contract_schema::ENRICHED_TRADE };
    pub const CANDLES: LakeTable = LakeTable { name: "candles", contract: contract_schema::CANDLE };
    pub const ANOMALIES: LakeTable = LakeTable { name: "anomalies", contract: contract_schema::ANOMALY };
    pub const DEAD_LETTERS: LakeTable = LakeTable { name: "dead_letters", contract: contract_schema::DEAD_LETTER };
    pub const FEED_GAPS: LakeTable = LakeTable { name: "feed_gaps", contract: contract_schema::FEED_GAP };
    pub const ALL: [LakeTable; 5] = [Self::TRADES, Self::CANDLES, Self::ANOMALIES, Self::DEAD_LETTERS, Self::FEED_GAPS];
}

/// The Arrow type of a contract column.
pub fn arrow_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Utf8 => DataType::Utf8,
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
        ColumnType::Float64 => DataType::Float64,
        ColumnType::Boolean => DataType::Boolean,
        ColumnType::Binary => DataType::Binary,
        ColumnType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
        ColumnType::TimestampMicrosUtc => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        ColumnType::ListOfUtf8 => DataType::List(Arc::new(Field::new("item", DataType::Utf8, false))),
    }
}

pub fn arrow_field(column: &Column) -> Field {
    Field::new(&column.name, arrow_type(column.column_type), column.nullable)
}

/// The Arrow schema of a contract, columns in the contract's order.
pub fn arrow_schema(contract: Contract) -> Result<Schema, SchemaError> {
    Ok(columns_schema(&contract.columns()?))
}

/// The Arrow schema of these contract columns, in their order.
pub fn columns_schema(columns: &[Column]) -> Schema {
    Schema::new(columns.iter().map(arrow_field).collect::<Vec<_>>())
}

#[derive(Debug, thiserror::Error)]
pub enum LakeSchemaError {
    #[error(transparent)]
    Contract(#[from] SchemaError),
    #[error("no Parquet schema for {table}: {cause}")]
    Parquet { table: &'static str, cause: parquet::errors::ParquetError },
}

/// The Parquet schema the lake writes for a table.
pub fn parquet_schema(table: LakeTable) -> Result<SchemaDescriptor, LakeSchemaError> {
    let schema = arrow_schema(table.contract)?;
    ArrowSchemaConverter::new().convert(&schema).map_err(|cause| LakeSchemaError::Parquet { table: table.name, cause })
}
