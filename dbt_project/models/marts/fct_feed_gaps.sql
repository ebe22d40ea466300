-- One row per unrecoverable feed gap: the instrument, the time range its missing trades lie in,
-- and, where the venue numbers its trades, which and how many are missing.
select
    *,
    epoch_us(gap_end) - epoch_us(gap_start) as gap_duration_us
from {{ ref('int_feed_gaps__deduplicated') }}
