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
    -- stream-processor's, the venue for the producer's (a frame it could not read names none),
    -- whatever key a record the lake-writer itself rejected had (an instrument only if it is one).
    case
        when stage = 'producer' then null
        when stage = 'lake-writer' and symbol not in (select instrument_id from {{ ref('instruments') }}) then null
        else nullif(symbol, '')
    end as instrument_id,
    case when stage = 'producer' then nullif(symbol, '') end as venue,
    date as rejected_date
from source
