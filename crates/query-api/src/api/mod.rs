//! The HTTP API under `/v1`: routes, their OpenAPI document (generated from the handlers' types
//! by utoipa), the bearer-token check and the request metrics.

pub mod error;
pub mod market;
pub mod params;
pub mod quality;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use tickflow_core::reference::ReferenceData;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::lake_files::{FileSelection, LakeFiles, LakeTable, dates_between};
use crate::live::LiveHub;
use crate::metrics::ApiMetrics;
use crate::warehouse::Warehouse;
use error::ApiError;

/// Caps on what one request may ask for.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The longest time range of one request.
    pub max_range: Duration,
    /// How long before the marts' end (or a range's start) a lake file may have been written
    /// and still hold rows after it: the lake-writer's flush interval plus clock skew, with margin.
    pub write_margin: Duration,
    /// At most this many days of lake partitions are listed for one request.
    pub max_lake_days: usize,
}

/// What every handler reads.
#[derive(Debug)]
pub struct Api {
    pub warehouse: Warehouse,
    pub lake: LakeFiles,
    pub reference: ReferenceData,
    pub live: LiveHub,
    pub limits: Limits,
    pub token: Option<String>,
    pub metrics: ApiMetrics,
    /// Becomes true when the service stops: open live streams end.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

pub type Shared = Arc<Api>;

impl Api {
    /// 404 unless `instrument` is in the reference data.
    pub fn known(&self, instrument: &str) -> Result<(), ApiError> {
        self.reference.lookup(instrument).map(|_| ()).ok_or_else(|| ApiError::UnknownInstrument(instrument.to_owned()))
    }

    /// 404 unless `instrument`, when given, is in the reference data.
    pub fn known_if_given(&self, instrument: Option<&str>) -> Result<(), ApiError> {
        instrument.map_or(Ok(()), |id| self.known(id))
    }

    /// The lake files of `table` with rows at or after `since_us` (in their event time), up to `to_us`.
    pub async fn fresh_files(
        &self,
        table: LakeTable,
        instrument: Option<&str>,
        since_us: i64,
        to_us: i64,
    ) -> Result<Vec<String>, ApiError> {
        if since_us >= to_us {
            return Ok(Vec::new());
        }
        let margin = i64::try_from(self.limits.write_margin.as_micros()).unwrap_or(i64::MAX);
        let selection = FileSelection {
            table,
            dates: dates_between(since_us, to_us, self.limits.max_lake_days),
            instrument,
            modified_since_us: since_us.saturating_sub(margin),
        };
        Ok(self.lake.list(&selection).await?)
    }

    pub fn max_range_us(&self) -> i64 {
        i64::try_from(self.limits.max_range.as_micros()).unwrap_or(i64::MAX)
    }
}

/// The SQL of a lake scan over `files` (bound as one newline-separated parameter), or the
/// table's empty stand-in when there are none.
pub fn lake_source(files: &[String], table: LakeTable, parameter: usize) -> (String, Option<duckdb::types::Value>) {
    if files.is_empty() {
        (format!("empty_lake_{}", table.folder()), None)
    } else {
        (
            format!("read_parquet(string_split(${parameter}, chr(10)), union_by_name = true)"),
            Some(duckdb::types::Value::Text(files.join("\n"))),
        )
    }
}

/// An optional text parameter as a bound value (NULL when absent).
pub fn optional_text(value: &Option<String>) -> duckdb::types::Value {
    value.clone().map_or(duckdb::types::Value::Null, duckdb::types::Value::Text)
}

/// The current UTC date, or the date of `us`.
pub fn utc_date(us: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(us).unwrap_or_default().date_naive()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "tickflow query API", description = "Read-only access to tickflow's marts and lake, and a live stream of realtime_metrics. Times are RFC 3339 (UTC); prices and volumes are numbers."),
    components(schemas(error::ErrorBody)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The `/v1` routes and the OpenAPI document describing them.
pub fn routes(api: Shared) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(market::instruments))
        .routes(routes!(market::candles))
        .routes(routes!(market::trades))
        .routes(routes!(market::anomalies))
        .routes(routes!(market::daily_stats))
        .routes(routes!(quality::coverage))
        .routes(routes!(quality::feed_gaps))
        .routes(routes!(quality::status))
        .routes(routes!(stream::live))
        .split_for_parts();
    if api.token.is_some() {
        document.security =
            Some(vec![utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
    let document_json = Arc::new(document.to_json().unwrap_or_default());
    let router = router
        .route_layer(axum::middleware::from_fn_with_state(Arc::clone(&api), authorize))
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || {
                let body = Arc::clone(&document_json);
                async move { ([("content-type", "application/json")], body.as_str().to_owned()) }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(Arc::clone(&api), observe))
        .with_state(api);
    (router, document)
}

/// 401 unless the request carries the configured bearer token (when one is configured).
async fn authorize(State(api): State<Shared>, request: Request, next: Next) -> Response {
    if let Some(token) = &api.token {
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), token.as_bytes()).into();
        if !same {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// Counts each request by route and status, and times it.
async fn observe(State(api): State<Shared>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    api.metrics.observe(&route, response.status().as_u16(), started.elapsed());
    response
}
