-- The venue's own 1-minute klines (the klines backfill) against tickflow's 1-minute candles built
-- from the live trades (fct_candles_1m), per instrument, venue and minute: the independent check
-- a quant runs first. Compared: the minutes of each instrument and day from its first to its last
-- minute with a trade in the stream, on days with klines. Klines of times the stream was not
-- carrying the instrument (history backfilled from before the pipeline ran, or after it stopped
-- that day) are not compared; rpt_exchange_vs_stream_1d counts them.
--
-- Tolerance (var exchange_check_close_tolerance, 0.005 by default), and why:
-- - `exact` comparisons: the klines come from the venue whose trades the stream carries and the
--   venue publishes trade counts (Binance). Its klines aggregate the very trades its trade stream
--   publishes, so a minute the stream saw whole must agree exactly: trade count, volume, open,
--   high, low, close. The only allowed difference is a minute touched by a recorded feed gap,
--   where the stream may hold fewer trades than the venue (never more).
-- - other comparisons (Alpha Vantage's or Finnhub's bars of the consolidated US tape against the
--   trades Finnhub's stream carries, or Finnhub's view of a Binance pair): the two sides do not see
--   the same set of trades (odd lots, trade conditions, venues outside the feed), so volume and
--   counts are shown, not tested. The closes of a minute they both have must agree within the
--   relative tolerance: 50 bp is far above the spread of the liquid instruments listed, and far
--   below the errors this is meant to catch (a wrong instrument, a wrong scale, split-adjusted
--   prices, minutes shifted by a time-zone mistake in a moving market).
with klines as (
    select instrument_id, venue, open_time as window_start, open_date, open, high, low, close, volume, trade_count
    from {{ ref('stg_lake__klines') }}
    where interval = '1m'
),

backfilled_days as (
    select distinct instrument_id, venue, open_date from klines
),

stream_venue as (
    -- The venue the stream's trades of an instrument come from (one per instrument).
    select instrument_id, min(venue) as stream_venue
    from {{ ref('fct_trades') }}
    group by all
),

stream as (
    select c.instrument_id, d.venue, c.window_start, c.open, c.high, c.low, c.close, c.volume, c.trade_count
    from {{ ref('fct_candles_1m') }} as c
    join backfilled_days as d on d.instrument_id = c.instrument_id and d.open_date = c.window_start::date
),

stream_range as (
    -- Per instrument and day: the minutes the stream was carrying it.
    select instrument_id, window_start::date as day, min(window_start) as first_minute, max(window_start) as last_minute
    from {{ ref('fct_candles_1m') }}
    group by all
),

gap_minutes as (
    select instrument_id, minute from {{ ref('fct_data_coverage') }} where feed_gaps > 0
),

compared as (
    select
        coalesce(k.instrument_id, s.instrument_id) as instrument_id,
        coalesce(k.venue, s.venue) as venue,
        coalesce(k.window_start, s.window_start) as window_start,
        s.trade_count as stream_trade_count,
        k.trade_count as venue_trade_count,
        s.volume as stream_volume,
        k.volume as venue_volume,
        s.open as stream_open, k.open as venue_open,
        s.high as stream_high, k.high as venue_high,
        s.low as stream_low, k.low as venue_low,
        s.close as stream_close, k.close as venue_close
    from klines as k
    full outer join stream as s using (instrument_id, venue, window_start)
    join stream_range as r
        on r.instrument_id = coalesce(k.instrument_id, s.instrument_id)
        and r.day = coalesce(k.window_start, s.window_start)::date
        and coalesce(k.window_start, s.window_start) between r.first_minute and r.last_minute
),

final as (
    select
        c.*,
        v.stream_venue = c.venue and c.venue = 'binance' as exact,
        g.minute is not null as in_feed_gap,
        abs(c.stream_close - c.venue_close)::double / nullif(c.venue_close, 0)::double as close_difference,
        case
            when v.stream_venue = c.venue and c.venue = 'binance' then
                coalesce(c.stream_trade_count, 0) = coalesce(c.venue_trade_count, 0)
                and coalesce(c.stream_volume, 0) = coalesce(c.venue_volume, 0)
                and c.stream_open is not distinct from c.venue_open
                and c.stream_high is not distinct from c.venue_high
                and c.stream_low is not distinct from c.venue_low
                and c.stream_close is not distinct from c.venue_close
            when c.stream_close is null or c.venue_close is null then null
            else abs(c.stream_close - c.venue_close)::double / c.venue_close::double
                 <= {{ var('exchange_check_close_tolerance', 0.005) }}
        end as agrees
    from compared as c
    left join stream_venue as v using (instrument_id)
    left join gap_minutes as g on g.instrument_id = c.instrument_id and g.minute = c.window_start
)

select
    *,
    -- What the test holds: agreement, except that in a recorded feed gap the exact stream may
    -- hold fewer trades than the venue.
    coalesce(agrees, true)
    or (exact and in_feed_gap and coalesce(stream_trade_count, 0) <= coalesce(venue_trade_count, 0)) as within_tolerance
from final
