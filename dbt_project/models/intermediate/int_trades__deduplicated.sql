-- The stream already removes duplicates; this is the last line of defence against a record the
-- lake holds twice. One row per trade identity, the first one received. Copies of a trade share
-- its event time, hence its date: partitioning by date too lets a rebuild of recent days read
-- only their partitions of the lake.
select *
from {{ ref('stg_lake__trades') }}
qualify row_number() over (partition by trade_date, trade_key order by receive_time, event_time) = 1
