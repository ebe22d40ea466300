//! DuckDB for the API: the published marts attached read-only, reopened when a build replaces
//! the file, and queries run off the async threads with a time limit.
//!
//! A [`Generation`] is one in-memory DuckDB with `marts.duckdb` attached (or empty marts of the
//! same shape before the first build). When `scripts/marts.sh` renames a new build over the
//! file, [`Warehouse::refresh`] opens a new generation beside the old one and swaps it in;
//! requests already running finish on the old one (its file stays open), new ones use the new
//! one, so no request fails during the swap.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, UNIX_EPOCH};

use duckdb::Connection;
use duckdb::types::Value;

use crate::api::error::ApiError;

/// What identifies one published build: the file's inode, size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    inode: u64,
    size: u64,
    modified_us: i64,
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(path).ok()?;
    let modified_us = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?.as_micros();
    Some(Fingerprint { inode: meta.ino(), size: meta.size(), modified_us: i64::try_from(modified_us).ok()? })
}

/// One opened build of the marts.
#[derive(Debug)]
pub struct Generation {
    connection: Mutex<Connection>,
    fingerprint: Option<Fingerprint>,
    /// Where the marts end: the start of the minute of their latest trade. Trades, candles and
    /// anomalies from here on are read from the lake. `i64::MIN` before the first build.
    pub cut_us: i64,
    /// When the build was published (the file's modification time), if there is one.
    pub published_us: Option<i64>,
}

impl Generation {
    fn open(marts: &Path, settings: &DuckdbSettings) -> anyhow::Result<Self> {
        let connection = Connection::open_in_memory()?;
        connection.execute_batch(&format!(
            "SET threads = {}; SET memory_limit = '{}'; SET enable_object_cache = true; SET enable_progress_bar = false;",
            settings.threads,
            settings.memory_limit.replace('\'', "")
        ))?;
        for statement in &settings.init_sql {
            connection.execute_batch(statement)?;
        }
        connection.execute_batch(EMPTY_LAKE_TABLES)?;
        let found = fingerprint(marts);
        if found.is_some() {
            let quoted = marts.to_string_lossy().replace('\'', "''");
            connection.execute_batch(&format!("ATTACH '{quoted}' AS marts (READ_ONLY)"))?;
        } else {
            connection.execute_batch("ATTACH ':memory:' AS marts")?;
            connection.execute_batch(EMPTY_MARTS)?;
        }
        let cut_us: Option<i64> = connection.query_row(
            "select epoch_us(max(event_time)) // 60000000 * 60000000 from marts.main.fct_trades",
            [],
            |row| row.get(0),
        )?;
        // The day of the cut, summed up per instrument once per build, so that today's
        // statistics read its few rows instead of every trade of the day.
        let cut_us = cut_us.unwrap_or(i64::MIN);
        let cut_day = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(cut_us).map(|t| t.date_naive());
        match cut_day {
            Some(day) => connection.execute_batch(&crate::sql::day_before_cut(&day.to_string(), cut_us))?,
            None => connection.execute_batch(crate::sql::EMPTY_DAY_BEFORE_CUT)?,
        }
        Ok(Generation {
            connection: Mutex::new(connection),
            fingerprint: found,
            cut_us,
            published_us: found.map(|f| f.modified_us),
        })
    }

    /// A connection of this generation's database, for one query.
    fn connect(&self) -> Result<Connection, ApiError> {
        let connection = self.connection.lock().map_err(|_| ApiError::internal("the database lock is poisoned"))?;
        connection.try_clone().map_err(ApiError::from)
    }
}

/// How DuckDB is set up.
#[derive(Debug, Clone)]
pub struct DuckdbSettings {
    pub threads: usize,
    pub memory_limit: String,
    /// Statements run on every new database before the marts are attached (e.g. `LOAD httpfs`
    /// and an S3 secret for an `s3://` lake).
    pub init_sql: Vec<String>,
}

/// The marts as the API reads them, with reopening on a new build.
#[derive(Debug)]
pub struct Warehouse {
    marts: PathBuf,
    settings: DuckdbSettings,
    current: RwLock<Arc<Generation>>,
    query_timeout: Duration,
}

impl Warehouse {
    pub fn open(marts: PathBuf, settings: DuckdbSettings, query_timeout: Duration) -> anyhow::Result<Self> {
        let generation = Generation::open(&marts, &settings)?;
        Ok(Warehouse { marts, settings, current: RwLock::new(Arc::new(generation)), query_timeout })
    }

    pub fn current(&self) -> Arc<Generation> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Opens and swaps in a new generation if the published file changed. `Ok(true)` if it did.
    pub fn refresh(&self) -> anyhow::Result<bool> {
        if fingerprint(&self.marts) == self.current().fingerprint {
            return Ok(false);
        }
        let next = Arc::new(Generation::open(&self.marts, &self.settings)?);
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(true)
    }

