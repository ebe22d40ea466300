select
    instrument_id || '|' || window_start || '|' || window_seconds || '|' || kind as anomaly_id,
    instrument_id,
    window_start,
    window_seconds,
    kind,
    observed,
    baseline_mean,
    baseline_std,
    score,
    threshold,
    lookback_windows,
    window_date
from {{ ref('stg_lake__anomalies') }}
qualify row_number() over (partition by instrument_id, window_start, window_seconds, kind order by score desc) = 1
