//! One input partition's processing: the core's processor for that partition, and the outputs
//! it sends to the same partition number of each output topic (`outputs.rs`).
//!
//! Every output carries its provenance (input offset, and its index among that input's outputs
//! on the topic). After a restart the worker learns the provenance of the last output already
//! in each output topic and does not send those outputs again: together with the state
//! snapshot this makes the outputs exactly once, although the input is read at least once.

use std::ops::{Index, IndexMut};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use tickflow_core::contract::topics::RAW_TRADES;
use tickflow_core::contract::{DeadLetter, RejectReason, Rejection, Stage, Venue, Watermark};
use tickflow_core::processor::StreamProcessor;
use tickflow_kafka::producer::OutputProducer;
use tickflow_service::metrics::ServiceMetrics;

use crate::error::ProcessorError;
use crate::outputs::{PartitionOutputs, PerOutput, seconds};

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
    pub(crate) records_out: PerOutput<Counter>,
    pub(crate) already_written: Counter,
    redelivered: Counter,
    bad_watermarks: Counter,
    feed_gaps: Counter,
    late_trades: PerVenue<Counter>,
    sources_lost: PerVenue<Counter>,
    receive_to_enriched: Histogram,
    pub(crate) window_close_to_final_candle: Histogram,
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

#[derive(Debug)]
pub struct PartitionWorker {
    pub partition: i32,
    processor: StreamProcessor,
    /// The next input offset to process; what gets committed.
    pub next_offset: Option<i64>,
    /// Whether anything was processed since the last commit.
    pub dirty: bool,
    outputs: PartitionOutputs,
    /// Whether each venue's loss was already logged and counted.
    noted_lost: PerVenue<bool>,
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
            outputs: PartitionOutputs::new(partition, written, lateness_us),
            noted_lost,
        }
    }

    pub fn processor(&self) -> &StreamProcessor {
        &self.processor
    }

    /// Processes one input record and sends its outputs. The realtime metrics it produces (a
    /// watermark can close every instrument's windows at once) are sent as the processor
    /// emits them, not gathered first.
    pub fn handle(&mut self, input: Input<'_>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        if self.next_offset.is_some_and(|next| input.offset < next) {
            // Offsets of a partition only grow: an older one is a redelivery, already processed.
            sink.counters.redelivered.inc();
            return Ok(());
        }
        self.outputs.start_record(input.offset);
        match input.kind {
            RecordKind::Trade => self.trade(input, sink)?,
            RecordKind::Watermark => {
                // The windows a watermark closes are emitted as that record's outputs.
                match serde_json::from_slice::<Watermark>(input.payload) {
                    Ok(watermark) => {
                        let mut realtime = self.outputs.realtime(sink);
                        self.processor.watermark(&watermark, &mut realtime);
                        realtime.finish()?;
                    }
                    Err(_) => {
                        sink.counters.bad_watermarks.inc();
                    }
                }
            }
            RecordKind::FeedGap => {
                let mut realtime = self.outputs.realtime(sink);
                match self.processor.feed_gap(input.payload, &mut realtime) {
                    Ok(()) => {
                        realtime.finish()?;
                        sink.counters.feed_gaps.inc();
                    }
                    Err(rejection) => self.dead_letter(input, rejection, sink)?,
                }
            }
            RecordKind::Unknown => {
                let rejection = Rejection::new(RejectReason::SchemaError, "unknown tickflow-kind header");
                self.dead_letter(input, rejection, sink)?;
            }
        }
        self.note_lost_sources(sink.counters);
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

    fn trade(&mut self, input: Input<'_>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        sink.counters.records_in.inc();
        let mut realtime = self.outputs.realtime(sink);
        let processed = self.processor.process(input.payload, &mut realtime);
        realtime.finish()?;
        match processed {
            Ok(enriched) => {
                if enriched.is_late {
                    sink.counters.late_trades[enriched.venue].inc();
                }
                sink.counters.receive_to_enriched.observe(seconds(sink.now_us - enriched.receive_time_us));
                self.outputs.enriched(&enriched, sink)
            }
            Err(rejection) => self.dead_letter(input, rejection, sink),
        }
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
        self.outputs.dead_letter(input.key, input.payload, &letter, sink)
    }
}
