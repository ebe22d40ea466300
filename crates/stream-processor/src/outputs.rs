//! What a partition's worker sends: its outputs on the same partition number of each output
//! topic, each with its provenance (input offset, and its index among that input's outputs on
//! the topic), and none that the topic already has.

use std::ops::{Index, IndexMut};

use tickflow_core::contract::topics::{DEAD_LETTERS, ENRICHED_TRADES, REALTIME_METRICS};
use tickflow_core::contract::{DeadLetter, EnrichedTrade, Metric, MetricSink};
use tickflow_kafka::headers::{OutputHeaders, Provenance};
use tickflow_kafka::producer::Outgoing;

use crate::error::ProcessorError;
use crate::worker::Sink;

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

/// The sending half of a partition's worker: which outputs the topics already have, the
/// numbering of the current input record's outputs, and the buffer outputs are encoded into.
#[derive(Debug)]
pub struct PartitionOutputs {
    partition: i32,
    /// Provenance (input offset, output index) of the last output already in each output topic
    /// when the worker started.
    written: PerOutput<Option<(i64, u32)>>,
    /// The input record being handled, and the outputs sent for it so far per topic.
    current_offset: i64,
    next_index: PerOutput<u32>,
    lateness_us: i64,
    encoded: Vec<u8>,
}

impl PartitionOutputs {
    pub fn new(partition: i32, written: PerOutput<Option<(i64, u32)>>, lateness_us: i64) -> Self {
        PartitionOutputs {
            partition,
            written,
            current_offset: 0,
            next_index: PerOutput::default(),
            lateness_us,
            encoded: Vec::with_capacity(1024),
        }
    }

    /// The outputs sent from here on are those of the input record at `offset`.
    pub fn start_record(&mut self, offset: i64) {
        self.current_offset = offset;
        self.next_index = PerOutput::default();
    }

    pub fn enriched(&mut self, enriched: &EnrichedTrade<'_>, sink: Sink<'_>) -> Result<(), ProcessorError> {
        self.send_encoded(Output::Enriched, enriched.instrument_id.as_bytes(), sink, |buffer| {
            enriched.write_json(buffer);
            Ok(())
        })
    }

    pub fn metric(&mut self, metric: &Metric, sink: Sink<'_>) -> Result<(), ProcessorError> {
        if let Metric::Candle(candle) = metric
            && candle.is_final
        {
            let closed = candle.window_start_us + candle.window_length_us + self.lateness_us;
            sink.counters.window_close_to_final_candle.observe(seconds(sink.now_us - closed));
        }
        self.send_encoded(Output::Realtime, metric.instrument_id().as_bytes(), sink, |buffer| {
            serde_json::to_writer(buffer, metric)
                .map_err(|cause| ProcessorError::Encode { what: "realtime metric", cause })
        })
    }

    /// The input record goes to the dead letters as it is, with `letter`'s headers.
    pub fn dead_letter(
        &mut self,
        key: &[u8],
        payload: &[u8],
        letter: &DeadLetter,
        sink: Sink<'_>,
    ) -> Result<(), ProcessorError> {
        let record = OutputRecord { key, payload, headers: OutputHeaders::dead_letter(letter) };
        self.send(Output::DeadLetters, record, sink)
    }

    /// A sink that sends each metric the processor emits as it comes.
    pub fn realtime<'s>(&'s mut self, sink: Sink<'s>) -> RealtimeSender<'s> {
        RealtimeSender { outputs: self, sink, failed: None }
    }

    /// Encodes an output into the reused buffer and sends it.
    fn send_encoded(
        &mut self,
        output: Output,
        key: &[u8],
        sink: Sink<'_>,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), ProcessorError>,
    ) -> Result<(), ProcessorError> {
        let mut encoded = std::mem::take(&mut self.encoded);
        encoded.clear();
        let sent = encode(&mut encoded).and_then(|()| {
            let record = OutputRecord { key, payload: &encoded, headers: OutputHeaders::new() };
            self.send(output, record, sink)
        });
        self.encoded = encoded;
        sent
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

/// An output record before its provenance is added.
struct OutputRecord<'a> {
    key: &'a [u8],
    payload: &'a [u8],
    headers: OutputHeaders,
}

/// Sends the processor's metrics as it emits them. After a failed send it sends nothing more:
/// the worker has failed, and its partition is given up without committing
/// (`Assignment::handle`), so what the processor goes on to emit is emitted again on replay.
#[derive(Debug)]
pub struct RealtimeSender<'s> {
    outputs: &'s mut PartitionOutputs,
    sink: Sink<'s>,
    failed: Option<ProcessorError>,
}

impl RealtimeSender<'_> {
    /// Whether every metric emitted so far was sent (or was already in the topic).
    pub fn finish(self) -> Result<(), ProcessorError> {
        self.failed.map_or(Ok(()), Err)
    }
}

impl MetricSink for RealtimeSender<'_> {
    fn emit(&mut self, metric: Metric) {
        if self.failed.is_none()
            && let Err(error) = self.outputs.metric(&metric, self.sink)
        {
            self.failed = Some(error);
        }
    }
}

pub(crate) fn seconds(micros: i64) -> f64 {
    micros.max(0) as f64 / 1e6
}
