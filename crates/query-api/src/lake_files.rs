//! Which of the lake's Parquet files a request reads: listed through `object_store` (a local
//! folder or `s3://`), by table, UTC date and instrument partition, and by write time, so a
//! request for the part the marts do not hold yet opens only the files written since.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::TryStreamExt;
use object_store::ObjectStore;
use object_store::path::Path;

/// The lake's tables the API reads (their folders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LakeTable {
    Trades,
    Candles,
    Anomalies,
}

impl LakeTable {
    pub fn folder(self) -> &'static str {
        match self {
            LakeTable::Trades => "trades",
            LakeTable::Candles => "candles",
            LakeTable::Anomalies => "anomalies",
        }
    }
}

/// Files a query reads: which table, which days, one instrument or all, written since when.
#[derive(Debug, Clone)]
pub struct FileSelection<'a> {
    pub table: LakeTable,
    pub dates: Vec<NaiveDate>,
    pub instrument: Option<&'a str>,
    /// Only files modified at or after this time (microseconds since the epoch).
    pub modified_since_us: i64,
}

/// The lake, as the API lists it.
#[derive(Debug, Clone)]
pub struct LakeFiles {
    store: Arc<dyn ObjectStore>,
    /// What DuckDB is given in front of a file's location: the lake's absolute folder or its `s3://` URL.
    base: String,
}

impl LakeFiles {
    pub fn open(lake_url: &str) -> anyhow::Result<Self> {
        let store = tickflow_lake::store::open_store(lake_url)?;
        let base = if lake_url.contains("://") && !lake_url.starts_with("file://") {
            lake_url.trim_end_matches('/').to_owned()
        } else {
            let path = lake_url.strip_prefix("file://").unwrap_or(lake_url);
            std::path::absolute(path)?.to_string_lossy().trim_end_matches('/').to_owned()
        };
        Ok(LakeFiles { store, base })
    }

    /// The lake's URL as DuckDB reads it.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The files of `selection`, as paths DuckDB opens, in name order.
    pub async fn list(&self, selection: &FileSelection<'_>) -> anyhow::Result<Vec<String>> {
        let since =
            DateTime::<Utc>::from_timestamp_micros(selection.modified_since_us).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut files = Vec::new();
        for date in &selection.dates {
            let mut prefix = format!("{}/date={date}", selection.table.folder());
            if let Some(instrument) = selection.instrument {
                prefix.push_str(&format!("/symbol={instrument}"));
            }
            let mut listing = self.store.list(Some(&Path::from(prefix)));
            while let Some(meta) = listing.try_next().await? {
                if meta.last_modified >= since && meta.location.as_ref().ends_with(".parquet") {
                    files.push(format!("{}/{}", self.base, meta.location));
                }
            }
        }
        files.sort();
        Ok(files)
    }
}

/// Every UTC date from `from_us` to `to_us` (both inclusive), at most `max_days` of them (the latest).
pub fn dates_between(from_us: i64, to_us: i64, max_days: usize) -> Vec<NaiveDate> {
    let day = |us: i64| DateTime::<Utc>::from_timestamp_micros(us).map(|t| t.date_naive());
    let (Some(first), Some(last)) = (day(from_us.max(0)), day(to_us.max(0))) else { return Vec::new() };
    let mut dates: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    if dates.len() > max_days {
        dates.drain(..dates.len() - max_days);
    }
    dates
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_US: i64 = 86_400_000_000;

    #[test]
    fn dates_cover_the_range_and_keep_the_latest_when_capped() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date");
        let start = 1_700_000_000_000_000; // 2023-11-14T22:13:20Z
        assert_eq!(dates_between(start, start + 1, 5), vec![d("2023-11-14")]);
        assert_eq!(
            dates_between(start, start + 2 * DAY_US, 5),
            vec![d("2023-11-14"), d("2023-11-15"), d("2023-11-16")]
        );
        assert_eq!(dates_between(start, start + 2 * DAY_US, 1), vec![d("2023-11-16")]);
        assert!(dates_between(start, start - DAY_US, 5).is_empty());
    }
}
