//! JSON records to Parquet, schema-driven: the records are decoded against the contract
//! ([`crate::decode`]), so a record that does not match the contract fails here rather than
//! landing in the lake. Each file's key-value metadata names the Kafka records it
//! holds, which is how a retried write recognises its own earlier attempt.

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::{KeyValue, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::decode::{DecodeError, decode_lines};
use crate::schema::LakeTable;

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
    Records { table: &'static str, cause: DecodeError },
    #[error("writing Parquet for {table}: {cause}")]
    Parquet { table: &'static str, cause: parquet::errors::ParquetError },
}

/// Encodes newline-separated JSON records of `table` as one zstd Parquet file (columns of a
/// single text value left uncompressed).
pub fn encode_records(table: LakeTable, json_lines: &[u8], metadata: &FileMetadata) -> Result<Bytes, EncodeError> {
    let name = table.name;
    let columns = table.contract.columns().map_err(|cause| EncodeError::Schema { table: name, cause })?;
    let batch = decode_lines(&columns, json_lines).map_err(|cause| EncodeError::Records { table: name, cause })?;
    encode_batch(table, &batch, metadata)
}

/// Encodes decoded records of `table` as one zstd Parquet file, as [`encode_records`] does
/// after decoding them.
pub fn encode_batch(table: LakeTable, batch: &RecordBatch, metadata: &FileMetadata) -> Result<Bytes, EncodeError> {
    let name = table.name;
    let schema = batch.schema();
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(metadata.key_values()));
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if is_one_text_value(column) {
            properties =
                properties.set_column_compression(ColumnPath::from(field.name().as_str()), Compression::UNCOMPRESSED);
        }
    }
    let properties = properties.build();
    let parquet = |cause| EncodeError::Parquet { table: name, cause };
    let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(parquet)?;
    writer.write(batch).map_err(parquet)?;
    Ok(Bytes::from(writer.into_inner().map_err(parquet)?))
}

/// A text column with one value in every row (in a file of one instrument: its venue, exchange,
/// currency and the like). Its dictionary holds that value once and its pages are a few bytes of
/// run lengths; zstd cannot shrink them (it made them larger), and each compressed column costs
/// a compression context whose creation is a large part of writing a small file.
fn is_one_text_value(column: &ArrayRef) -> bool {
    let Some(text) = column.as_string_opt::<i32>() else {
        return false;
    };
    if text.null_count() > 0 {
        return text.null_count() == text.len();
    }
    text.len() > 0 && text.iter().all(|value| value == Some(text.value(0)))
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
