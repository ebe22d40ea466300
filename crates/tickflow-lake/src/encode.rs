//! JSON records to Parquet, schema-driven: arrow-json decodes the records against the Arrow
//! schema derived from the contract, so a record that does not match the contract fails here
//! rather than landing in the lake. Each file's key-value metadata names the Kafka records it
//! holds, which is how a retried write recognises its own earlier attempt.

use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;

use crate::schema::{LakeTable, arrow_schema};

/// Which Kafka records a file holds, and the batch it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMetadata {
    pub topic: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    pub batch_first: i64,
    pub batch_last: i64,
}

const PREFIX: &str = "tickflow.";

impl FileMetadata {
    fn key_values(&self) -> Vec<KeyValue> {
        [
            ("topic", self.topic.clone()),
            ("partition", self.partition.to_string()),
            ("first_offset", self.first_offset.to_string()),
            ("last_offset", self.last_offset.to_string()),
            ("records", self.records.to_string()),
            ("batch_first", self.batch_first.to_string()),
            ("batch_last", self.batch_last.to_string()),
        ]
        .into_iter()
        .map(|(key, value)| KeyValue::new(format!("{PREFIX}{key}"), value))
        .collect()
    }

    fn from_key_values(pairs: &[KeyValue]) -> Option<Self> {
        let get = |key: &str| {
            pairs.iter().find(|kv| kv.key.strip_prefix(PREFIX) == Some(key)).and_then(|kv| kv.value.clone())
        };
        Some(FileMetadata {
            topic: get("topic")?,
            partition: get("partition")?.parse().ok()?,
            first_offset: get("first_offset")?.parse().ok()?,
            last_offset: get("last_offset")?.parse().ok()?,
            records: get("records")?.parse().ok()?,
            batch_first: get("batch_first")?.parse().ok()?,
            batch_last: get("batch_last")?.parse().ok()?,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("the {table} contract has no schema: {cause}")]
    Schema { table: &'static str, cause: tickflow_core::contract::schema::SchemaError },
    #[error("records do not match the {table} contract: {cause}")]
    Records { table: &'static str, cause: arrow_schema::ArrowError },
    #[error("a {table} column holds text that is not base64")]
    Base64 { table: &'static str },
    #[error("writing Parquet for {table}: {cause}")]
    Parquet { table: &'static str, cause: parquet::errors::ParquetError },
}

/// Encodes newline-separated JSON records of `table` as one zstd Parquet file.
pub fn encode_records(table: LakeTable, json_lines: &[u8], metadata: &FileMetadata) -> Result<Bytes, EncodeError> {
    let name = table.name;
    let schema = arrow_schema(table.contract).map_err(|cause| EncodeError::Schema { table: name, cause })?;
    let batch = decode(&schema, json_lines).map_err(|cause| EncodeError::Records { table: name, cause })?;
    let batch = binary_from_base64(batch, &schema).ok_or(EncodeError::Base64 { table: name })?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(metadata.key_values()))
        .build();
    let parquet = |cause| EncodeError::Parquet { table: name, cause };
    let mut writer = ArrowWriter::try_new(Vec::new(), Arc::new(schema), Some(properties)).map_err(parquet)?;
    writer.write(&batch).map_err(parquet)?;
    Ok(Bytes::from(writer.into_inner().map_err(parquet)?))
}

/// Decodes JSON lines; binary columns (base64 in JSON) are read as text first.
fn decode(schema: &Schema, json_lines: &[u8]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let as_text: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.data_type() == &DataType::Binary {
                f.as_ref().clone().with_data_type(DataType::Utf8)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let text_schema = Arc::new(Schema::new(as_text));
    // One batch for the whole file: at most one record per line.
    let lines = json_lines.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut decoder = arrow_json::ReaderBuilder::new(text_schema.clone())
        .with_strict_mode(true)
        .with_batch_size(lines)
        .build_decoder()?;
    let mut rest = json_lines;
    while !rest.is_empty() {
        let used = decoder.decode(rest)?;
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
    Ok(decoder.flush()?.unwrap_or_else(|| RecordBatch::new_empty(text_schema)))
}

fn binary_from_base64(batch: RecordBatch, schema: &Schema) -> Option<RecordBatch> {
    let columns: Option<Vec<ArrayRef>> = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if field.data_type() != &DataType::Binary {
                return Some(Arc::clone(column));
            }
            let text = column.as_any().downcast_ref::<StringArray>()?;
            let decoded: Option<Vec<Option<Vec<u8>>>> =
                text.iter().map(|v| v.map(|s| STANDARD.decode(s).ok()).map_or(Some(None), |d| d.map(Some))).collect();
            let array: ArrayRef = Arc::new(BinaryArray::from_iter(decoded?));
            Some(array)
        })
        .collect();
    RecordBatch::try_new(Arc::new(schema.clone()), columns?).ok()
}

/// The metadata of a Parquet file written by [`encode_records`]; `None` if it has none.
pub fn read_metadata(file: &Bytes) -> Option<FileMetadata> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(file).ok()?;
    FileMetadata::from_key_values(metadata.file_metadata().key_value_metadata()?)
}

/// How many rows a Parquet file holds.
pub fn row_count(file: &Bytes) -> Option<i64> {
    let metadata = ParquetMetaDataReader::new().parse_and_finish(file).ok()?;
    Some(metadata.file_metadata().num_rows())
}
