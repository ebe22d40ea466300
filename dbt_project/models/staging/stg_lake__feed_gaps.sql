with source as (
    {{ lake_scan('feed_gaps') }}
)

select
    gap_key,
    venue,
    venue_symbol,
    instrument_id,
    reason,
    from_us as gap_start,
    to_us as gap_end,
    first_missing_trade_id,
    last_missing_trade_id,
    missing_trades,
    detected_at_us as detected_at,
    date as gap_date
from source
