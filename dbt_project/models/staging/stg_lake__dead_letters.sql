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
    -- The lake-writer files a dead letter under its record key: the instrument for the
    -- stream-processor's, the venue for the producer's (a frame it could not read names none).
    case when stage = 'producer' then null else nullif(symbol, '') end as instrument_id,
    case when stage = 'producer' then nullif(symbol, '') end as venue,
    date as rejected_date
from source
