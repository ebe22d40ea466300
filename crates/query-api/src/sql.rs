//! The SQL of every endpoint: pure text builders. Request values are always bound as `$n`
//! parameters; only names chosen by the code (a mart, a lake scan, an ORDER BY) are spliced in.
//!
//! The marts hold everything up to their end, the *cut* (`$cut`, the start of the minute of
//! their latest trade); the lake's rows from the cut on are read from the files written since,
//! so every answer is complete up to the lake-writer's last flush.

use crate::api::market::StatsOrder;

fn direction(latest_first: bool) -> &'static str {
    if latest_first { "desc" } else { "asc" }
}

const CANDLE_COLUMNS: &str = "open::double as open, high::double as high, low::double as low, close::double as close, \
     volume::double as volume, quote_volume::double as quote_volume, trade_count, \
     buy_volume::double as buy_volume, sell_volume::double as sell_volume";

const CANDLE_OUTPUT: &str = "ws, open, high, low, close, volume, quote_volume, \
     case when volume > 0 then quote_volume / volume end as vwap, trade_count, buy_volume, sell_volume, is_final, source";

/// The stream's candles of one width, latest revision each.
/// `$1` instrument, `$2` width (µs), `$3` from, `$4` to, `$5` limit, `$6` files.
pub fn stream_candles(source: &str, latest_first: bool) -> String {
    format!(
        "select {CANDLE_OUTPUT} from (
           select epoch_us(window_start_us) as ws, {CANDLE_COLUMNS}, is_final, 'stream' as source
           from {source}
           where instrument_id = $1 and window_length_us = $2
             and epoch_us(window_start_us) >= $3 and epoch_us(window_start_us) < $4
           qualify row_number() over (partition by window_start_us order by revision desc) = 1)
         order by ws {} limit $5",
        direction(latest_first)
    )
}

/// Candles of a mart's width: the mart's rows before the cut's bucket, then buckets rolled up
/// from 1-minute candles (the 1-minute mart before the cut, the stream's from it on).
/// `$1` instrument, `$2` cut, `$3` the cut's bucket, `$4` width, `$5` from, `$6` to, `$7` limit, `$8` files.
pub fn merged_candles(mart: &str, source: &str, latest_first: bool) -> String {
    format!(
        "with stream as (
           select epoch_us(window_start_us) as minute_us, {CANDLE_COLUMNS}, is_final, true as from_stream
           from {source}
           where instrument_id = $1 and window_length_us = 60000000
             and epoch_us(window_start_us) >= greatest($2, $5) and epoch_us(window_start_us) < $6
           qualify row_number() over (partition by window_start_us order by revision desc) = 1
         ),
         minutes as (
           select epoch_us(window_start) as minute_us, {CANDLE_COLUMNS}, true as is_final, false as from_stream
           from marts.main.fct_candles_1m
           where instrument_id = $1 and epoch_us(window_start) >= greatest($3, $5) and epoch_us(window_start) < $2
           union all
           select * from stream
         ),
         final_until as (
           select coalesce(max(minute_us) filter (where is_final), -9000000000000000000) + 60000000 as until from minutes
         ),
         rolled as (
           select bucket as ws, arg_min(open, minute_us) as open, max(high) as high, min(low) as low,
                  arg_max(close, minute_us) as close, sum(volume) as volume, sum(quote_volume) as quote_volume,
                  sum(trade_count)::bigint as trade_count, sum(buy_volume) as buy_volume, sum(sell_volume) as sell_volume,
                  bool_and(is_final) and bucket + $4 <= (select until from final_until) as is_final,
                  case when bool_or(from_stream) then 'stream' else 'marts' end as source
           from (select *, minute_us // $4 * $4 as bucket from minutes)
           group by bucket
         ),
         batch as (
           select epoch_us(window_start) as ws, {CANDLE_COLUMNS}, true as is_final, 'marts' as source
           from marts.main.{mart}
           where instrument_id = $1 and epoch_us(window_start) < $3 and epoch_us(window_start) >= $5
         )
         select {CANDLE_OUTPUT}
         from (select * from batch union all select * from rolled)
         where ws >= $5 and ws < $6
         order by ws {} limit $7",
        direction(latest_first)
    )
}

