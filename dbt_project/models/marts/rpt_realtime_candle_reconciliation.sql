-- The stream's final 1-minute candles against the candles recomputed from the lake's trades.
-- Compared: every window up to a minute before the latest window the stream finalized. Later
-- windows may still be open in the stream, and while the pipeline runs the newest final candle
-- can reach the lake a flush before the last of its trades.
with realtime as (
    select instrument_id, window_start, trade_count, volume
    from {{ ref('stg_lake__candles') }}
    where is_final and window_seconds = 60
    qualify row_number() over (partition by instrument_id, window_start order by revision desc) = 1
),

compared as (
    select instrument_id, window_start, trade_count, volume
    from realtime
    where window_start < (select max(window_start) from realtime)
),

batch as (
    select instrument_id, window_start, trade_count, volume
    from {{ ref('fct_candles_1m') }}
    where window_start < (select max(window_start) from realtime)
)

select
    coalesce(r.instrument_id, b.instrument_id) as instrument_id,
    coalesce(r.window_start, b.window_start) as window_start,
    r.trade_count as realtime_trade_count,
    b.trade_count as batch_trade_count,
    r.volume as realtime_volume,
    b.volume as batch_volume,
    r.trade_count is not distinct from b.trade_count and r.volume is not distinct from b.volume as matches
from compared as r
full outer join batch as b using (instrument_id, window_start)
