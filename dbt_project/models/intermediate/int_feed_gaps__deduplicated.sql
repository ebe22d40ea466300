-- One row per reported feed gap (gap_key), the earliest report of it.
select *
from {{ ref('stg_lake__feed_gaps') }}
qualify row_number() over (partition by gap_key order by detected_at) = 1
