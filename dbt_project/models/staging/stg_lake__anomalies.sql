with source as (
    {{ lake_scan('anomalies') }}
)

select
    instrument_id,
    window_start_us as window_start,
    window_length_us // 1000000 as window_seconds,
    kind,
    observed,
    baseline_mean,
    baseline_std,
    score,
    threshold,
    lookback_windows,
    date as window_date
from source
