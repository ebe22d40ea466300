//! Records of the lake-writer's input topics (`enriched_trades`, `realtime_metrics`,
//! `dead_letters`) through its batch and the lake's commit into an in-memory object store.
//! Each line is one record: a topic selector byte, then key, headers and value separated by
//! 0x1f (headers as `name=value` pairs separated by 0x1e).
//!
//! Holds: no panic; the commit never fails on content; every routed record is either a row of a
//! written file or counted as rejected (none poisons a file or stops the partition); and each
//! written file reads back with the row count its metadata claims.
#![no_main]

use std::sync::Arc;

use lake_writer::batch::Batch;
use libfuzzer_sys::fuzz_target;
use object_store::memory::InMemory;
use object_store::ObjectStore;
use object_store::path::Path;
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};
use tickflow_kafka::OwnedRecord;
use tickflow_lake::commit::commit_batch;
use tickflow_lake::encode::row_count;

const TOPICS: [&str; 3] = ["enriched_trades", "realtime_metrics", "dead_letters"];

fn record(topic: &'static str, offset: i64, fields: &[u8]) -> OwnedRecord {
    let mut parts = fields.splitn(3, |&b| b == 0x1f);
    let key = parts.next().unwrap_or_default();
    let (header_bytes, value) = match (parts.next(), parts.next()) {
        (Some(headers), Some(value)) => (headers, value),
        (Some(value), None) => (&[][..], value),
        _ => (&[][..], &[][..]),
    };
    let mut headers = OwnedHeaders::new();
    for pair in header_bytes.split(|&b| b == 0x1e).filter(|p| !p.is_empty()) {
        let mut name_value = pair.splitn(2, |&b| b == b'=');
        let name = String::from_utf8_lossy(name_value.next().unwrap_or_default()).into_owned();
        headers = headers.insert(Header { key: &name, value: name_value.next() });
    }
    let message = OwnedMessage::new(Some(value.to_vec()), Some(key.to_vec()), topic.to_owned(),
                                    Timestamp::NotAvailable, 0, offset, Some(headers));
    OwnedRecord::from(message)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let topic = TOPICS[selector as usize % TOPICS.len()];
    let mut batch = Batch::new(topic, 0, None, None);
    for (offset, line) in rest.split(|&b| b == b'\n').enumerate() {
        batch.add(&record(topic, offset as i64, line));
    }
    let routed = batch.records();
    let store = Arc::new(InMemory::new());
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let report = runtime
        .block_on(commit_batch(store.as_ref(), &batch.to_lake(), false))
        .expect("an in-memory commit fails on no content");
    let written: u64 = report.written.iter().map(|(_, rows)| rows).sum();
    assert_eq!(written + report.rejected_rows, routed, "every routed record is a row or a rejection");
    let mut rows_read = 0;
    for file in batch.to_lake().files {
        if let Ok(found) = runtime.block_on(store.get(&Path::from(file.path.as_str()))) {
            let bytes = runtime.block_on(found.bytes()).expect("readable");
            rows_read += row_count(&bytes).expect("a written file is Parquet with a row count") as u64;
        }
    }
    assert_eq!(rows_read, written, "the written files hold the rows the commit reports");
});
