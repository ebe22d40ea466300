-- One row per anomaly (kind per instrument and window): the lake holds a replayed batch's
-- anomalies again when a lake-writer was interrupted mid-batch before its marker was pruned.
select
    instrument_id || '|' || window_start || '|' || window_seconds || '|' || kind as anomaly_id,
    *
from {{ ref('stg_lake__anomalies') }}
qualify row_number() over (partition by instrument_id, window_start, window_seconds, kind order by score desc) = 1
