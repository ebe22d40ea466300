-- Per instrument and minute: trades kept, lake rows dropped as duplicates here, and records
-- rejected upstream by reason (late trades are the `late_event` rejections).
with lake_rows as (
    select instrument_id, date_trunc('minute', event_time) as minute, count(*) as lake_rows
    from {{ ref('stg_lake__trades') }}
    group by all
),

kept as (
    select instrument_id, date_trunc('minute', event_time) as minute, count(*) as trades
    from {{ ref('fct_trades') }}
    group by all
),

rejections as (
    select
        symbol as instrument_id,
        date_trunc('minute', rejected_at) as minute,
        reason,
        count(*) as rejected
    from {{ ref('stg_lake__dead_letters') }}
    group by all
),

rejections_by_minute as (
    select
        instrument_id,
        minute,
        sum(rejected) as rejected,
        sum(rejected) filter (where reason = 'late_event') as late,
        map_from_entries(list({'key': reason, 'value': rejected} order by reason)) as rejected_by_reason
    from rejections
    group by all
)

select
    coalesce(l.instrument_id, r.instrument_id) as instrument_id,
    coalesce(l.minute, r.minute) as minute,
    coalesce(k.trades, 0) as trades,
    coalesce(l.lake_rows - k.trades, 0) as duplicates_removed,
    coalesce(r.late, 0) as late,
    coalesce(r.rejected, 0) as rejected,
    coalesce(r.rejected_by_reason, map()) as rejected_by_reason
from lake_rows as l
left join kept as k using (instrument_id, minute)
full outer join rejections_by_minute as r
    on l.instrument_id is not distinct from r.instrument_id and l.minute = r.minute
