with source as (
    {{ lake_scan('klines') }}
)

select
    instrument_id || '|' || venue || '|' || interval || '|' || epoch_us(open_time_us) as kline_id,
    instrument_id,
    venue,
    venue_symbol,
    interval,
    open_time_us as open_time,
    close_time_us as close_time,
    open,
    high,
    low,
    close,
    volume,
    quote_volume,
    trade_count,
    taker_buy_volume,
    taker_buy_quote_volume,
    date as open_date
from source
