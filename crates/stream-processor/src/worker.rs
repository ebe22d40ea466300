//! One input partition's processing: the core's processor for that partition, and the outputs
//! it sends to the same partition number of each output topic.
//!
//! Every output carries its provenance (input offset, and its index among that input's outputs
//! on the topic). After a restart the worker learns the provenance of the last output already
//! in each output topic and does not send those outputs again: together with the state
//! snapshot this makes the outputs exactly once, although the input is read at least once.

use std::ops::{Index, IndexMut};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, RAW_TRADES, REALTIME_METRICS};
use tickflow_core::contract::{DeadLetter, Metric, RejectReason, Rejection, Stage, Venue, Watermark};
use tickflow_core::processor::StreamProcessor;
use tickflow_kafka::headers::{OutputHeaders, Provenance};
use tickflow_kafka::producer::{Outgoing, OutputProducer};
use tickflow_service::metrics::ServiceMetrics;

use crate::error::ProcessorError;

/// The topics a worker writes, each to the input's partition number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Enriched,
    Realtime,
    DeadLetters,
}

impl Output {
    pub const ALL: [Output; 3] = [Output::Enriched, Output::Realtime, Output::DeadLetters];

    pub fn topic(self) -> &'static str {
        match self {
            Output::Enriched => ENRICHED_TRADES,
            Output::Realtime => REALTIME_METRICS,
            Output::DeadLetters => DEAD_LETTERS,
        }
    }
}

/// One value for each output topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerOutput<T> {
    pub enriched: T,
    pub realtime: T,
    pub dead_letters: T,
}

impl<T> PerOutput<T> {
    pub fn from_fn(mut value: impl FnMut(Output) -> T) -> Self {
        PerOutput {
            enriched: value(Output::Enriched),
            realtime: value(Output::Realtime),
            dead_letters: value(Output::DeadLetters),
        }
    }

    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> PerOutput<U> {
        PerOutput { enriched: f(self.enriched), realtime: f(self.realtime), dead_letters: f(self.dead_letters) }
    }
}

impl<T> Index<Output> for PerOutput<T> {
    type Output = T;
    fn index(&self, output: Output) -> &T {
        match output {
            Output::Enriched => &self.enriched,
            Output::Realtime => &self.realtime,
            Output::DeadLetters => &self.dead_letters,
        }
    }
}

impl<T> IndexMut<Output> for PerOutput<T> {
    fn index_mut(&mut self, output: Output) -> &mut T {
        match output {
            Output::Enriched => &mut self.enriched,
            Output::Realtime => &mut self.realtime,
            Output::DeadLetters => &mut self.dead_letters,
        }
    }
}

/// One value for each venue.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerVenue<T>([T; 3]);

impl<T> PerVenue<T> {
    pub fn from_fn(value: impl FnMut(Venue) -> T) -> Self {
        PerVenue(Venue::ALL.map(value))
    }
}

impl<T> Index<Venue> for PerVenue<T> {
    type Output = T;
    fn index(&self, venue: Venue) -> &T {
        &self.0[venue as usize]
    }
}

impl<T> IndexMut<Venue> for PerVenue<T> {
    fn index_mut(&mut self, venue: Venue) -> &mut T {
        &mut self.0[venue as usize]
    }
}

/// The counters and histograms the workers share, created once.
#[derive(Debug, Clone)]
pub struct WorkerCounters {
    records_in: Counter,
    records_out: PerOutput<Counter>,
    already_written: Counter,
    redelivered: Counter,
    bad_watermarks: Counter,
    feed_gaps: Counter,
    late_trades: PerVenue<Counter>,
    sources_lost: PerVenue<Counter>,
    receive_to_enriched: Histogram,
    window_close_to_final_candle: Histogram,
    service: ServiceMetrics,
}

