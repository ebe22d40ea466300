with source as (
    {{ lake_scan('candles') }}
)

select
    instrument_id,
    window_start_us as window_start,
    window_length_us // 1000000 as window_seconds,
    open,
    high,
    low,
    close,
    volume,
    quote_volume,
    vwap,
    trade_count,
    buy_volume,
    sell_volume,
    realized_volatility,
    first_event_time_us as first_event_time,
    last_event_time_us as last_event_time,
    revision,
    is_final,
    date as window_date
from source
