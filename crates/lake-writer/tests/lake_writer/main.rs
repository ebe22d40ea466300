//! The lake-writer service against a real Apache Kafka broker and a `memory://` lake: where it
//! resumes, how it completes an interrupted batch, and what it does with a file it did not write.

use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use lake_writer::policy::FlushPolicy;
use lake_writer::writer::LakeWriter;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use prometheus_client::registry::Registry;
use tickflow_core::contract::topics::{ALL_TOPICS, DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::group::Membership;
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_lake::LakeTable;
use tickflow_lake::encode::{read_metadata, row_count};
use tickflow_lake::layout::{data_file, date_of};
use tickflow_lake::store::latest_marker;
use tickflow_service::Readiness;
use tickflow_service::metrics::{NameLabel, ServiceMetrics, TopicLabel};
use tickflow_service::shutdown::Shutdown;
use tickflow_testkit::{Broker, run_until};
use tokio::runtime::Runtime;

const TIMEOUT: Duration = Duration::from_secs(60);

/// `count` enriched trades as the stream-processor writes them, with their symbol and event time.
fn enriched_trades(count: usize, seed: u64) -> Vec<(String, i64, Vec<u8>)> {
    let reference = ReferenceData::bundled().expect("bundled reference data");
    let config = SyntheticConfig { seed, trades_per_second: 200.0, ..SyntheticConfig::default() };
    let mut market = SyntheticMarket::new(&reference, config);
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference).expect("valid config");
    let mut trades = Vec::new();
    while trades.len() < count {
        let bytes = serde_json::to_vec(&market.next_trade()).expect("encodes");
        if let Ok(trade) = processor.process(&bytes, &mut Vec::new()) {
            let line = serde_json::to_vec(&trade).expect("encodes");
            trades.push((trade.instrument_id.to_string(), trade.event_time_us, line));
        }
    }
    trades
}

fn send(kafka: &KafkaArgs, trades: &[(String, i64, Vec<u8>)]) {
    send_to(kafka, ENRICHED_TRADES, trades.iter().map(|(symbol, _, payload)| (symbol.as_bytes(), payload.as_slice())));
}

fn send_to<'a>(kafka: &KafkaArgs, topic: &'static str, records: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) {
    let producer = OutputProducer::new(kafka, ProducerTuning::default()).expect("producer");
    for (key, payload) in records {
        producer.send(Outgoing { topic, partition: Some(0), key, payload }, None).expect("queued");
    }
    producer.flush(TIMEOUT).expect("acknowledged");
}

struct Lake {
    store: Arc<InMemory>,
    runtime: Runtime,
}

impl Lake {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        Lake { store: Arc::new(InMemory::new()), runtime }
    }

    /// Every trades file: path, metadata's first and last offset, rows.
    fn trade_files(&self) -> Vec<(String, i64, i64, i64)> {
        self.runtime.block_on(async {
            let listed: Vec<_> = self.store.list(Some(&Path::from("trades"))).try_collect().await.expect("lists");
            let mut files = Vec::new();
            for meta in listed {
                let bytes = self.store.get(&meta.location).await.expect("reads").bytes().await.expect("body");
                let metadata = read_metadata(&bytes).expect("a tickflow file");
                let rows = row_count(&bytes).expect("Parquet");
                files.push((meta.location.to_string(), metadata.first_offset, metadata.last_offset, rows));
            }
            files.sort();
            files
        })
    }
}

