//! Query parameters: extraction with errors that name the parameter, times, intervals and caps.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;

/// `Query<T>` whose rejection is a JSON 400 naming the parameter.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let detail = text.split_once("query string: ").map_or(text.as_str(), |(_, rest)| rest);
                if let Some(field) = detail.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()) {
                    return Err(ApiError::bad(field, "is required"));
                }
                let (parameter, message) = detail.split_once(": ").unwrap_or(("query", detail));
                Err(ApiError::bad(parameter, message))
            }
        }
    }
}

/// Candle widths the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Interval {
    #[serde(rename = "1s")]
    OneSecond,
    #[serde(rename = "1m")]
    OneMinute,
    #[serde(rename = "5m")]
    FiveMinutes,
    #[serde(rename = "1h")]
    OneHour,
    #[serde(rename = "1d")]
    OneDay,
}

impl Interval {
    pub fn micros(self) -> i64 {
        match self {
            Interval::OneSecond => 1_000_000,
            Interval::OneMinute => 60_000_000,
            Interval::FiveMinutes => 300_000_000,
            Interval::OneHour => 3_600_000_000,
            Interval::OneDay => 86_400_000_000,
        }
    }

    /// The mart of this width (none for 1s: the stream's candles only).
    pub fn mart(self) -> Option<&'static str> {
        match self {
            Interval::OneSecond => None,
            Interval::OneMinute => Some("fct_candles_1m"),
            Interval::FiveMinutes => Some("fct_candles_5m"),
            Interval::OneHour => Some("fct_candles_1h"),
            Interval::OneDay => Some("fct_candles_1d"),
        }
    }
}

/// An RFC 3339 time parameter in microseconds since the epoch.
pub fn time(parameter: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| {
        ApiError::bad(parameter, format!("{e}; expected an RFC 3339 time such as 2026-01-31T12:00:00Z"))
    })?;
    Ok(Some(parsed.with_timezone(&Utc).timestamp_micros()))
}

/// A `YYYY-MM-DD` date parameter.
pub fn date(parameter: &str, value: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    let Some(text) = value else { return Ok(None) };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(Some)
        .map_err(|e| ApiError::bad(parameter, format!("{e}; expected a date such as 2026-01-31")))
}

/// A page size: `default` when absent, 400 above `max` or at 0.
pub fn limit(value: Option<u32>, default: u32, max: u32) -> Result<i64, ApiError> {
    match value.unwrap_or(default) {
        0 => Err(ApiError::bad("limit", "must be at least 1")),
        n if n > max => Err(ApiError::bad("limit", format!("at most {max}"))),
        n => Ok(i64::from(n)),
    }
}

/// A time range `[from, to)`: `to` defaults to `default_to`, `from` to `to - default_span`
/// (at most `max_span`); 400 when `from` is not before `to` or the range is longer than `max_span`.
pub fn range(
    from: Option<&str>,
    to: Option<&str>,
    default_to: i64,
    default_span: i64,
    max_span: i64,
) -> Result<(i64, i64), ApiError> {
    let to = time("to", to)?.unwrap_or(default_to);
    let from = time("from", from)?.unwrap_or(to.saturating_sub(default_span.min(max_span)));
    if from >= to {
        return Err(ApiError::bad("from", "must be before to"));
    }
    if to.saturating_sub(from) > max_span {
        return Err(ApiError::bad("from", format!("the range may span at most {} hours", max_span / 3_600_000_000)));
    }
    Ok((from, to))
}

/// Microseconds since the epoch as RFC 3339 (UTC, microsecond precision).
pub fn rfc3339(us: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_default_and_cap() {
        let hour = 3_600_000_000;
        assert_eq!(range(None, None, 10 * hour, hour, 2 * hour).ok(), Some((9 * hour, 10 * hour)));
        let from = range(Some("1970-01-01T01:00:00Z"), Some("1970-01-01T04:00:00Z"), 0, hour, 2 * hour);
        assert!(matches!(from, Err(ApiError::BadParameter { ref parameter, .. }) if parameter == "from"));
        let reversed = range(Some("1970-01-01T02:00:00Z"), Some("1970-01-01T01:00:00Z"), 0, hour, 2 * hour);
        assert!(matches!(reversed, Err(ApiError::BadParameter { .. })));
        assert!(
            matches!(time("to", Some("yesterday")), Err(ApiError::BadParameter { ref parameter, .. }) if parameter == "to")
        );
        assert_eq!(time("to", Some("1970-01-01T00:00:01+01:00")).ok().flatten(), Some(1_000_000 - hour));
    }

    #[test]
    fn limits_are_capped_not_clamped() {
        assert_eq!(limit(None, 100, 1000).ok(), Some(100));
        assert!(limit(Some(1001), 100, 1000).is_err());
        assert!(limit(Some(0), 100, 1000).is_err());
        assert_eq!(rfc3339(1_700_000_000_000_000), "2023-11-14T22:13:20.000000Z");
    }
}
