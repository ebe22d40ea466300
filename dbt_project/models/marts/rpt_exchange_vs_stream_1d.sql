-- The venue's klines rolled up to UTC days against tickflow's daily candles from the live trades
-- (fct_candles_1d), per instrument, venue and day with klines, with the minute-level verdicts of
-- rpt_exchange_vs_stream_1m counted, and the venue's minutes outside the stream's range (not
-- compared: the stream was not carrying the instrument then). A day the stream never carried
-- the instrument has null stream columns. The tolerance and its reasons are those of the 1-minute
-- report: exact for Binance's klines of the instruments the stream takes from Binance (outside
-- feed gaps), closes within the relative tolerance otherwise.
with venue_days as (
    select
        instrument_id,
        venue,
        open_date as day,
        first(open order by open_time) as open,
        max(high) as high,
        min(low) as low,
        last(close order by open_time) as close,
        sum(volume)::decimal(38, 8) as volume,
        sum(trade_count) as trade_count,
        count(*) as minutes
    from {{ ref('stg_lake__klines') }}
    where interval = '1m'
    group by all
),

minutes as (
    select
        instrument_id,
        venue,
        window_start::date as day,
        bool_or(exact) as exact,
        count(*) filter (where venue_close is not null) as compared_venue_minutes,
        count(*) filter (where stream_trade_count is not null and venue_trade_count is null
                         and venue_volume is null) as minutes_only_in_stream,
        count(*) filter (where stream_close is null) as minutes_only_at_venue,
        count(*) filter (where in_feed_gap) as minutes_in_feed_gaps,
        count(*) filter (where not within_tolerance) as minutes_outside_tolerance
    from {{ ref('rpt_exchange_vs_stream_1m') }}
    group by all
)

select
    v.instrument_id,
    v.venue,
    v.day,
    m.exact,
    v.minutes as venue_minutes,
    v.minutes - coalesce(m.compared_venue_minutes, 0) as venue_minutes_not_compared,
    s.trade_count as stream_trade_count,
    v.trade_count as venue_trade_count,
    s.volume as stream_volume,
    v.volume as venue_volume,
    s.open as stream_open, v.open as venue_open,
    s.close as stream_close, v.close as venue_close,
    s.high as stream_high, v.high as venue_high,
    s.low as stream_low, v.low as venue_low,
    abs(s.close - v.close)::double / nullif(v.close, 0)::double as close_difference,
    m.minutes_only_in_stream,
    m.minutes_only_at_venue,
    m.minutes_in_feed_gaps,
    m.minutes_outside_tolerance
from venue_days as v
left join {{ ref('fct_candles_1d') }} as s on s.instrument_id = v.instrument_id and s.window_start::date = v.day
left join minutes as m on m.instrument_id = v.instrument_id and m.venue = v.venue and m.day = v.day
