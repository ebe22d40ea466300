//! The live stream: `realtime_metrics` records as Server-Sent Events, filtered by instrument
//! and kind. Each event's `event` is the record's kind, its `data` the record as on the topic.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tickflow_core::contract::metric::MetricKind;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::IntoParams;

use super::Shared;
use super::error::{ApiError, ErrorBody};
use super::params::Params;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// Comma-separated instrument ids (default: all).
    pub instrument: Option<String>,
    /// Comma-separated kinds: `candle`, `anomaly`, `feed_gap` (default: all).
    #[param(pattern = "^(candle|anomaly|feed_gap)(,(candle|anomaly|feed_gap))*$")]
    pub metric: Option<String>,
}

fn kinds(text: Option<&str>) -> Result<Option<Vec<MetricKind>>, ApiError> {
    let Some(text) = text else { return Ok(None) };
    text.split(',')
        .map(|kind| serde_json::from_value(serde_json::Value::String(kind.trim().to_owned())))
        .collect::<Result<Vec<MetricKind>, _>>()
        .map(Some)
        .map_err(|_| ApiError::bad("metric", "a comma-separated list of candle, anomaly, feed_gap"))
}

/// Realtime candles, anomalies and feed gaps as they are published (Server-Sent Events).
#[utoipa::path(get, path = "/v1/live", tag = "live", params(LiveQuery),
    responses(
        (status = 200, description = "A stream of realtime_metrics records: `event` is the kind, `data` the JSON record", content_type = "text/event-stream", body = String),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn live(
    State(api): State<Shared>,
    Params(query): Params<LiveQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let instruments: Option<Vec<String>> =
        query.instrument.as_deref().map(|s| s.split(',').map(|i| i.trim().to_owned()).collect());
    for instrument in instruments.iter().flatten() {
        api.known(instrument)?;
    }
    let kinds = kinds(query.metric.as_deref())?;
    let metrics = api.metrics.clone();
    metrics.live_subscribers.inc();
    let subscriber = Subscriber(api.metrics.clone());
    let mut stopping = api.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let events = BroadcastStream::new(api.live.subscribe())
        .filter_map(move |item| {
            let _keep = &subscriber;
            let wanted = match &item {
                Ok(event) => {
                    kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
                        && instruments.as_ref().is_none_or(|i| i.iter().any(|id| id == event.instrument_id.as_str()))
                }
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    metrics.live_dropped.inc_by(*missed);
                    false
                }
            };
            let event = item.ok().filter(|_| wanted).map(|event| {
                let kind = serde_json::to_value(event.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Ok(Event::default().event(kind).data(Arc::clone(&event.payload).as_ref()))
            });
            std::future::ready(event)
        })
        .take_until(Box::pin(stopped));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Counts an open stream until it is dropped.
struct Subscriber(crate::metrics::ApiMetrics);

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.0.live_subscribers.dec();
    }
}
