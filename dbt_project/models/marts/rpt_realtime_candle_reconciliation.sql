-- The stream's final 1-minute candles against the lake's trades. The stream's candles hold the
-- trades that arrived before their window was final; trades that came later are in the lake
-- marked `is_late` and are counted here separately, so a window differs only if the stream
-- really got it wrong. Compared: every window up to a minute before the latest window the
-- stream finalized. Later windows may still be open in the stream, and while the pipeline runs
-- the newest final candle can reach the lake a flush before the last of its trades.
with realtime as (
    select instrument_id, window_start, trade_count, volume
    from {{ ref('int_candles__latest_revision') }}
    where is_final and window_seconds = 60
),

horizon as (
    select max(window_start) as latest_final from realtime
),

compared as (
    select instrument_id, window_start, trade_count, volume
    from realtime
    where window_start < (select latest_final from horizon)
),

trades as (
    select
        instrument_id,
        {{ window_start('event_time', 60) }} as window_start,
        size,
        is_late
    from {{ ref('fct_trades') }}
    where not price_only
),

batch as (
    select
        instrument_id,
        window_start,
        count(*) filter (where not is_late) as trade_count,
        coalesce(sum(size) filter (where not is_late), 0)::decimal(38, 8) as volume,
        count(*) filter (where is_late) as late_trades,
        coalesce(sum(size) filter (where is_late), 0)::decimal(38, 8) as late_volume
    from trades
    where window_start < (select latest_final from horizon)
    group by all
),

final as (
    select
        coalesce(r.instrument_id, b.instrument_id) as instrument_id,
        coalesce(r.window_start, b.window_start) as window_start,
        r.trade_count as realtime_trade_count,
        b.trade_count as batch_trade_count,
        r.volume as realtime_volume,
        b.volume as batch_volume,
        coalesce(b.late_trades, 0) as late_trades,
        coalesce(b.late_volume, 0) as late_volume,
        coalesce(r.trade_count, 0) = coalesce(b.trade_count, 0)
        and coalesce(r.volume, 0) = coalesce(b.volume, 0) as matches
    from compared as r
    full outer join batch as b using (instrument_id, window_start)
)

select * from final
