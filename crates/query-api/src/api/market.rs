//! Market data: instruments, candles, trades, anomalies and daily statistics. Each answer joins
//! the marts (up to their end) with the lake's rows written since, so it is complete up to the
//! lake-writer's last flush.

use axum::Json;
use axum::extract::State;
use duckdb::types::Value;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::params::{self, Interval, Params, rfc3339};
use super::{Shared, lake_source, optional_text, utc_date};
use crate::lake_files::LakeTable;
use crate::sql;

/// An instrument of the reference data.
#[derive(Debug, Serialize, ToSchema)]
pub struct Instrument {
    pub instrument_id: String,
    pub asset_class: String,
    pub exchange: String,
    pub base_asset: String,
    pub quote_currency: String,
    /// The venues that trade it and its symbol on each.
    pub venues: Vec<VenueSymbol>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VenueSymbol {
    pub venue: String,
    pub symbol: String,
}

/// Every instrument tickflow knows.
#[utoipa::path(get, path = "/v1/instruments", tag = "market",
    responses((status = 200, body = Vec<Instrument>), (status = 401, body = ErrorBody)))]
pub async fn instruments(State(api): State<Shared>) -> Json<Vec<Instrument>> {
    Json(
        api.reference
            .instruments()
            .iter()
            .map(|i| Instrument {
                instrument_id: i.id.to_string(),
                asset_class: serde_json::to_value(i.asset_class)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                exchange: i.exchange.to_string(),
                base_asset: i.base_asset.to_string(),
                quote_currency: i.quote_currency.to_string(),
                venues: i
                    .venue_symbols
                    .iter()
                    .map(|(v, s)| VenueSymbol { venue: v.as_str().to_owned(), symbol: s.to_string() })
                    .collect(),
            })
            .collect(),
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CandleQuery {
    /// Instrument id, e.g. `BTC-USDT`.
    pub instrument: String,
    /// Candle width (default `1m`); `1s` candles come from the stream only.
    #[param(inline)]
    pub interval: Option<Interval>,
    /// Start of the first candle (RFC 3339); default: the latest `limit` candles before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End of the range, exclusive (RFC 3339); default: now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// At most this many candles (default 500, at most 5000); without `from`, the latest ones.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// An OHLCV candle.
#[derive(Debug, Serialize, ToSchema)]
pub struct Candle {
    pub window_start: String,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub quote_volume: f64,
    pub vwap: Option<f64>,
    pub trade_count: i64,
    pub buy_volume: f64,
    pub sell_volume: f64,
    /// No further revision will change it.
    pub is_final: bool,
    /// `marts` (built from the lake's trades) or `stream` (the stream-processor's candles, for
    /// the time since the last marts build).
    pub source: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CandlePage {
    pub instrument: String,
    pub interval: String,
    /// Where the marts end: later candles are the stream's.
    pub marts_until: Option<String>,
    pub candles: Vec<Candle>,
}

/// Candles of one instrument, revisions resolved to the latest.
#[utoipa::path(get, path = "/v1/candles", tag = "market", params(CandleQuery),
    responses((status = 200, body = CandlePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn candles(
    State(api): State<Shared>,
    Params(query): Params<CandleQuery>,
) -> Result<Json<CandlePage>, ApiError> {
    api.known(&query.instrument)?;
    let interval = query.interval.unwrap_or(Interval::OneMinute);
    let width = interval.micros();
    let limit = params::limit(query.limit, 500, 5000)?;
    let now = tickflow_service::now_us();
    // Without `from`: the latest `limit` candles before `to`, looking back as far as a range may.
    let (from, to) = params::range(
        query.from.as_deref(),
        query.to.as_deref(),
        now - now % width + width,
        api.max_range_us(),
        api.max_range_us(),
    )?;
    let latest_first = query.from.is_none();
    let generation = api.warehouse.current();
    let cut = generation.cut_us;
    let (sql, params) = match interval.mart() {
        None => {
            let files = api.fresh_files(LakeTable::Candles, Some(&query.instrument), from, to).await?;
            let (source, files) = lake_source(&files, LakeTable::Candles, 6);
            let params = vec![
                Value::Text(query.instrument.clone()),
                Value::BigInt(width),
                Value::BigInt(from),
                Value::BigInt(to),
                Value::BigInt(limit),
            ];
            (sql::stream_candles(&source, latest_first), params.into_iter().chain(files).collect::<Vec<_>>())
        }
        Some(mart) => {
            let bucket_cut = if cut == i64::MIN { cut } else { cut - cut.rem_euclid(width) };
            let files = api.fresh_files(LakeTable::Candles, Some(&query.instrument), cut.max(from - width), to).await?;
            let (source, files) = lake_source(&files, LakeTable::Candles, 8);
            let params = vec![
                Value::Text(query.instrument.clone()),
                Value::BigInt(cut),
                Value::BigInt(bucket_cut),
                Value::BigInt(width),
                Value::BigInt(from),
                Value::BigInt(to),
                Value::BigInt(limit),
            ];
            (sql::merged_candles(mart, &source, latest_first), params.into_iter().chain(files).collect::<Vec<_>>())
        }
    };
    let mut candles = api
        .warehouse
        .query(&generation, sql, params, |row| {
            Ok(Candle {
                window_start: rfc3339(row.get(0)?),
                open: row.get(1)?,
                high: row.get(2)?,
                low: row.get(3)?,
                close: row.get(4)?,
                volume: row.get(5)?,
                quote_volume: row.get(6)?,
                vwap: row.get(7)?,
                trade_count: row.get(8)?,
                buy_volume: row.get(9)?,
                sell_volume: row.get(10)?,
                is_final: row.get(11)?,
                source: row.get(12)?,
            })
        })
        .await?;
    if latest_first {
        candles.reverse();
    }
    let interval_name =
        serde_json::to_value(interval).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Ok(Json(CandlePage {
        instrument: query.instrument,
        interval: interval_name,
        marts_until: (cut != i64::MIN).then(|| rfc3339(cut)),
        candles,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TradeQuery {
    pub instrument: String,
    /// Event time from (RFC 3339); default: an hour before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Event time to, exclusive (RFC 3339); default: now.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Trades per page (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// An accepted, deduplicated trade.
#[derive(Debug, Serialize, ToSchema)]
pub struct Trade {
    pub trade_key: String,
    pub venue: String,
    pub trade_id: String,
    pub price: f64,
    pub size: f64,
    pub side: String,
    pub price_only: bool,
    pub event_time: String,
    pub receive_time: String,
    pub is_late: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TradePage {
    pub trades: Vec<Trade>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Trades of one instrument in event-time order, a page at a time.
#[utoipa::path(get, path = "/v1/trades", tag = "market", params(TradeQuery),
    responses((status = 200, body = TradePage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn trades(State(api): State<Shared>, Params(query): Params<TradeQuery>) -> Result<Json<TradePage>, ApiError> {
    api.known(&query.instrument)?;
    let limit = params::limit(query.limit, 100, 1000)?;
    let (from, to) = params::range(
        query.from.as_deref(),
        query.to.as_deref(),
        tickflow_service::now_us(),
        3_600_000_000,
        api.max_range_us(),
    )?;
    let (after_us, after_key) = match query.cursor.as_deref() {
        None => (i64::MIN, String::new()),
        Some(cursor) => cursor
            .split_once('.')
            .and_then(|(us, key)| Some((us.parse::<i64>().ok()?, key.to_owned())))
            .ok_or_else(|| ApiError::bad("cursor", "not a cursor this API returned"))?,
    };
    let generation = api.warehouse.current();
    let cut = generation.cut_us;
    let files = api.fresh_files(LakeTable::Trades, Some(&query.instrument), cut.max(from), to).await?;
    let (source, files) = lake_source(&files, LakeTable::Trades, 8);
    let params = vec![
        Value::Text(query.instrument.clone()),
        Value::BigInt(cut),
        Value::BigInt(from),
        Value::BigInt(to),
        Value::BigInt(after_us),
        Value::Text(after_key),
        Value::BigInt(limit + 1),
    ];
    let mut rows = api
        .warehouse
        .query(&generation, sql::trades(&source), params.into_iter().chain(files).collect(), |row| {
            let event_us: i64 = row.get(7)?;
            Ok((
                event_us,
                Trade {
                    trade_key: row.get(0)?,
                    venue: row.get(1)?,
                    trade_id: row.get(2)?,
                    price: row.get(3)?,
                    size: row.get(4)?,
                    side: row.get(5)?,
                    price_only: row.get(6)?,
                    event_time: rfc3339(event_us),
                    receive_time: rfc3339(row.get(8)?),
                    is_late: row.get(9)?,
                },
            ))
        })
        .await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more.then(|| rows.last().map(|(us, t)| format!("{us}.{}", t.trade_key))).flatten();
    Ok(Json(TradePage { trades: rows.into_iter().map(|(_, t)| t).collect(), next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnomalyQuery {
    /// One instrument (default: all).
    pub instrument: Option<String>,
    /// `volume_spike` or `price_jump` (default: both).
    #[param(pattern = "^(volume_spike|price_jump)$")]
    pub kind: Option<String>,
    /// Windows from (RFC 3339); default: a day before `to`.
    #[param(format = DateTime)]
    pub from: Option<String>,
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Newest first, at most this many (default 200, at most 5000).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// A window whose volume or price move stood out from its recent past, with the evidence.
#[derive(Debug, Serialize, ToSchema)]
pub struct Anomaly {
    pub instrument_id: String,
    pub window_start: String,
    pub window_seconds: i64,
    pub kind: String,
    pub observed: f64,
    pub baseline_mean: f64,
    pub baseline_std: f64,
    pub score: f64,
    pub threshold: f64,
    pub lookback_windows: i32,
    pub source: String,
}

/// Anomalies, newest first.
#[utoipa::path(get, path = "/v1/anomalies", tag = "market", params(AnomalyQuery),
    responses((status = 200, body = Vec<Anomaly>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn anomalies(
    State(api): State<Shared>,
    Params(query): Params<AnomalyQuery>,
) -> Result<Json<Vec<Anomaly>>, ApiError> {
    api.known_if_given(query.instrument.as_deref())?;
    if let Some(kind) = &query.kind
        && !["volume_spike", "price_jump"].contains(&kind.as_str())
    {
        return Err(ApiError::bad("kind", "volume_spike or price_jump"));
    }
    let limit = params::limit(query.limit, 200, 5000)?;
    let (from, to) = params::range(
        query.from.as_deref(),
        query.to.as_deref(),
        tickflow_service::now_us(),
        86_400_000_000,
        api.max_range_us(),
    )?;
    let generation = api.warehouse.current();
    let cut = generation.cut_us;
    let files = api.fresh_files(LakeTable::Anomalies, query.instrument.as_deref(), cut.max(from), to).await?;
    let (source, files) = lake_source(&files, LakeTable::Anomalies, 7);
    let params = vec![
        Value::BigInt(cut),
        optional_text(&query.instrument),
        optional_text(&query.kind),
        Value::BigInt(from),
        Value::BigInt(to),
        Value::BigInt(limit),
    ];
    let rows = api
        .warehouse
        .query(&generation, sql::anomalies(&source), params.into_iter().chain(files).collect(), |row| {
            Ok(Anomaly {
                instrument_id: row.get(0)?,
                window_start: rfc3339(row.get(1)?),
                window_seconds: row.get(2)?,
                kind: row.get(3)?,
                observed: row.get(4)?,
                baseline_mean: row.get(5)?,
                baseline_std: row.get(6)?,
                score: row.get(7)?,
                threshold: row.get(8)?,
                lookback_windows: row.get(9)?,
                source: row.get(10)?,
            })
        })
        .await?;
    Ok(Json(rows))
}

/// How daily statistics are ordered.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatsOrder {
    /// Highest realized volatility first.
    Volatility,
    /// Highest return first.
    Gainers,
    /// Lowest return first.
    Losers,
    /// Highest volume first.
    Volume,
    /// By instrument id.
    Instrument,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailyStatsQuery {
    /// UTC date (YYYY-MM-DD); default: today.
    #[param(format = Date)]
    pub date: Option<String>,
    #[param(inline)]
    pub order: Option<StatsOrder>,
    /// At most this many instruments (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

/// One instrument's day: open, close, return, realized volatility, VWAP, volume, trades.
#[derive(Debug, Serialize, ToSchema)]
pub struct DailyStat {
    pub instrument_id: String,
    pub date: String,
    pub open: f64,
    pub close: f64,
    pub daily_return: f64,
    /// Square root of the sum of squared trade-to-trade log returns.
    pub realized_volatility: f64,
    pub vwap: Option<f64>,
    pub volume: f64,
    pub trade_count: i64,
    /// `marts` for a day the marts hold whole, `marts+lake` for today.
    pub source: String,
}

/// Per-instrument statistics of a day: the market overview, top movers, most volatile.
#[utoipa::path(get, path = "/v1/stats/daily", tag = "market", params(DailyStatsQuery),
    responses((status = 200, body = Vec<DailyStat>), (status = 400, body = ErrorBody)))]
pub async fn daily_stats(
    State(api): State<Shared>,
    Params(query): Params<DailyStatsQuery>,
) -> Result<Json<Vec<DailyStat>>, ApiError> {
    let limit = params::limit(query.limit, 100, 1000)?;
    let now = tickflow_service::now_us();
    let date = params::date("date", query.date.as_deref())?.unwrap_or_else(|| utc_date(now));
    let order = query.order.unwrap_or(StatsOrder::Instrument);
    let generation = api.warehouse.current();
    let cut = generation.cut_us;
    let day_start = date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros()).unwrap_or_default();
    let day_end = day_start + 86_400_000_000;
    let whole_in_marts = cut != i64::MIN && day_end <= cut;
    let day = Value::Text(date.to_string());
    let (sql, params) = if whole_in_marts {
        (sql::daily_stats_from_marts(order), vec![day, Value::BigInt(limit)])
    } else {
        let files = api.fresh_files(LakeTable::Trades, None, cut.max(day_start), day_end - 1).await?;
        let (source, files) = lake_source(&files, LakeTable::Trades, 4);
        let params = vec![day, Value::BigInt(cut), Value::BigInt(limit)];
        (sql::daily_stats_from_trades(&source, order), params.into_iter().chain(files).collect())
    };
    let rows = api
        .warehouse
        .query(&generation, sql, params, |row| {
            Ok(DailyStat {
                instrument_id: row.get(0)?,
                date: row.get(1)?,
                open: row.get(2)?,
                close: row.get(3)?,
                daily_return: row.get(4)?,
                realized_volatility: row.get(5)?,
                vwap: row.get(6)?,
                volume: row.get(7)?,
                trade_count: row.get(8)?,
                source: row.get(9)?,
            })
        })
        .await?;
    Ok(Json(rows))
}
