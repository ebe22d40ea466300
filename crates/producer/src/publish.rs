//! Frames to `raw_trades`: each frame is normalized by the core; every trade goes out keyed by
//! its instrument, every rejection to `dead_letters` with the frame as the original bytes.
//! Trades a client reports missed become feed-gap records (`tickflow-kind: feed_gap`), keyed by
//! the instrument like its trades.

use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tickflow_core::contract::topics::{DEAD_LETTERS, RAW_TRADES};
use tickflow_core::contract::{DeadLetter, Metric, Rejection, Stage, Venue, Watermark};
use tickflow_core::feed::MissedTrades;
use tickflow_core::reference::ReferenceData;
use tickflow_core::validate::ValidationRules;
use tickflow_core::venue::{NormalizeContext, VenueFrame, normalize};
use tickflow_kafka::KafkaError;
use tickflow_kafka::headers::{KIND_FEED_GAP, KIND_WATERMARK, OutputHeaders};
use tickflow_kafka::producer::{Outgoing, OutputProducer};
use tickflow_service::metrics::ServiceMetrics;

use crate::source::{Frame, Received};
use tickflow_service::now_us;

/// Why a record could not be published: not sent (the broker) or not encoded (a bug).
pub use tickflow_kafka::producer::OutputError as PublishError;

#[derive(Debug)]
pub struct Publisher {
    producer: OutputProducer,
    reference: ReferenceData,
    rules: ValidationRules,
    metrics: ServiceMetrics,
    trades_out: Counter,
    gaps_out: Counter,
    venue_errors: Counter,
    watermarks_out: Counter,
    frames_in: [Counter; 3],
    buffer: Vec<u8>,
    /// Partitions of `raw_trades`, which each get every watermark.
    partitions: i32,
    /// Per venue (`Venue as usize`): the latest event time sent, and when it was sent.
    progress: [Option<(i64, Instant)>; 3],
    /// Per venue: connections whose feed is held, and whether the hold went out.
    holds: [(u32, bool); 3],
}

impl Publisher {
    pub fn new(producer: OutputProducer, reference: ReferenceData, metrics: ServiceMetrics, partitions: i32) -> Self {
        let frames_in = Venue::ALL.map(|venue| metrics.counter_in(&format!("feed:{}", venue.as_str())));
        Publisher {
            producer,
            reference,
            rules: ValidationRules::default(),
            trades_out: metrics.counter_out(RAW_TRADES),
            gaps_out: ServiceMetrics::named(&metrics.events, "feed_gap_sent"),
            venue_errors: ServiceMetrics::named(&metrics.events, "venue_error"),
            watermarks_out: ServiceMetrics::named(&metrics.events, "watermark_sent"),
            metrics,
            frames_in,
            buffer: Vec::with_capacity(1024),
            partitions,
            progress: [None; 3],
            holds: [(0, false); 3],
        }
    }

    /// A new producer holds nothing: releases whatever an earlier run that ended abruptly may
    /// have left held for these venues.
    pub fn release_at_start(&mut self, venues: &[Venue]) -> Result<(), PublishError> {
        for &venue in venues {
            self.send_watermark(Watermark { watermark_us: 0, venue: Some(venue), held: false })?;
        }
        Ok(())
    }

    pub fn publish(&mut self, received: &Received) -> Result<(), PublishError> {
        match received {
            Received::Frame(frame) => self.publish_frame(frame),
            Received::Missed { missed } => self.publish_gap(missed),
            Received::Status { status } => self.publish_status(status.venue, status.held),
        }
    }

    /// A client's feed is held (its connection dropped) or released (it has recovered). The
    /// venue is held while any of its connections is; the hold names the latest event time
    /// sent for the venue, which is as far as it is complete.
    fn publish_status(&mut self, venue: Venue, held: bool) -> Result<(), PublishError> {
        let (count, sent) = self.holds[venue as usize];
        let count = if held { count + 1 } else { count.saturating_sub(1) };
        self.holds[venue as usize] = (count, sent);
        ServiceMetrics::venue(&self.metrics.source_held, venue.as_str()).set(i64::from(count > 0));
        let latest = self.progress[venue as usize].map(|(t, _)| t);
        match (held, count, sent, latest) {
            (true, 1, false, Some(latest)) => {
                tracing::info!(venue = venue.as_str(), complete_to_us = latest, "feed held until it recovers");
                self.holds[venue as usize].1 = true;
                self.send_watermark(Watermark { watermark_us: latest, venue: Some(venue), held: true })
            }
            (false, 0, true, latest) => {
                tracing::info!(venue = venue.as_str(), "feed recovered; hold released");
                self.holds[venue as usize].1 = false;
                let watermark_us = latest.unwrap_or(0);
                self.send_watermark(Watermark { watermark_us, venue: Some(venue), held: false })
            }
            _ => Ok(()),
        }
    }

    fn publish_gap(&mut self, missed: &MissedTrades) -> Result<(), PublishError> {
        let gap = match missed.to_gap(&self.reference) {
            Ok(gap) => gap,
            Err(rejection) => {
                let original = PublishError::encode("feed gap", missed)?;
                return self.dead_letter(missed.venue, &original, rejection);
            }
        };
        let payload = PublishError::encode("feed gap", &Metric::FeedGap(gap.clone()))?;
        let record =
            Outgoing { topic: RAW_TRADES, partition: None, key: gap.instrument_id.as_bytes(), payload: &payload };
        self.producer.send(record, Some(OutputHeaders::kind(KIND_FEED_GAP)))?;
        self.gaps_out.inc();
        self.producer.poll();
        Ok(())
    }