struct Counts {
    records_in: u64,
    rows_written: u64,
    files_written: u64,
    already_there: u64,
    /// Dead letters written to the lake, and the lake-writer's rejections by reason.
    dead_letter_rows: u64,
    rejected: Vec<(&'static str, u64)>,
}

const REASONS: [&str; 3] = ["parse_error", "schema_error", "too_large"];

/// Runs one lake-writer in `group` until `done` holds for its counts; returns its counts and
/// how its run ended.
fn run_writer(
    kafka: &KafkaArgs,
    lake: &Lake,
    group: &str,
    mut done: impl FnMut(&Counts) -> bool,
) -> (Counts, anyhow::Result<()>) {
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let shutdown = Shutdown::manual();
    let store: Arc<dyn ObjectStore> = lake.store.clone();
    let writer = LakeWriter::new(store, metrics.clone(), shutdown.clone()).expect("writer");
    let policy = FlushPolicy { interval: Duration::from_millis(100), max_records: 400, max_bytes: 1 << 26 };
    let member = lake_writer::join(kafka, &Membership::new(group, None), writer, policy).expect("joins");
    let counts = || Counts {
        records_in: metrics.records_in.get_or_create(&TopicLabel { topic: ENRICHED_TRADES.into() }).get(),
        rows_written: metrics.rows_written.get_or_create(&NameLabel { name: "trades".into() }).get(),
        files_written: metrics.files_written.get_or_create(&NameLabel { name: "trades".into() }).get(),
        already_there: metrics.events.get_or_create(&NameLabel { name: "file_already_written".into() }).get(),
        dead_letter_rows: metrics.rows_written.get_or_create(&NameLabel { name: "dead_letters".into() }).get(),
        rejected: REASONS.map(|reason| (reason, metrics.rejection("lake-writer", reason).get())).to_vec(),
    };
    let readiness = Readiness::default();
    let ended = run_until(
        || lake_writer::run(member, &shutdown, &readiness),
        "the lake-writer got where the test wants",
        || done(&counts()),
        || shutdown.request(),
    );
    (counts(), ended)
}

#[test]
fn a_new_member_resumes_from_the_lake_and_completes_an_interrupted_batch_exactly() {
    let (_broker, kafka) = Broker::own_with_topics(&ALL_TOPICS);
    let lake = Lake::new();
    let first = enriched_trades(2_000, 1);
    send(&kafka, &first);
    let (counts, ended) = run_writer(&kafka, &lake, "first", |c| c.rows_written >= 2_000);
    ended.expect("stops cleanly");
    assert_eq!((counts.rows_written, counts.already_there), (2_000, 0));
    assert_eq!(counts.files_written, lake.trade_files().len() as u64, "every file it counted is in the lake");

    // A writer killed after its marker and some of the batch's files: one file is missing.
    let marker = lake
        .runtime
        .block_on(latest_marker(lake.store.as_ref(), ENRICHED_TRADES, 0))
        .expect("reads")
        .expect("a marker");
    assert!(marker.files.len() >= 2, "the last batch spans several symbols: {marker:?}");
    let lost = marker.files[0].clone();
    let lost_rows = lake.trade_files().iter().find(|f| f.0 == lost).map(|f| f.3).expect("the file exists");
    lake.runtime.block_on(lake.store.delete(&Path::from(lost.as_str()))).expect("deleted");

    // A member of another group (nothing committed) reads from the interrupted batch's start, not
    // from 0, writes the missing file again, accepts the others as its own, and goes on.
    send(&kafka, &enriched_trades(1_000, 2));
    let replayed = (marker.last_offset - marker.first_offset + 1) as u64;
    let (counts, ended) = run_writer(&kafka, &lake, "second", |c| {
        c.records_in >= replayed + 1_000 && c.rows_written >= lost_rows as u64 + 1_000
    });
    ended.expect("stops cleanly");
    assert_eq!(counts.records_in, replayed + 1_000, "resumed at the interrupted batch's first offset");
    assert_eq!(counts.already_there, marker.files.len() as u64 - 1, "the batch's other files were recognised");
    assert_eq!(counts.rows_written, lost_rows as u64 + 1_000);

    // Every record is in the lake once: rows add up and no two files of a symbol overlap.
    let files = lake.trade_files();
    assert_eq!(files.iter().map(|f| f.3).sum::<i64>(), 3_000);
    for (i, a) in files.iter().enumerate() {
        for b in &files[i + 1..] {
            let same_folder = a.0.rsplit_once('/').map(|p| p.0) == b.0.rsplit_once('/').map(|p| p.0);
            assert!(!same_folder || a.2 < b.1 || b.2 < a.1, "{a:?} and {b:?} overlap");
        }
    }
    assert!(files.iter().any(|f| f.0 == lost), "the missing file was written again");
}

#[test]
fn a_file_with_other_records_at_a_batch_path_stops_the_writer_and_stays_as_it_was() {
    let (_broker, kafka) = Broker::own_with_topics(&ALL_TOPICS);
    let lake = Lake::new();
    let trades = enriched_trades(10, 3);
    let (symbol, event_time_us, _) = &trades[0];
    let path = data_file(LakeTable::TRADES, &date_of(*event_time_us), symbol, ENRICHED_TRADES, 0, 0);
    let foreign = PutPayload::from_static(b"someone else's file");
    lake.runtime.block_on(lake.store.put(&path, foreign)).expect("put");
    send(&kafka, &trades);

    let (counts, ended) = run_writer(&kafka, &lake, "writer", |_| false);
    let error = format!("{:#}", ended.expect_err("a conflict stops the writer"));
    assert!(error.contains(path.as_ref()) && error.contains("other records"), "{error}");
    let kept =
        lake.runtime.block_on(async { lake.store.get(&path).await.expect("there").bytes().await.expect("body") });
    assert_eq!(&kept[..], b"someone else's file", "never overwritten");
    assert_eq!(counts.rows_written, 0);
}

/// T8 on the lake-writer's own inputs: records of every bad class written straight to
/// `enriched_trades`, `realtime_metrics` and `dead_letters` among valid trades. Each one that
/// cannot be placed is a dead letter in the lake (stage lake-writer, its reason counted); the
/// writer never stops, every valid trade lands once, and no file is poisoned.
#[test]
fn bad_records_on_its_inputs_become_dead_letters_and_stop_nothing() {
    let (_broker, kafka) = Broker::own_with_topics(&ALL_TOPICS);
    let lake = Lake::new();
    let valid = enriched_trades(600, 4);
    let (first, second) = valid.split_at(300);
    send(&kafka, first);
    let bad_trades: [&[u8]; 7] = [
        b"{\"trade_key\": \"x\", \"instrument_id\": \"BTC-USDT\"", // truncated JSON: parse_error
        b"\xff\xfe not UTF-8",                                     // parse_error
        b"",                                                       // a tombstone: parse_error
        b"[1, 2, 3]",                                              // JSON, wrong shape: schema_error
        b"{\"event_time_us\": 1700000000000000}",                  // no instrument: schema_error
        b"{\"instrument_id\": \"BTC-USDT\"}",                      // no event time: schema_error
        b"{\"instrument_id\": 7, \"event_time_us\": \"soon\"}",    // wrong types: schema_error
    ];
    send_to(&kafka, ENRICHED_TRADES, bad_trades.iter().map(|payload| (&b"BTC-USDT"[..], *payload)));
    let bad_metrics: [&[u8]; 3] = [
        b"{\"metric\": \"weather\", \"instrument_id\": \"BTC-USDT\", \"window_start_us\": 1}", // schema_error
        b"{\"instrument_id\": \"BTC-USDT\", \"window_start_us\": 1}",                          // schema_error
        b"not json at all",                                                                    // parse_error
    ];
    send_to(&kafka, REALTIME_METRICS, bad_metrics.iter().map(|payload| (&b"garbage\x00key"[..], *payload)));
    send_to(&kafka, DEAD_LETTERS, [(&b""[..], &b"a dead letter without its headers"[..])]); // schema_error
    send(&kafka, second);

    let bad = (bad_trades.len() + bad_metrics.len() + 1) as u64;
    let (counts, ended) =
        run_writer(&kafka, &lake, "bad-input", |c| c.rows_written >= 600 && c.dead_letter_rows >= bad);
    ended.expect("the writer ran on and stopped cleanly");
    assert_eq!(
        (counts.rows_written, counts.dead_letter_rows),
        (600, bad),
        "every valid trade once, every bad record a dead letter"
    );
    assert_eq!(counts.rejected, vec![("parse_error", 4), ("schema_error", 7), ("too_large", 0)]);
    let files = lake.trade_files();
    assert_eq!(files.iter().map(|f| f.3).sum::<i64>(), 600, "the trades files hold the valid trades only");
    let letters = lake.runtime.block_on(async {
        let listed: Vec<_> = lake.store.list(Some(&Path::from("dead_letters"))).try_collect().await.expect("lists");
        listed.iter().map(|m| m.location.to_string()).collect::<Vec<_>>()
    });
    assert!(letters.iter().any(|p| p.contains("/symbol=BTC-USDT/")), "filed under the record's key: {letters:?}");
    assert!(letters.iter().any(|p| p.contains("/symbol=unknown/")), "a keyless record under unknown: {letters:?}");
}