impl WorkerCounters {
    pub fn new(service: &ServiceMetrics) -> Self {
        WorkerCounters {
            records_in: service.counter_in(RAW_TRADES),
            records_out: PerOutput::from_fn(|output| service.counter_out(output.topic())),
            already_written: ServiceMetrics::named(&service.events, "output_already_written"),
            redelivered: ServiceMetrics::named(&service.events, "record_redelivered"),
            bad_watermarks: service.rejection("stream-processor", "bad_watermark"),
            feed_gaps: ServiceMetrics::named(&service.events, "feed_gap_passed_on"),
            late_trades: PerVenue::from_fn(|v| ServiceMetrics::venue(&service.late_trades, v.as_str())),
            sources_lost: PerVenue::from_fn(|v| ServiceMetrics::venue(&service.sources_lost, v.as_str())),
            receive_to_enriched: ServiceMetrics::named(&service.latency_seconds, "receive_to_enriched"),
            window_close_to_final_candle: ServiceMetrics::named(
                &service.latency_seconds,
                "window_close_to_final_candle",
            ),
            service: service.clone(),
        }
    }
}

/// What a `raw_trades` record is, by its `tickflow-kind` header.
pub use tickflow_kafka::headers::RecordKind;

/// A record of `raw_trades`.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub offset: i64,
    pub kind: RecordKind,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}

/// Where a worker's outputs go, and the wall clock of the record being handled.
#[derive(Debug, Clone, Copy)]
pub struct Sink<'a> {
    pub producer: &'a OutputProducer,
    pub counters: &'a WorkerCounters,
    pub now_us: i64,
}

/// An output record before its provenance is added.
struct OutputRecord<'a> {
    key: &'a [u8],
    payload: &'a [u8],
    headers: OutputHeaders,
}

#[derive(Debug)]
pub struct PartitionWorker {
    pub partition: i32,
    processor: StreamProcessor,
    /// The next input offset to process; what gets committed.
    pub next_offset: Option<i64>,
    /// Whether anything was processed since the last commit.
    pub dirty: bool,
    /// Provenance (input offset, output index) of the last output already in each output topic
    /// when the worker started.
    written: PerOutput<Option<(i64, u32)>>,
    /// The input record being handled, and the outputs sent for it so far per topic.
    current_offset: i64,
    next_index: PerOutput<u32>,
    lateness_us: i64,
    /// The realtime metrics (candles, anomalies, feed gaps) the current record produced.
    realtime: Vec<Metric>,
    /// Whether each venue's loss was already logged and counted.
    noted_lost: PerVenue<bool>,
    encoded: Vec<u8>,
}

impl PartitionWorker {
    pub fn new(
        partition: i32,
        processor: StreamProcessor,
        next_offset: Option<i64>,
        written: PerOutput<Option<(i64, u32)>>,
    ) -> Self {
        let lateness_us = processor.config().allowed_lateness_us;
        let mut noted_lost = PerVenue::default(); // a restored loss was counted before the restart
        for (venue, status) in processor.sources() {
            noted_lost[venue] = status.lost;
        }
        PartitionWorker {
            partition,
            processor,
            next_offset,
            dirty: false,
            written,
            current_offset: 0,
            next_index: PerOutput::default(),
            lateness_us,
            realtime: Vec::new(),
            noted_lost,
            encoded: Vec::with_capacity(1024),
        }
    }

    pub fn processor(&self) -> &StreamProcessor {
        &self.processor
    }