/// One page of trades after a cursor. `$1` instrument, `$2` cut, `$3` from, `$4` to,
/// `$5`/`$6` the cursor's event time and trade key, `$7` rows, `$8` files.
pub fn trades(source: &str) -> String {
    format!(
        "with lake as (
           select trade_key, venue, trade_id, price::double as price, size::double as size, side, price_only,
                  epoch_us(event_time_us) as event_us, epoch_us(receive_time_us) as receive_us, coalesce(is_late, false) as is_late
           from {source}
           where instrument_id = $1 and epoch_us(event_time_us) >= greatest($2, $3) and epoch_us(event_time_us) < $4
           qualify row_number() over (partition by trade_key order by receive_time_us) = 1
         ),
         batch as (
           select trade_key, venue, trade_id, price::double as price, size::double as size, side, price_only,
                  epoch_us(event_time) as event_us, epoch_us(receive_time) as receive_us, coalesce(is_late, false) as is_late
           from marts.main.fct_trades
           where instrument_id = $1 and epoch_us(event_time) >= $3 and epoch_us(event_time) < least($2, $4)
         )
         select * from (select * from batch union all select * from lake)
         where event_us > $5 or (event_us = $5 and trade_key > $6)
         order by event_us, trade_key
         limit $7"
    )
}

/// Anomalies, newest first. `$1` cut, `$2` instrument or null, `$3` kind or null, `$4` from,
/// `$5` to, `$6` limit, `$7` files.
pub fn anomalies(source: &str) -> String {
    format!(
        "select * from (
           select instrument_id, epoch_us(window_start) as ws, window_seconds::bigint as window_seconds, kind, observed,
                  baseline_mean, baseline_std, score, threshold, lookback_windows, 'marts' as source
           from marts.main.fct_anomalies
           where epoch_us(window_start) < $1
           union all
           select *, 'stream' from (
             select instrument_id, epoch_us(window_start_us), window_length_us // 1000000, kind, observed,
                    baseline_mean, baseline_std, score, threshold, lookback_windows
             from {source}
             where epoch_us(window_start_us) >= $1
             qualify row_number() over (partition by instrument_id, window_start_us, window_length_us, kind order by score desc) = 1)
         )
         where ($2::varchar is null or instrument_id = $2) and ($3::varchar is null or kind = $3) and ws >= $4 and ws < $5
         order by ws desc, instrument_id, kind
         limit $6"
    )
}

fn stats_order(order: StatsOrder) -> &'static str {
    match order {
        StatsOrder::Volatility => "realized_volatility desc, instrument_id",
        StatsOrder::Gainers => "daily_return desc, instrument_id",
        StatsOrder::Losers => "daily_return asc, instrument_id",
        StatsOrder::Volume => "volume desc, instrument_id",
        StatsOrder::Instrument => "instrument_id",
    }
}

/// A day the marts hold whole. `$1` date, `$2` limit.
pub fn daily_stats_from_marts(order: StatsOrder) -> String {
    format!(
        "select instrument_id, strftime(trade_date, '%Y-%m-%d') as date, open::double as open, close::double as close,
                daily_return, realized_volatility, vwap, volume::double as volume, trade_count, 'marts' as source
         from marts.main.fct_daily_symbol_stats
         where trade_date = $1::date
         order by {} limit $2",
        stats_order(order)
    )
}

/// The marts' trades of the cut's day before the cut, per instrument: first and last price,
/// the sum of squared trade-to-trade log returns, volume, value and count (the parts of
/// fct_daily_symbol_stats' definition that add up). Built once per marts build; `day` and `cut`
/// come from the marts, not from a request.
pub fn day_before_cut(day: &str, cut_us: i64) -> String {
    format!(
        "CREATE TABLE day_before_cut AS
         with trades as (
           select instrument_id, price::double as price, size::double as size, trade_value::double as value,
                  epoch_us(event_time) as event_us, trade_key
           from marts.main.fct_trades
           where trade_date = '{day}'::date and epoch_us(event_time) < {cut_us} and not price_only
         ),
         returns as (
           select *, ln(price / lag(price) over (partition by instrument_id order by event_us, trade_key)) as log_return
           from trades
         )
         select instrument_id, '{day}'::date as trade_date,
                first(price order by event_us, trade_key) as open, last(price order by event_us, trade_key) as close,
                coalesce(sum(log_return * log_return), 0) as squared_returns,
                sum(size) as volume, sum(value) as value, count(*) as trade_count
         from returns
         group by instrument_id"
    )
}

/// `day_before_cut` before the first marts build.
pub const EMPTY_DAY_BEFORE_CUT: &str =
    "CREATE TABLE day_before_cut (instrument_id VARCHAR, trade_date DATE, open DOUBLE,
    close DOUBLE, squared_returns DOUBLE, volume DOUBLE, value DOUBLE, trade_count BIGINT)";

