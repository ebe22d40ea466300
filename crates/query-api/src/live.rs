//! The live stream's source: `realtime_metrics` read from Kafka (from its end, no group commits)
//! on a thread of its own and fanned out to every open stream.

use std::sync::Arc;
use std::time::Duration;

use smol_str::SmolStr;
use tickflow_core::contract::metric::{Metric, MetricKind};
use tickflow_core::contract::topics::REALTIME_METRICS;
use tickflow_kafka::KafkaArgs;
use tickflow_kafka::consumer::{ConsumerTuning, StartAt, assign, consumer, partition_count};
use tickflow_kafka::record::KafkaRecord;
use tickflow_service::shutdown::Shutdown;
use tokio::sync::broadcast;

use crate::metrics::ApiMetrics;

/// One `realtime_metrics` record, as it was on the topic.
#[derive(Debug)]
pub struct LiveEvent {
    pub kind: MetricKind,
    pub instrument_id: SmolStr,
    pub payload: Arc<str>,
}

/// Fans records out to the open streams; a stream that falls behind by more than the buffer
/// misses the oldest records (counted), it never slows the others.
#[derive(Debug, Clone)]
pub struct LiveHub {
    sender: broadcast::Sender<Arc<LiveEvent>>,
}

impl Default for LiveHub {
    fn default() -> Self {
        LiveHub { sender: broadcast::channel(4096).0 }
    }
}

impl LiveHub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<LiveEvent>> {
        self.sender.subscribe()
    }

    /// Hands one record's payload on; `false` if it is not a realtime metric.
    pub fn publish(&self, payload: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(payload) else { return false };
        let Ok(metric) = serde_json::from_str::<Metric>(text) else { return false };
        let event =
            LiveEvent { kind: metric.kind(), instrument_id: metric.instrument_id().clone(), payload: Arc::from(text) };
        let _ = self.sender.send(Arc::new(event)); // no open stream: nothing to do
        true
    }
}

/// Reads `realtime_metrics` from its end into `hub` until `shutdown`, reconnecting on errors.
pub fn follow(
    kafka: KafkaArgs,
    hub: LiveHub,
    metrics: ApiMetrics,
    shutdown: Shutdown,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("live-metrics".into()).spawn(move || {
        while !shutdown.requested() {
            if let Err(error) = read_until_error(&kafka, &hub, &metrics, &shutdown) {
                tracing::warn!(%error, "reading realtime_metrics for the live stream failed; retrying in 2 s");
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    })
}

fn read_until_error(kafka: &KafkaArgs, hub: &LiveHub, metrics: &ApiMetrics, shutdown: &Shutdown) -> anyhow::Result<()> {
    let reader = consumer(kafka, "tickflow-query-api-live", ConsumerTuning::default())?;
    let partitions = partition_count(&reader, REALTIME_METRICS, Duration::from_secs(10))?;
    let starts: Vec<(&str, i32, StartAt)> = (0..partitions).map(|p| (REALTIME_METRICS, p, StartAt::End)).collect();
    assign(&reader, &starts)?;
    tracing::info!(partitions, "following realtime_metrics for the live stream");
    while !shutdown.requested() {
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(record)) if hub.publish(record.payload()) => {
                metrics.live_events.inc();
            }
            None | Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_realtime_metrics_are_handed_on_with_their_instrument() {
        let hub = LiveHub::default();
        let mut stream = hub.subscribe();
        let candle = r#"{"metric":"anomaly","instrument_id":"BTC-USDT","window_start_us":60000000,"window_length_us":60000000,"kind":"volume_spike","observed":9.0,"baseline_mean":1.0,"baseline_std":1.0,"score":8.0,"threshold":4.0,"lookback_windows":30}"#;
        assert!(hub.publish(candle.as_bytes()));
        assert!(!hub.publish(b"{\"metric\":\"watermark\"}"));
        assert!(!hub.publish(&[0xff, 0xfe]));
        let event = stream.try_recv().expect("one event");
        assert_eq!(
            (event.kind, event.instrument_id.as_str(), &*event.payload),
            (MetricKind::Anomaly, "BTC-USDT", candle)
        );
        assert!(stream.try_recv().is_err());
    }
}
