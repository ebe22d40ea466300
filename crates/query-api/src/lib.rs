//! The query-api: a read-only HTTP API (axum) over the published marts (DuckDB) and the lake's
//! Parquet for what the marts do not hold yet, and a live stream of `realtime_metrics` (Kafka).
//!
//! - [`warehouse`]: the marts attached read-only, reopened when a build is published.
//! - [`lake_files`]: which lake files a request reads.
//! - [`sql`]: every endpoint's SQL, parameters bound.
//! - [`api`]: the `/v1` routes, errors, parameters, OpenAPI document.
//! - [`live`]: `realtime_metrics` from Kafka to the open streams.

pub mod api;
pub mod lake_files;
pub mod live;
pub mod metrics;
pub mod sql;
pub mod warehouse;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::registry::Registry;
use tickflow_service::Readiness;

/// The whole HTTP surface: `/v1/*`, `/v1/openapi.json`, `/metrics`, `/healthz`, `/readyz`.
pub fn app(api: api::Shared, registry: Registry, readiness: Readiness) -> axum::Router {
    let (routes, _) = api::routes(api);
    routes.merge(tickflow_service::http_routes(Arc::new(registry), readiness))
}

/// Reopens the marts whenever a build is published, until `stopping`.
pub async fn watch_marts(api: api::Shared, every: Duration, mut stopping: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopping.wait_for(|stop| *stop) => return,
        }
        let refreshed = {
            let api = Arc::clone(&api);
            tokio::task::spawn_blocking(move || api.warehouse.refresh()).await
        };
        match refreshed {
            Ok(Ok(true)) => {
                let generation = api.warehouse.current();
                api.metrics.marts_reloads.inc();
                api.metrics.marts_published.set(generation.published_us.unwrap_or(0) / 1_000_000);
                tracing::info!(until = api::params::rfc3339(generation.cut_us), "opened a newly published marts build");
            }
            Ok(Ok(false)) => {}
            Ok(Err(error)) => tracing::warn!(
                error = format!("{error:#}"),
                "a published marts build could not be opened; still serving the previous one"
            ),
            Err(error) => tracing::warn!(%error, "the marts watcher failed"),
        }
    }
}
