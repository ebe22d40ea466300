//! Consumer-group members against a real broker: the owner decides where an assigned partition
//! starts, a member joining takes partitions over only after the current owner finished them,
//! and what the owner returns on revocation is committed before they move; a member's lag
//! follows the ends its fetches bring back, without asking the broker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tickflow_kafka::consumer::{self, ConsumerTuning};
use tickflow_kafka::group::{GroupConsumer, Membership, NextOffset, OwnerError, PartitionOwner, TopicPartition};
use tickflow_kafka::producer::{Outgoing, OutputProducer, ProducerTuning};
use tickflow_kafka::{KafkaArgs, KafkaRecord};
use tickflow_testkit::{Broker, unique_name};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What happened to one member, shared with the test.
#[derive(Debug, Default)]
struct Journal {
    assigned: Vec<i32>,
    revoked: Vec<i32>,
    /// Offsets read, by partition.
    read: BTreeMap<i32, Vec<i64>>,
}

/// Starts every partition at offset 5 and, on revocation, commits the next offset it would read.
struct Owner {
    topic: String,
    journal: Arc<Mutex<Journal>>,
    next: BTreeMap<i32, i64>,
}

impl PartitionOwner for Owner {
    fn assigned(&mut self, partitions: &[TopicPartition]) -> Result<Vec<Option<i64>>, OwnerError> {
        self.journal.lock().expect("journal").assigned.extend(partitions.iter().map(|p| p.partition));
        Ok(partitions.iter().map(|_| Some(5)).collect())
    }

    fn revoked(&mut self, partitions: &[TopicPartition], lost: bool) -> Result<Vec<NextOffset>, OwnerError> {
        assert!(!lost, "no member misses its session here");
        self.journal.lock().expect("journal").revoked.extend(partitions.iter().map(|p| p.partition));
        Ok(partitions
            .iter()
            .filter_map(|p| self.next.remove(&p.partition).map(|offset| (p.partition, offset)))
            .map(|(partition, offset)| NextOffset { topic: self.topic.clone(), partition, offset })
            .collect())
    }
}

fn member(args: &KafkaArgs, group: &str, topic: &str) -> (GroupConsumer<Owner>, Arc<Mutex<Journal>>) {
    let journal = Arc::new(Mutex::new(Journal::default()));
    let owner = Owner { topic: topic.to_owned(), journal: journal.clone(), next: BTreeMap::new() };
    let mut membership = Membership::new(group, None);
    membership.session_timeout = Duration::from_secs(6);
    let consumer = GroupConsumer::join(args, &membership, ConsumerTuning::default(), &[topic], owner).expect("joins");
    (consumer, journal)
}

fn poll(consumer: &GroupConsumer<Owner>, journal: &Mutex<Journal>) {
    consumer
        .poll(Duration::from_millis(50), |owner, record| {
            owner.next.insert(record.partition(), record.offset() + 1);
            journal.lock().expect("journal").read.entry(record.partition()).or_default().push(record.offset());
        })
        .expect("no rebalance failed");
}

/// Polls `consumer` until its journal holds at least `records` records read.
fn read_at_least(consumer: &GroupConsumer<Owner>, journal: &Mutex<Journal>, records: usize) {
    let deadline = Instant::now() + TIMEOUT;
    while journal.lock().expect("journal").read.values().map(Vec::len).sum::<usize>() < records {
        assert!(Instant::now() < deadline, "the member reads {:?}", journal.lock().expect("journal"));
        poll(consumer, journal);
    }
}

/// `count` records to one partition of `topic`, acknowledged.
fn send(producer: &OutputProducer, topic: &str, partition: i32, count: usize) {
    for i in 0..count {
        let payload = format!("record-{i}");
        let record = Outgoing { topic, partition: Some(partition), key: b"k", payload: payload.as_bytes() };
        producer.send(record, None).expect("queued");
    }
    producer.flush(TIMEOUT).expect("acknowledged");
}

#[test]
fn members_share_partitions_start_where_the_owner_says_and_commit_on_revocation() {
    let broker = Broker::start();
    let (args, topic) = crate::new_topic(&broker, "group", 2);
    let producer = OutputProducer::new(&args, ProducerTuning::default()).expect("producer");
    send(&producer, &topic, 0, 20);
    send(&producer, &topic, 1, 20);
    let group = unique_name("members");

    // Alone, the first member gets both partitions and reads each from offset 5 on.
    let (first, first_journal) = member(&args, &group, &topic);
    read_at_least(&first, &first_journal, 30);
    {
        let journal = first_journal.lock().expect("journal");
        assert_eq!(journal.assigned, vec![0, 1]);
        assert_eq!(journal.read[&0], (5..20).collect::<Vec<_>>(), "from the owner's start, not the beginning");
        assert_eq!(journal.read[&1], (5..20).collect::<Vec<_>>());
    }

    // A second member joins: one partition moves (cooperatively: the other stays), and its
    // position was committed by the first member's revocation before the move.
    let (second, second_journal) = member(&args, &group, &topic);
    let deadline = Instant::now() + TIMEOUT;
    while second_journal.lock().expect("journal").assigned.is_empty() {
        assert!(Instant::now() < deadline, "the second member gets a partition");
        poll(&first, &first_journal);
        poll(&second, &second_journal);
    }
    let moved = second_journal.lock().expect("journal").assigned.clone();
    assert_eq!(moved.len(), 1);
    assert_eq!(first_journal.lock().expect("journal").revoked, moved, "only the moving partition was revoked");
    let probe = consumer::consumer(&args, &group, ConsumerTuning::default()).expect("probe");
    let committed = consumer::committed_offsets(&probe, &topic, &moved, TIMEOUT).expect("committed");
    assert_eq!(committed, vec![Some(20)], "the revoked partition's next offset was committed");
    drop((first, second));
}

#[test]
fn a_members_lag_follows_the_ends_its_fetches_bring_back_and_needs_no_broker() {
    let mut broker = Broker::kafka(); // its own: killed below
    let (args, topic) = crate::new_topic(&broker, "lag", 2);
    let producer = OutputProducer::new(&args, ProducerTuning::default()).expect("producer");
    send(&producer, &topic, 0, 20);
    send(&producer, &topic, 1, 20);
    let (member, journal) = member(&args, &unique_name("lag"), &topic);
    read_at_least(&member, &journal, 30); // from offset 5 of each partition (the owner's start)
    assert_eq!(member.lag(&topic, 0, 20), Some(0));
    assert_eq!(member.lag(&topic, 1, 12), Some(8), "20 records, the next to read is 12");
    assert_eq!(member.lag(&topic, 2, 0), None, "the topic has two partitions");

    send(&producer, &topic, 0, 6);
    read_at_least(&member, &journal, 36);
    assert_eq!(member.lag(&topic, 0, 20), Some(6), "the end moved with the fetch that brought the new records");

    // The ends are the member's own: with the broker gone the lag is still known, at once.
    broker.kill();
    assert_eq!(member.lag(&topic, 0, 23), Some(3));
}
