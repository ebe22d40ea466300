with source as (
    {{ lake_scan('dead_letters') }}
)

select
    reason,
    detail,
    stage,
    source_topic,
    source_partition,
    source_offset,
    rejected_at_us as rejected_at,
    original_bytes,
    nullif(symbol, '') as symbol,
    date as rejected_date
from source
