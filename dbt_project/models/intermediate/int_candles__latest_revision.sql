-- The stream's candles with each window's revisions resolved to the latest one, which is the
-- final one once the window is closed (its `is_final` says so).
select *
from {{ ref('stg_lake__candles') }}
qualify row_number() over (partition by instrument_id, window_start, window_seconds order by revision desc) = 1
