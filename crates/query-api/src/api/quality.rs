//! Data quality and pipeline state: coverage per minute, feed gaps, and a status summary.

use axum::Json;
use axum::extract::State;
use duckdb::types::Value;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::params::{self, Params, rfc3339};
use super::{Shared, lake_source, optional_text, utc_date};
use crate::lake_files::LakeTable;
use crate::sql;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageQuery {
    /// One instrument (default: all).
    pub instrument: Option<String>,
    /// Minutes from (RFC 3339); default: an hour before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Default: the end of the marts.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// At most this many rows (default 5000, at most 50000).
    #[param(minimum = 1, maximum = 50000)]
    pub limit: Option<u32>,
}

/// One instrument's minute: trades kept, late, duplicates removed, rejections by reason, feed gaps.
#[derive(Debug, Serialize, ToSchema)]
pub struct CoverageMinute {
    pub instrument_id: String,
    pub minute: String,
    pub trades: i64,
    pub late_trades: i64,
    pub duplicates_removed: i64,
    pub rejected: i64,
    /// Rejections of the minute by reason.
    #[schema(value_type = Object)]
    pub rejected_by_reason: serde_json::Value,
    pub feed_gaps: i64,
    pub gap_seconds: f64,
}

/// Coverage per instrument and minute, as of the last marts build.
#[utoipa::path(get, path = "/v1/coverage", tag = "quality", params(CoverageQuery),
    responses((status = 200, body = Vec<CoverageMinute>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn coverage(
    State(api): State<Shared>,
    Params(query): Params<CoverageQuery>,
) -> Result<Json<Vec<CoverageMinute>>, ApiError> {
    api.known_if_given(query.instrument.as_deref())?;
    let limit = params::limit(query.limit, 5000, 50_000)?;
    let generation = api.warehouse.current();
    let default_to =
        if generation.cut_us == i64::MIN { tickflow_service::now_us() } else { generation.cut_us + 60_000_000 };
    let (from, to) =
        params::range(query.from.as_deref(), query.to.as_deref(), default_to, 3_600_000_000, api.max_range_us())?;
    let params = vec![optional_text(&query.instrument), Value::BigInt(from), Value::BigInt(to), Value::BigInt(limit)];
    let rows = api
        .warehouse
        .query(&generation, sql::COVERAGE.to_owned(), params, |row| {
            let reasons: Option<String> = row.get(6)?;
            Ok(CoverageMinute {
                instrument_id: row.get(0)?,
                minute: rfc3339(row.get(1)?),
                trades: row.get(2)?,
                late_trades: row.get(3)?,
                duplicates_removed: row.get(4)?,
                rejected: row.get(5)?,
                rejected_by_reason: reasons
                    .and_then(|r| serde_json::from_str(&r).ok())
                    .unwrap_or_else(|| serde_json::json!({})),
                feed_gaps: row.get(7)?,
                gap_seconds: row.get(8)?,
            })
        })
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedGapQuery {
    /// `binance`, `coinbase` or `finnhub` (default: all).
    #[param(pattern = "^(binance|coinbase|finnhub)$")]
    pub venue: Option<String>,
    pub instrument: Option<String>,
    /// Gaps ending at or after (RFC 3339); default: a day before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// At most this many (default 500, at most 5000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// Trades a venue feed is known to have missed and not recovered.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedGap {
    pub gap_key: String,
    pub venue: String,
    pub venue_symbol: String,
    pub instrument_id: String,
    pub reason: String,
    pub gap_start: String,
    pub gap_end: String,
    pub first_missing_trade_id: Option<String>,
    pub last_missing_trade_id: Option<String>,
    pub missing_trades: Option<i64>,
    pub detected_at: String,
}

/// Feed gaps overlapping a time range, newest first, as of the last marts build.
#[utoipa::path(get, path = "/v1/feed-gaps", tag = "quality", params(FeedGapQuery),
    responses((status = 200, body = Vec<FeedGap>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn feed_gaps(
    State(api): State<Shared>,
    Params(query): Params<FeedGapQuery>,
) -> Result<Json<Vec<FeedGap>>, ApiError> {
    api.known_if_given(query.instrument.as_deref())?;
    if let Some(venue) = &query.venue
        && !["binance", "coinbase", "finnhub"].contains(&venue.as_str())
    {
        return Err(ApiError::bad("venue", "binance, coinbase or finnhub"));
    }
    let limit = params::limit(query.limit, 500, 5000)?;
    let (from, to) = params::range(
        query.from.as_deref(),
        query.to.as_deref(),
        tickflow_service::now_us(),
        86_400_000_000,
        api.max_range_us(),
    )?;
    let params = vec![
        optional_text(&query.venue),
        optional_text(&query.instrument),
        Value::BigInt(from),
        Value::BigInt(to),
        Value::BigInt(limit),
    ];
    let generation = api.warehouse.current();
    let rows = api
        .warehouse
        .query(&generation, sql::FEED_GAPS.to_owned(), params, |row| {
            Ok(FeedGap {
                gap_key: row.get(0)?,
                venue: row.get(1)?,
                venue_symbol: row.get(2)?,
                instrument_id: row.get(3)?,
                reason: row.get(4)?,
                gap_start: rfc3339(row.get(5)?),
                gap_end: rfc3339(row.get(6)?),
                first_missing_trade_id: row.get(7)?,
                last_missing_trade_id: row.get(8)?,
                missing_trades: row.get(9)?,
                detected_at: rfc3339(row.get(10)?),
            })
        })
        .await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// UTC date (YYYY-MM-DD); default: today.
    #[param(format = Date)]
    pub date: Option<String>,
}

/// The pipeline at a glance: the marts' build, the lake's trades of the day, the reconciliation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub date: String,
    /// When the marts in use were published; absent before the first build.
    pub marts_published_at: Option<String>,
    /// Where the marts end; later data is read from the lake.
    pub marts_until: Option<String>,
    /// Trades of the day in the lake (deduplicated).
    pub trades_today: i64,
    pub last_trades: Vec<LastTrade>,
    pub reconciliation: Reconciliation,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LastTrade {
    pub venue: String,
    pub instrument_id: String,
    pub last_trade_time: String,
    pub trades: i64,
}

/// The marts' comparison of the stream's final 1-minute candles with the lake's trades.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reconciliation {
    pub windows_compared: i64,
    pub windows_mismatched: i64,
    pub late_trades: i64,
}

/// A pipeline status summary.
#[utoipa::path(get, path = "/v1/status", tag = "quality", params(StatusQuery),
    responses((status = 200, body = Status), (status = 400, body = ErrorBody)))]
pub async fn status(State(api): State<Shared>, Params(query): Params<StatusQuery>) -> Result<Json<Status>, ApiError> {
    let date = params::date("date", query.date.as_deref())?.unwrap_or_else(|| utc_date(tickflow_service::now_us()));
    let generation = api.warehouse.current();
    let cut = generation.cut_us;
    let day_start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).unwrap_or_default();
    let files = api.fresh_files(LakeTable::Trades, None, cut.max(day_start), day_start + 86_400_000_000 - 1).await?;
    let (source, files) = lake_source(&files, LakeTable::Trades, 3);
    let params = vec![Value::Text(date.to_string()), Value::BigInt(cut)].into_iter().chain(files).collect();
    let last_trades = api
        .warehouse
        .query(&generation, sql::last_trades(&source), params, |row| {
            Ok(LastTrade {
                venue: row.get(0)?,
                instrument_id: row.get(1)?,
                last_trade_time: rfc3339(row.get(2)?),
                trades: row.get(3)?,
            })
        })
        .await?;
    let reconciliation = api
        .warehouse
        .query(&generation, sql::RECONCILIATION.to_owned(), Vec::new(), |row| {
            Ok(Reconciliation {
                windows_compared: row.get(0)?,
                windows_mismatched: row.get(1)?,
                late_trades: row.get(2)?,
            })
        })
        .await?
        .pop()
        .unwrap_or(Reconciliation { windows_compared: 0, windows_mismatched: 0, late_trades: 0 });
    Ok(Json(Status {
        date: date.to_string(),
        marts_published_at: generation.published_us.map(rfc3339),
        marts_until: (cut != i64::MIN).then(|| rfc3339(cut)),
        trades_today: last_trades.iter().map(|t| t.trades).sum(),
        last_trades,
        reconciliation,
    }))
}
