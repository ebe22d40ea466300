select
    instrument_id || '|' || window_start || '|' || window_seconds || '|' || kind as anomaly_id,
    *
from {{ ref('stg_lake__anomalies') }}
qualify row_number() over (partition by instrument_id, window_start, window_seconds, kind order by score desc) = 1
