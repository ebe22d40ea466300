-- One row per unrecoverable feed gap: the instrument, the time range its missing trades lie in,
-- and, where the venue numbers its trades, which and how many are missing.
select
    gap_key,
    venue,
    venue_symbol,
    instrument_id,
    reason,
    gap_start,
    gap_end,
    epoch_us(gap_end) - epoch_us(gap_start) as gap_duration_us,
    first_missing_trade_id,
    last_missing_trade_id,
    missing_trades,
    detected_at,
    gap_date
from {{ ref('stg_lake__feed_gaps') }}
qualify row_number() over (partition by gap_key order by detected_at) = 1
