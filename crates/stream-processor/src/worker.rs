//! One input partition's processing: the core's processor for that partition, and the outputs
//! it sends to the same partition number of each output topic.
//!
//! Every output carries its provenance (input offset, and its index among that input's outputs
//! on the topic). After a restart the worker learns the provenance of the last output already
//! in each output topic and does not send those outputs again: together with the state
//! snapshot this makes the outputs exactly once, although the input is read at least once.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, RAW_TRADES, REALTIME_METRICS};
use tickflow_core::contract::{DeadLetter, Metric, RejectReason, Rejection, Stage, Venue, Watermark};
use tickflow_core::processor::StreamProcessor;
use tickflow_kafka::headers::{PROVENANCE, Provenance, dead_letter_headers};
use tickflow_kafka::producer::{Outgoing, OutputProducer};
use tickflow_kafka::{Header, KafkaError, OwnedHeaders};
use tickflow_service::metrics::ServiceMetrics;

/// The output topics, in the order of [`PartitionWorker::written`].
pub const OUTPUTS: [&str; 3] = [ENRICHED_TRADES, REALTIME_METRICS, DEAD_LETTERS];
const ENRICHED: usize = 0;
const METRICS: usize = 1;
const DEAD: usize = 2;

/// Counters the workers share.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    records_in: Counter,
    out: [Counter; 3],
    suppressed: Counter,
    redelivered: Counter,
    bad_watermarks: Counter,
    feed_gaps: Counter,
    /// By `Venue as usize`.
    late: [Counter; 3],
    lost: [Counter; 3],
    trade_latency: Histogram,
    candle_latency: Histogram,
    service: ServiceMetrics,
}

impl WorkerMetrics {
    pub fn new(service: &ServiceMetrics) -> Self {
        WorkerMetrics {
            records_in: service.counter_in(RAW_TRADES),
            out: OUTPUTS.map(|topic| service.counter_out(topic)),
            suppressed: ServiceMetrics::named(&service.events, "output_already_written"),
            redelivered: ServiceMetrics::named(&service.events, "record_redelivered"),
            bad_watermarks: service.rejection("stream-processor", "bad_watermark"),
            feed_gaps: ServiceMetrics::named(&service.events, "feed_gap_passed_on"),
            late: Venue::ALL.map(|v| ServiceMetrics::venue(&service.late_trades, v.as_str())),
            lost: Venue::ALL.map(|v| ServiceMetrics::venue(&service.sources_lost, v.as_str())),
            trade_latency: ServiceMetrics::named(&service.latency_seconds, "receive_to_enriched"),
            candle_latency: ServiceMetrics::named(&service.latency_seconds, "window_close_to_final_candle"),
            service: service.clone(),
        }
    }
}

/// A record of `raw_trades`.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    Trade {
        key: &'a [u8],
        payload: &'a [u8],
    },
    /// A record with the header `tickflow-kind: watermark`.
    Watermark {
        payload: &'a [u8],
    },
    /// A record with the header `tickflow-kind: feed_gap`: trades the producer could not recover.
    FeedGap {
        key: &'a [u8],
        payload: &'a [u8],
    },
    /// A record whose `tickflow-kind` this version does not know.
    Unknown {
        key: &'a [u8],
        payload: &'a [u8],
    },
}

#[derive(Debug)]
pub struct PartitionWorker {
    pub partition: i32,
    processor: StreamProcessor,
    /// The next input offset to process; what gets committed.
    pub next_offset: Option<i64>,
    /// Whether anything was processed since the last commit.
    pub dirty: bool,
    /// Provenance of the last output already in each output topic when the worker started.
    written: [Option<(i64, u32)>; 3],
    /// Outputs sent so far for the current input record, per topic.
    next_index: [u32; 3],
    lateness_us: i64,
    metrics_buffer: Vec<Metric>,
    /// Per venue (`Venue as usize`): whether the source's loss was already logged and counted.
    noted_lost: [bool; 3],
    encoded: Vec<u8>,
}

impl PartitionWorker {
    pub fn new(
        partition: i32,
        processor: StreamProcessor,
        next_offset: Option<i64>,
        written: [Option<(i64, u32)>; 3],
    ) -> Self {
        let lateness_us = processor.config().allowed_lateness_us;
        let mut noted_lost = [false; 3]; // a restored loss was counted before the restart
        for (venue, status) in processor.sources() {
            noted_lost[venue as usize] = status.lost;
        }
        PartitionWorker {
            partition,
            processor,
            next_offset,
            dirty: false,
            written,
            next_index: [0; 3],
            lateness_us,
            metrics_buffer: Vec::new(),
            noted_lost,
            encoded: Vec::with_capacity(1024),
        }
    }

    pub fn processor(&self) -> &StreamProcessor {
        &self.processor
    }

    /// Logs and counts each source the processor has declared lost since the last look.
    fn note_lost_sources(&mut self, counters: &WorkerMetrics) {
        for (venue, status) in self.processor.sources() {
            let noted = &mut self.noted_lost[venue as usize];
            if status.lost && !*noted {
                tracing::warn!(
                    venue = venue.as_str(),
                    partition = self.partition,
                    held_at_us = status.held_at_us,
                    "a held feed outlasted the hold bound: its windows close without it (source_lost feed gaps)"
                );
                counters.lost[venue as usize].inc();
            }
            *noted = status.lost;
        }
    }

