//! When a batch is written: by age, by records, by bytes.

use std::time::{Duration, Instant};

use crate::batch::Batch;

#[derive(Debug, Clone, Copy)]
pub struct FlushPolicy {
    /// At the latest this long after its first record.
    pub interval: Duration,
    /// Once it holds this many records.
    pub max_records: u64,
    /// Once it holds this many bytes of records.
    pub max_bytes: usize,
}

impl FlushPolicy {
    /// Whether `batch` is due at `now`. A batch completing an interrupted one is never due: it is
    /// written when it reaches the end its marker names.
    pub fn due(&self, batch: &Batch, now: Instant) -> bool {
        !batch.is_empty()
            && batch.forced_last.is_none()
            && (now.saturating_duration_since(batch.started) >= self.interval
                || batch.records() >= self.max_records
                || batch.bytes >= self.max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;
    use tickflow_core::contract::topics::ENRICHED_TRADES;
    use tickflow_kafka::OwnedRecord;

    use super::FlushPolicy;
    use crate::batch::Batch;

    const POLICY: FlushPolicy = FlushPolicy { interval: Duration::from_secs(5), max_records: 3, max_bytes: 1 << 20 };

    /// A record of `enriched_trades` partition 0 at `offset`.
    fn record(offset: i64, payload: &[u8]) -> OwnedRecord {
        let message = OwnedMessage::new(
            Some(payload.to_vec()),
            None,
            ENRICHED_TRADES.into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        );
        OwnedRecord::from(message)
    }

    fn batch_of(records: i64) -> Batch {
        let mut batch = Batch::new(ENRICHED_TRADES, 0, None, None);
        for offset in 0..records {
            batch.add(&record(offset, br#"{"instrument_id":"BTC-USD","event_time_us":1700000000000000}"#));
        }
        batch
    }

    #[test]
    fn a_batch_is_due_once_its_first_record_is_an_interval_old_at_the_time_given() {
        let batch = batch_of(1);
        assert!(!POLICY.due(&batch, batch.started));
        assert!(!POLICY.due(&batch, batch.started + Duration::from_millis(4_999)));
        assert!(POLICY.due(&batch, batch.started + Duration::from_secs(5)));
        // A time before the batch started (read before its first record arrived) is not an age.
        assert!(!POLICY.due(&batch, batch.started.checked_sub(Duration::from_secs(60)).unwrap_or(batch.started)));
    }

    #[test]
    fn a_batch_is_due_at_its_record_limit_whatever_its_age_and_an_empty_one_never() {
        let now = Instant::now();
        assert!(!POLICY.due(&batch_of(2), now));
        assert!(POLICY.due(&batch_of(3), now));
        let mut counted = batch_of(2);
        counted.add(&record(1, b"{}")); // a redelivery: not a record of the batch
        assert_eq!(counted.records(), 2);
        assert!(!POLICY.due(&batch_of(0), now + Duration::from_secs(3600)));
    }
}