    /// Runs `sql` with `params` bound on `generation`, off the async threads, and maps each row.
    /// A query running past the time limit is interrupted and answered 503.
    pub async fn query<T, F>(
        &self,
        generation: &Arc<Generation>,
        sql: String,
        params: Vec<Value>,
        map: F,
    ) -> Result<Vec<T>, ApiError>
    where
        T: Send + 'static,
        F: Fn(&duckdb::Row<'_>) -> duckdb::Result<T> + Send + 'static,
    {
        let connection = generation.connect()?;
        let interrupt = connection.interrupt_handle();
        let work = tokio::task::spawn_blocking(move || -> Result<Vec<T>, ApiError> {
            let mut statement = connection.prepare(&sql)?;
            let rows = statement.query_map(duckdb::params_from_iter(params), |row| map(row))?;
            rows.collect::<Result<Vec<T>, _>>().map_err(ApiError::from)
        });
        match tokio::time::timeout(self.query_timeout, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ApiError::internal(format!("the query task failed: {join}"))),
            Err(_) => {
                interrupt.interrupt();
                Err(ApiError::Timeout { limit_ms: u64::try_from(self.query_timeout.as_millis()).unwrap_or(u64::MAX) })
            }
        }
    }
}

/// Typed empty stand-ins for the lake's tables, read when a request selects no files.
const EMPTY_LAKE_TABLES: &str = "
CREATE TABLE empty_lake_candles (instrument_id VARCHAR, window_start_us TIMESTAMPTZ, window_length_us BIGINT,
  open DECIMAL(18,8), high DECIMAL(18,8), low DECIMAL(18,8), close DECIMAL(18,8), volume DECIMAL(38,8),
  quote_volume DECIMAL(38,16), vwap DOUBLE, trade_count BIGINT, buy_volume DECIMAL(38,8), sell_volume DECIMAL(38,8),
  realized_volatility DOUBLE, revision INTEGER, is_final BOOLEAN);
CREATE TABLE empty_lake_trades (trade_key VARCHAR, venue VARCHAR, venue_symbol VARCHAR, instrument_id VARCHAR,
  trade_id VARCHAR, price DECIMAL(18,8), size DECIMAL(18,8), side VARCHAR, price_only BOOLEAN,
  event_time_us TIMESTAMPTZ, receive_time_us TIMESTAMPTZ, trade_value DECIMAL(38,16), is_late BOOLEAN);
CREATE TABLE empty_lake_anomalies (instrument_id VARCHAR, window_start_us TIMESTAMPTZ, window_length_us BIGINT,
  kind VARCHAR, observed DOUBLE, baseline_mean DOUBLE, baseline_std DOUBLE, score DOUBLE, threshold DOUBLE,
  lookback_windows INTEGER);
";

/// The marts' tables as the API reads them, empty, before the first build is published.
const EMPTY_MARTS: &str = "
CREATE TABLE marts.main.fct_trades (trade_key VARCHAR, venue VARCHAR, venue_symbol VARCHAR, instrument_id VARCHAR,
  trade_id VARCHAR, price DECIMAL(18,8), size DECIMAL(18,8), side VARCHAR, price_only BOOLEAN,
  event_time TIMESTAMPTZ, receive_time TIMESTAMPTZ, trade_value DECIMAL(38,16), is_late BOOLEAN, trade_date DATE);
CREATE TABLE marts.main.fct_candles_1m (instrument_id VARCHAR, window_start TIMESTAMPTZ, open DECIMAL(18,8),
  high DECIMAL(18,8), low DECIMAL(18,8), close DECIMAL(18,8), volume DECIMAL(38,8), quote_volume DECIMAL(38,16),
  vwap DOUBLE, trade_count BIGINT, buy_volume DECIMAL(38,8), sell_volume DECIMAL(38,8));
CREATE TABLE marts.main.fct_candles_5m AS SELECT * FROM marts.main.fct_candles_1m;
CREATE TABLE marts.main.fct_candles_1h AS SELECT * FROM marts.main.fct_candles_1m;
CREATE TABLE marts.main.fct_candles_1d AS SELECT * FROM marts.main.fct_candles_1m;
CREATE TABLE marts.main.fct_anomalies (anomaly_id VARCHAR, instrument_id VARCHAR, window_start TIMESTAMPTZ,
  window_seconds BIGINT, kind VARCHAR, observed DOUBLE, baseline_mean DOUBLE, baseline_std DOUBLE, score DOUBLE,
  threshold DOUBLE, lookback_windows INTEGER);
CREATE TABLE marts.main.fct_daily_symbol_stats (instrument_id VARCHAR, trade_date DATE, open DECIMAL(18,8),
  close DECIMAL(18,8), daily_return DOUBLE, realized_volatility DOUBLE, vwap DOUBLE, volume DECIMAL(38,8), trade_count BIGINT);
CREATE TABLE marts.main.fct_data_coverage (instrument_id VARCHAR, minute TIMESTAMPTZ, trades BIGINT,
  duplicates_removed BIGINT, late_trades BIGINT, rejected HUGEINT, rejected_by_reason MAP(VARCHAR, BIGINT),
  feed_gaps BIGINT, gap_seconds DOUBLE);
CREATE TABLE marts.main.fct_feed_gaps (gap_key VARCHAR, venue VARCHAR, venue_symbol VARCHAR, instrument_id VARCHAR,
  reason VARCHAR, gap_start TIMESTAMPTZ, gap_end TIMESTAMPTZ, first_missing_trade_id VARCHAR,
  last_missing_trade_id VARCHAR, missing_trades BIGINT, detected_at TIMESTAMPTZ, gap_duration_us BIGINT);
CREATE TABLE marts.main.rpt_realtime_candle_reconciliation (instrument_id VARCHAR, window_start TIMESTAMPTZ,
  realtime_trade_count BIGINT, batch_trade_count BIGINT, late_trades BIGINT, matches BOOLEAN);
";