    /// Processes the input record at `offset` and sends its outputs.
    pub fn handle(
        &mut self,
        offset: i64,
        input: Input<'_>,
        producer: &OutputProducer,
        counters: &WorkerMetrics,
        now_us: i64,
    ) -> Result<(), KafkaError> {
        if self.next_offset.is_some_and(|next| offset < next) {
            // Offsets of a partition only grow: an older one is a redelivery, already processed.
            counters.redelivered.inc();
            return Ok(());
        }
        self.next_index = [0; 3];
        let mut metrics = std::mem::take(&mut self.metrics_buffer);
        let handled = match input {
            Input::Trade { key, payload } => self.trade(offset, key, payload, &mut metrics, producer, counters, now_us),
            Input::Watermark { payload } => {
                // The windows a watermark closes are emitted as that record's outputs.
                match serde_json::from_slice::<Watermark>(payload) {
                    Ok(watermark) => self.processor.watermark(&watermark, &mut metrics),
                    Err(_) => {
                        counters.bad_watermarks.inc();
                    }
                }
                Ok(())
            }
            Input::FeedGap { key, payload } => match self.processor.feed_gap(payload, &mut metrics) {
                Ok(()) => {
                    counters.feed_gaps.inc();
                    Ok(())
                }
                Err(rejection) => self.dead_letter(offset, key, payload, rejection, producer, counters, now_us),
            },
            Input::Unknown { key, payload } => {
                let rejection = Rejection::new(RejectReason::SchemaError, "unknown tickflow-kind header");
                self.dead_letter(offset, key, payload, rejection, producer, counters, now_us)
            }
        };
        self.note_lost_sources(counters);
        let sent = handled.and_then(|()| self.send_metrics(offset, &mut metrics, producer, counters, now_us));
        self.metrics_buffer = metrics;
        sent?;
        self.next_offset = Some(offset + 1);
        self.dirty = true;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn trade(
        &mut self,
        offset: i64,
        key: &[u8],
        payload: &[u8],
        metrics: &mut Vec<Metric>,
        producer: &OutputProducer,
        counters: &WorkerMetrics,
        now_us: i64,
    ) -> Result<(), KafkaError> {
        counters.records_in.inc();
        match self.processor.process(payload, metrics) {
            Ok(enriched) => {
                if enriched.is_late {
                    counters.late[enriched.venue as usize].inc();
                }
                counters.trade_latency.observe(seconds(now_us - enriched.receive_time_us));
                self.encoded.clear();
                serde_json::to_writer(&mut self.encoded, &enriched).map_err(encoding)?;
                let encoded = std::mem::take(&mut self.encoded);
                let sent =
                    self.send(ENRICHED, offset, enriched.instrument_id.as_bytes(), &encoded, None, producer, counters);
                self.encoded = encoded;
                sent
            }
            Err(rejection) => self.dead_letter(offset, key, payload, rejection, producer, counters, now_us),
        }
    }

    fn send_metrics(
        &mut self,
        offset: i64,
        metrics: &mut Vec<Metric>,
        producer: &OutputProducer,
        counters: &WorkerMetrics,
        now_us: i64,
    ) -> Result<(), KafkaError> {
        for metric in metrics.drain(..) {
            if let Metric::Candle(candle) = &metric
                && candle.is_final
            {
                let closed = candle.window_start_us + candle.window_length_us + self.lateness_us;
                counters.candle_latency.observe(seconds(now_us - closed));
            }
            let encoded = serde_json::to_vec(&metric).map_err(encoding)?;
            self.send(METRICS, offset, metric.instrument_id().as_bytes(), &encoded, None, producer, counters)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn dead_letter(
        &mut self,
        offset: i64,
        key: &[u8],
        payload: &[u8],
        rejection: Rejection,
        producer: &OutputProducer,
        counters: &WorkerMetrics,
        now_us: i64,
    ) -> Result<(), KafkaError> {
        counters.service.rejection("stream-processor", rejection.reason.as_str()).inc();
        let letter = DeadLetter {
            reason: rejection.reason,
            detail: rejection.detail.to_owned(),
            stage: Stage::StreamProcessor,
            source_topic: RAW_TRADES.to_owned(),
            source_partition: self.partition,
            source_offset: offset,
            rejected_at_us: now_us,
            original_bytes: Vec::new(),
        };
        self.send(DEAD, offset, key, payload, Some(dead_letter_headers(&letter)), producer, counters)
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        output: usize,
        offset: i64,
        key: &[u8],
        payload: &[u8],
        headers: Option<OwnedHeaders>,
        producer: &OutputProducer,
        counters: &WorkerMetrics,
    ) -> Result<(), KafkaError> {
        let index = self.next_index[output];
        self.next_index[output] += 1;
        if self.written[output].is_some_and(|written| (offset, index) <= written) {
            counters.suppressed.inc();
            return Ok(());
        }
        let provenance = Provenance { partition: self.partition, offset, index }.header();
        let headers =
            headers.unwrap_or_default().insert(Header { key: PROVENANCE, value: Some(provenance.as_bytes()) });
        let record = Outgoing { topic: OUTPUTS[output], partition: Some(self.partition), key, payload };
        producer.send(record, Some(headers))?;
        counters.out[output].inc();
        Ok(())
    }
}

fn seconds(micros: i64) -> f64 {
    micros.max(0) as f64 / 1e6
}

fn encoding(_: serde_json::Error) -> KafkaError {
    KafkaError::Config("an output record did not encode".into())
}