/// Today (or a day the marts end in): fct_daily_symbol_stats' definition over the marts' trades
/// before the cut (summed up in `day_before_cut`) and the lake's from it on. The two parts add
/// up exactly: every marts trade comes before every lake trade, so the day's squared returns are
/// the marts part's, the lake part's and the one return across the cut.
/// `$1` date, `$2` cut, `$3` limit, `$4` files.
pub fn daily_stats_from_trades(source: &str, order: StatsOrder) -> String {
    format!(
        "with lake as (
           select instrument_id, price::double as price, size::double as size, trade_value::double as value,
                  epoch_us(event_time_us) as event_us, trade_key
           from {source}
           where epoch_us(event_time_us) >= $2 and not price_only
           qualify row_number() over (partition by trade_key order by receive_time_us) = 1
         ),
         lake_day as (
           select instrument_id, first(price order by event_us, trade_key) as open, last(price order by event_us, trade_key) as close,
                  coalesce(sum(log_return * log_return), 0) as squared_returns,
                  sum(size) as volume, sum(value) as value, count(*) as trade_count
           from (select *, ln(price / lag(price) over (partition by instrument_id order by event_us, trade_key)) as log_return
                 from lake)
           group by instrument_id
         ),
         day as (
           select instrument_id, coalesce(b.open, l.open) as open, coalesce(l.close, b.close) as close,
                  coalesce(b.squared_returns, 0) + coalesce(l.squared_returns, 0) + coalesce(pow(ln(l.open / b.close), 2), 0)
                    as squared_returns,
                  coalesce(b.volume, 0) + coalesce(l.volume, 0) as volume, coalesce(b.value, 0) + coalesce(l.value, 0) as value,
                  coalesce(b.trade_count, 0) + coalesce(l.trade_count, 0) as trade_count
           from (select * from day_before_cut where trade_date = $1::date) b full outer join lake_day l using (instrument_id)
         )
         select instrument_id, $1::varchar as date, open, close, close / open - 1 as daily_return,
                sqrt(squared_returns) as realized_volatility, value / volume as vwap, volume, trade_count,
                'marts+lake' as source
         from day
         order by {} limit $3",
        stats_order(order)
    )
}

/// Coverage per instrument and minute. `$1` instrument or null, `$2` from, `$3` to, `$4` limit.
pub const COVERAGE: &str = "
    select instrument_id, epoch_us(minute), trades, late_trades, duplicates_removed, rejected::bigint,
           to_json(rejected_by_reason)::varchar, feed_gaps, gap_seconds
    from marts.main.fct_data_coverage
    where ($1::varchar is null or instrument_id = $1) and epoch_us(minute) >= $2 and epoch_us(minute) < $3
    order by minute, instrument_id, trades, rejected
    limit $4";

/// Feed gaps overlapping a range, newest first. `$1` venue or null, `$2` instrument or null,
/// `$3` from, `$4` to, `$5` limit.
pub const FEED_GAPS: &str = "
    select gap_key, venue, venue_symbol, instrument_id, reason, epoch_us(gap_start), epoch_us(gap_end),
           first_missing_trade_id, last_missing_trade_id, missing_trades, epoch_us(detected_at)
    from marts.main.fct_feed_gaps
    where ($1::varchar is null or venue = $1) and ($2::varchar is null or instrument_id = $2)
      and epoch_us(gap_end) >= $3 and epoch_us(gap_start) < $4
    order by gap_start desc, gap_key
    limit $5";

/// Last trade time and trades per venue and instrument on a day. `$1` date, `$2` cut, `$3` files.
pub fn last_trades(source: &str) -> String {
    format!(
        "with batch as (
           select venue, instrument_id, max(epoch_us(event_time)) as last_us, count(*) as trades
           from marts.main.fct_trades where trade_date = $1::date and epoch_us(event_time) < $2 group by all
         ),
         lake as (
           select venue, instrument_id, max(epoch_us(event_time_us)) as last_us, count(distinct trade_key) as trades
           from {source} where epoch_us(event_time_us) >= $2 group by all
         )
         select venue, instrument_id, max(last_us), sum(trades)::bigint
         from (select * from batch union all select * from lake)
         group by all order by venue, instrument_id"
    )
}

/// The marts' realtime-vs-batch candle reconciliation, summed up.
pub const RECONCILIATION: &str = "
    select count(*), count(*) filter (where not matches), coalesce(sum(late_trades), 0)::bigint
    from marts.main.rpt_realtime_candle_reconciliation";
