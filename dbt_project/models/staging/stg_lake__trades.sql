with source as (
    {{ lake_scan('trades') }}
)

select
    trade_key,
    venue,
    venue_symbol,
    instrument_id,
    trade_id,
    price,
    size,
    side,
    conditions,
    price_only,
    event_time_us as event_time,
    receive_time_us as receive_time,
    asset_class,
    exchange,
    quote_currency,
    session,
    trade_value,
    price_change,
    price_change_bps,
    coalesce(is_late, false) as is_late,
    date as trade_date
from source
