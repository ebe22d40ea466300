//! The adapter against a real Kafka-protocol broker.

mod group;

use std::time::Duration;

use tickflow_kafka::KafkaRecord;
use tickflow_kafka::admin::ensure_topics;
use tickflow_kafka::consumer::StartAt;
use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::headers::OutputHeaders;
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_testkit::{Broker, unique_name};

const TIMEOUT: Duration = Duration::from_secs(20);

/// A new topic of `partitions` partitions on `broker`, and the settings to reach it.
fn new_topic(broker: &Broker, prefix: &str, partitions: i32) -> (tickflow_kafka::KafkaArgs, String) {
    let mut args = broker.args();
    args.topic_partitions = partitions;
    let topic = unique_name(prefix);
    ensure_topics(&args, &[&topic], TIMEOUT).expect("creates the topic");
    (args, topic)
}

#[test]
fn topics_records_commits_and_the_last_record() {
    let broker = Broker::start();
    let (args, topic) = new_topic(&broker, "adapter", 3);
    ensure_topics(&args, &[&topic], TIMEOUT).expect("a second call is a no-op");

    let producer = OutputProducer::new(&args, ProducerTuning::default()).expect("producer");
    for i in 0..30u32 {
        let payload = format!("record-{i}");
        let headers = OutputHeaders::new().with("n", &i.to_be_bytes());
        let record =
            Outgoing { topic: &topic, partition: Some((i % 3) as i32), key: b"k", payload: payload.as_bytes() };
        producer.send(record, Some(headers)).expect("queued");
    }
    assert_eq!(producer.flush(TIMEOUT).expect("all acknowledged"), 30);

    let group = unique_name("group");
    let reader = consumer::consumer(&args, &group, ConsumerTuning::default()).expect("consumer");
    assert_eq!(consumer::partition_count(&reader, &topic, TIMEOUT).expect("metadata"), 3);
    assert_eq!(consumer::committed_offsets(&reader, &topic, &[0, 1, 2], TIMEOUT).expect("committed"), vec![None; 3]);
    consumer::assign(
        &reader,
        &[(&topic, 0, StartAt::Beginning), (&topic, 1, StartAt::Beginning), (&topic, 2, StartAt::Offset(0))],
    )
    .expect("assigned");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while seen.len() < 30 && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
            let n = message.header("n").map(<[u8]>::to_vec);
            seen.push((message.partition(), message.offset(), n));
        }
    }
    assert_eq!(seen.len(), 30, "every record read back");
    assert!(seen.iter().all(|(p, o, n)| n.as_deref().map(|v| u32::from_be_bytes(v.try_into().unwrap_or([0; 4])))
        == Some((*o as u32) * 3 + *p as u32)));

    consumer::commit(&reader, &[(&topic, 0, 10), (&topic, 1, 7)]).expect("commits");
    let committed = consumer::committed_offsets(&reader, &topic, &[0, 1, 2], TIMEOUT).expect("committed");
    assert_eq!(committed, vec![Some(10), Some(7), None]);

    let last = consumer::last_record(&args, &topic, 2, TIMEOUT).expect("reads").expect("partition 2 has records");
    assert_eq!((last.offset(), last.payload()), (9, &b"record-29"[..]));
    let even = consumer::last_record_matching(&args, &topic, 2, TIMEOUT, |m| m.offset() % 2 == 0).expect("reads");
    assert_eq!(even.map(|m| m.offset()), Some(8));
    let none = consumer::last_record_matching(&args, &topic, 2, TIMEOUT, |_| false).expect("reads");
    assert!(none.is_none(), "searched back to the start");
}

#[test]
fn unreachable_brokers_and_bad_settings_are_errors_not_panics() {
    let args = tickflow_kafka::KafkaArgs::for_servers(format!("127.0.0.1:{}", tickflow_testkit::free_port()));
    let error = consumer::ping(&args, Duration::from_millis(500)).expect_err("nobody listens there");
    assert!(error.is_transient());
    let bad = tickflow_kafka::KafkaArgs::for_servers("not an address");
    assert!(!bad.validate().expect_err("rejected").is_transient());
}
