//! The stream-processor service against a real Apache Kafka broker: its exactly-once rules.

use std::time::Duration;

use prometheus_client::registry::Registry;
use stream_processor::GroupSettings;
use tickflow_core::contract::topics::{ALL_TOPICS, DEAD_LETTERS, ENRICHED_TRADES, RAW_TRADES, REALTIME_METRICS};
use tickflow_core::processor::{ProcessorConfig, StreamProcessor};
use tickflow_core::reference::ReferenceData;
use tickflow_core::synthetic::{SyntheticConfig, SyntheticMarket};
use tickflow_kafka::group::Membership;
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_kafka::{KafkaArgs, KafkaRecord};
use tickflow_service::Readiness;
use tickflow_service::metrics::{NameLabel, ServiceMetrics, TopicLabel};
use tickflow_service::shutdown::Shutdown;
use tickflow_testkit::{Broker, read_partition, run_until};

const TIMEOUT: Duration = Duration::from_secs(60);

/// `count` synthetic trades over 15 s of event time, every 50th sent twice and one malformed
/// record in the middle: each outcome (enriched, candle, duplicate, rejection) is there.
fn inputs(count: usize) -> Vec<Vec<u8>> {
    let config = SyntheticConfig { trades_per_second: count as f64 / 15.0, ..SyntheticConfig::default() };
    let mut market = SyntheticMarket::new(&reference(), config);
    let mut records = Vec::new();
    for n in 0..count {
        let trade = serde_json::to_vec(&market.next_trade()).expect("encodes");
        if n % 50 == 0 {
            records.push(trade.clone());
        }
        if n == count / 3 {
            records.push(b"{\"price\": ".to_vec());
        }
        records.push(trade);
    }
    records
}

fn reference() -> ReferenceData {
    ReferenceData::bundled().expect("bundled reference data")
}

/// What the core makes of `records` when nothing restarts: the payloads of each output topic.
fn expected(records: &[Vec<u8>]) -> [Vec<Vec<u8>>; 3] {
    let mut processor = StreamProcessor::new(ProcessorConfig::default(), reference()).expect("valid config");
    let (mut enriched, mut realtime, mut dead) = (Vec::new(), Vec::new(), Vec::new());
    let mut metrics = Vec::new();
    for record in records {
        match processor.process(record, &mut metrics) {
            Ok(trade) => enriched.push(serde_json::to_vec(&trade).expect("encodes")),
            Err(_) => dead.push(record.clone()),
        }
        realtime.extend(metrics.drain(..).map(|m| serde_json::to_vec(&m).expect("encodes")));
    }
    [enriched, realtime, dead]
}

fn send(kafka: &KafkaArgs, records: &[Vec<u8>]) {
    let producer = OutputProducer::new(kafka, ProducerTuning::default()).expect("producer");
    for payload in records {
        let record = Outgoing { topic: RAW_TRADES, partition: Some(0), key: b"k", payload };
        producer.send(record, None).expect("queued");
    }
    producer.flush(TIMEOUT).expect("acknowledged");
}

/// Runs one processor instance in `group` until it has handled `records` input records.
fn run_until_handled(kafka: &KafkaArgs, group: &str, records: u64) -> ServiceMetrics {
    let metrics = ServiceMetrics::register(&mut Registry::default());
    let settings =
        GroupSettings { membership: Membership::new(group, None), commit_interval: Duration::from_millis(200) };
    let member = stream_processor::join(kafka, &settings, ProcessorConfig::default(), reference(), &metrics)
        .expect("joins the group");
    let (shutdown, readiness) = (Shutdown::manual(), Readiness::default());
    let handled = || metrics.records_in.get_or_create(&TopicLabel { topic: RAW_TRADES.into() }).get();
    run_until(
        || stream_processor::run(member, settings.commit_interval, &shutdown, &readiness),
        "the processor handled every input record",
        || handled() >= records,
        || shutdown.request(),
    )
    .expect("stops cleanly");
    metrics
}

fn outputs(kafka: &KafkaArgs) -> [Vec<Vec<u8>>; 3] {
    [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS]
        .map(|topic| read_partition(kafka, topic, 0).iter().map(|r| r.payload().to_vec()).collect())
}

fn sent(metrics: &ServiceMetrics) -> u64 {
    [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS]
        .iter()
        .map(|topic| metrics.records_out.get_or_create(&TopicLabel { topic: (*topic).into() }).get())
        .sum()
}

#[test]
fn an_instance_without_the_state_replays_but_sends_nothing_already_written() {
    let (_broker, kafka) = Broker::own_with_topics(&ALL_TOPICS);
    let records = inputs(3_000);
    let (first, second) = records.split_at(records.len() / 2);

    send(&kafka, first);
    let before = run_until_handled(&kafka, "first", first.len() as u64);
    let written_before = sent(&before);
    assert!(written_before > first.len() as u64 / 2, "the first instance wrote its outputs");
    assert_eq!(outputs(&kafka), expected(first), "the first instance's outputs are the core's");

    // A second group has neither the first one's committed offsets nor its state: it reads from
    // the start and rebuilds the state, and every output the topics already hold is suppressed.
    send(&kafka, second);
    let after = run_until_handled(&kafka, "second", records.len() as u64);
    let suppressed = after.events.get_or_create(&NameLabel { name: "output_already_written".into() }).get();
    assert_eq!(suppressed, written_before, "exactly the outputs already written were not sent again");
    assert_eq!(outputs(&kafka), expected(&records), "each output once, in order, as if nothing had restarted");
}