    fn publish_frame(&mut self, frame: &Frame) -> Result<(), PublishError> {
        self.frames_in[frame.venue as usize].inc();
        if let Some(records) = &frame.records {
            // Normalized and encoded by the live client that read the frame.
            let progress = &mut self.progress[frame.venue as usize];
            for record in records.iter() {
                let (key, payload) = (record.key, record.payload);
                send_trade(&mut self.producer, &self.trades_out, progress, key, payload, record.event_time_us)?;
            }
            self.producer.poll();
            return Ok(());
        }
        let context =
            NormalizeContext { reference: &self.reference, rules: &self.rules, receive_time_us: frame.receive_time_us };
        let (buffer, progress) = (&mut self.buffer, &mut self.progress[frame.venue as usize]);
        let sent = match normalize(frame.venue, frame.text.as_bytes(), &context) {
            Ok(VenueFrame::Trades { trades, .. }) => trades.into_iter().try_for_each(|trade| match trade {
                Ok(trade) => {
                    buffer.clear();
                    trade.write_json(buffer);
                    let key = trade.instrument_id.as_bytes();
                    send_trade(&mut self.producer, &self.trades_out, progress, key, buffer, trade.event_time_us)
                }
                Err(rejection) => {
                    dead_letter(&mut self.producer, &self.metrics, frame.venue, frame.text.as_bytes(), rejection)
                }
            }),
            Ok(VenueFrame::VenueError { message }) => {
                tracing::warn!(venue = frame.venue.as_str(), message, "venue reported an error");
                self.venue_errors.inc();
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(rejection) => {
                dead_letter(&mut self.producer, &self.metrics, frame.venue, frame.text.as_bytes(), rejection)
            }
        };
        sent?;
        self.producer.poll();
        Ok(())
    }

    fn dead_letter(&mut self, venue: Venue, original: &[u8], rejection: Rejection) -> Result<(), PublishError> {
        dead_letter(&mut self.producer, &self.metrics, venue, original, rejection)
    }

    /// While a venue's feed is quiet and not held, lets its event time pass at the wall
    /// clock's pace: a watermark of its latest event time plus the time since it was sent,
    /// once `quiet` has passed.
    pub fn watermark_if_quiet(&mut self, quiet: Duration) -> Result<(), PublishError> {
        for venue in Venue::ALL {
            let Some((latest, at)) = self.progress[venue as usize] else { continue };
            if at.elapsed() >= quiet && self.holds[venue as usize].0 == 0 {
                let elapsed = i64::try_from(at.elapsed().as_micros()).unwrap_or(i64::MAX);
                let watermark_us = latest.saturating_add(elapsed);
                self.send_watermark(Watermark { watermark_us, venue: Some(venue), held: false })?;
            }
        }
        Ok(())
    }

    /// The feed has ended: a watermark a day past its last trade closes every window.
    pub fn watermark_at_end(&mut self) -> Result<(), PublishError> {
        match self.progress.iter().flatten().map(|(t, _)| *t).max() {
            Some(latest) => self.send_watermark(Watermark::all(latest.saturating_add(86_400_000_000))),
            None => Ok(()),
        }
    }

    fn send_watermark(&mut self, watermark: Watermark) -> Result<(), PublishError> {
        let payload = PublishError::encode("watermark", &watermark)?;
        for partition in 0..self.partitions {
            let headers = OutputHeaders::kind(KIND_WATERMARK);
            let record = Outgoing { topic: RAW_TRADES, partition: Some(partition), key: b"", payload: &payload };
            self.producer.send(record, Some(headers))?;
        }
        self.watermarks_out.inc();
        Ok(())
    }

    /// Waits until everything produced is acknowledged.
    pub fn flush(&self, timeout: Duration) -> Result<u64, KafkaError> {
        self.producer.flush(timeout)
    }
}

/// Sends one trade's `raw_trades` record, keyed by its instrument, and counts it in its venue's
/// `progress` (the latest event time sent, and when).
fn send_trade(
    producer: &mut OutputProducer,
    trades_out: &Counter,
    progress: &mut Option<(i64, Instant)>,
    key: &[u8],
    payload: &[u8],
    event_time_us: i64,
) -> Result<(), PublishError> {
    producer.send(Outgoing { topic: RAW_TRADES, partition: None, key, payload }, None)?;
    trades_out.inc();
    let latest = progress.map_or(event_time_us, |(t, _)| t.max(event_time_us));
    *progress = Some((latest, Instant::now()));
    Ok(())
}

/// Sends `original`, refused for `rejection`, to `dead_letters` with the reason in its headers.
fn dead_letter(
    producer: &mut OutputProducer,
    metrics: &ServiceMetrics,
    venue: Venue,
    original: &[u8],
    rejection: Rejection,
) -> Result<(), PublishError> {
    metrics.rejection("producer", rejection.reason.as_str()).inc();
    let letter = DeadLetter {
        reason: rejection.reason,
        detail: rejection.detail.to_owned(),
        stage: Stage::Producer,
        source_topic: format!("feed:{}", venue.as_str()),
        source_partition: -1,
        source_offset: -1,
        rejected_at_us: now_us(),
        original_bytes: Vec::new(),
    };
    let key = venue.as_str().as_bytes();
    let record = Outgoing { topic: DEAD_LETTERS, partition: None, key, payload: original };
    Ok(producer.send(record, Some(OutputHeaders::dead_letter(&letter)))?)
}