    /// Processes one input record and sends its outputs.
    pub fn handle(&mut self, input: Input<'_>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        if self.next_offset.is_some_and(|next| input.offset < next) {
            // Offsets of a partition only grow: an older one is a redelivery, already processed.
            sink.counters.redelivered.inc();
            return Ok(());
        }
        self.current_offset = input.offset;
        self.next_index = PerOutput::default();
        let mut realtime = std::mem::take(&mut self.realtime);
        let handled = match input.kind {
            RecordKind::Trade => self.trade(input, &mut realtime, sink),
            RecordKind::Watermark => {
                // The windows a watermark closes are emitted as that record's outputs.
                match serde_json::from_slice::<Watermark>(input.payload) {
                    Ok(watermark) => self.processor.watermark(&watermark, &mut realtime),
                    Err(_) => {
                        sink.counters.bad_watermarks.inc();
                    }
                }
                Ok(())
            }
            RecordKind::FeedGap => match self.processor.feed_gap(input.payload, &mut realtime) {
                Ok(()) => {
                    sink.counters.feed_gaps.inc();
                    Ok(())
                }
                Err(rejection) => self.dead_letter(input, rejection, sink),
            },
            RecordKind::Unknown => {
                let rejection = Rejection::new(RejectReason::SchemaError, "unknown tickflow-kind header");
                self.dead_letter(input, rejection, sink)
            }
        };
        self.note_lost_sources(sink.counters);
        let sent = handled.and_then(|()| self.send_realtime(&mut realtime, sink));
        self.realtime = realtime;
        sent?;
        self.next_offset = Some(input.offset + 1);
        self.dirty = true;
        Ok(())
    }

    /// Logs and counts each source the processor has declared lost since the last look.
    fn note_lost_sources(&mut self, counters: &WorkerCounters) {
        for (venue, status) in self.processor.sources() {
            let noted = &mut self.noted_lost[venue];
            if status.lost && !*noted {
                tracing::warn!(
                    venue = venue.as_str(),
                    partition = self.partition,
                    held_at_us = status.held_at_us,
                    "a held feed outlasted the hold bound: its windows close without it (source_lost feed gaps)"
                );
                counters.sources_lost[venue].inc();
            }
            *noted = status.lost;
        }
    }

    fn trade(&mut self, input: Input<'_>, realtime: &mut Vec<Metric>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        sink.counters.records_in.inc();
        match self.processor.process(input.payload, realtime) {
            Ok(enriched) => {
                if enriched.is_late {
                    sink.counters.late_trades[enriched.venue].inc();
                }
                sink.counters.receive_to_enriched.observe(seconds(sink.now_us - enriched.receive_time_us));
                let mut encoded = std::mem::take(&mut self.encoded);
                encoded.clear();
                enriched.write_json(&mut encoded);
                let record = OutputRecord {
                    key: enriched.instrument_id.as_bytes(),
                    payload: &encoded,
                    headers: OutputHeaders::new(),
                };
                let sent = self.send(Output::Enriched, record, sink);
                self.encoded = encoded;
                sent
            }
            Err(rejection) => self.dead_letter(input, rejection, sink),
        }
    }

    fn send_realtime(&mut self, realtime: &mut Vec<Metric>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        for metric in realtime.drain(..) {
            if let Metric::Candle(candle) = &metric
                && candle.is_final
            {
                let closed = candle.window_start_us + candle.window_length_us + self.lateness_us;
                sink.counters.window_close_to_final_candle.observe(seconds(sink.now_us - closed));
            }
            let encoded = serde_json::to_vec(&metric)
                .map_err(|cause| ProcessorError::Encode { what: "realtime metric", cause })?;
            let record = OutputRecord {
                key: metric.instrument_id().as_bytes(),
                payload: &encoded,
                headers: OutputHeaders::new(),
            };
            self.send(Output::Realtime, record, sink)?;
        }
        Ok(())
    }

    fn dead_letter(&mut self, input: Input<'_>, rejection: Rejection, sink: Sink<'_>) -> Result<(), ProcessorError> {
        sink.counters.service.rejection("stream-processor", rejection.reason.as_str()).inc();
        let letter = DeadLetter {
            reason: rejection.reason,
            detail: rejection.detail.to_owned(),
            stage: Stage::StreamProcessor,
            source_topic: RAW_TRADES.to_owned(),
            source_partition: self.partition,
            source_offset: input.offset,
            rejected_at_us: sink.now_us,
            original_bytes: Vec::new(),
        };
        let record =
            OutputRecord { key: input.key, payload: input.payload, headers: OutputHeaders::dead_letter(&letter) };
        self.send(Output::DeadLetters, record, sink)
    }

    /// Sends an output of the current input record, unless the topic already has it.
    fn send(&mut self, output: Output, record: OutputRecord<'_>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        let index = self.next_index[output];
        self.next_index[output] += 1;
        let offset = self.current_offset;
        if self.written[output].is_some_and(|written| (offset, index) <= written) {
            sink.counters.already_written.inc();
            return Ok(());
        }
        let provenance = Provenance { partition: self.partition, offset, index };
        let headers = record.headers.with_provenance(&provenance);
        let outgoing = Outgoing {
            topic: output.topic(),
            partition: Some(self.partition),
            key: record.key,
            payload: record.payload,
        };
        sink.producer.send(outgoing, Some(headers))?;
        sink.counters.records_out[output].inc();
        Ok(())
    }
}

fn seconds(micros: i64) -> f64 {
    micros.max(0) as f64 / 1e6
}
