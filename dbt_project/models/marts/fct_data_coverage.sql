-- Per instrument and minute: trades kept, of which late (arrived after the stream's candle was
-- final: in the marts, not in the realtime candles), lake rows dropped as duplicates here,
-- records rejected upstream by reason, and the reported feed gaps that touch the minute, so a
-- minute without trades reads as a gap rather than a quiet market.
with lake_rows as (
    select instrument_id, date_trunc('minute', event_time) as minute, count(*) as lake_rows
    from {{ ref('stg_lake__trades') }}
    group by all
),

kept as (
    select
        instrument_id,
        date_trunc('minute', event_time) as minute,
        count(*) as trades,
        count(*) filter (where is_late) as late_trades
    from {{ ref('fct_trades') }}
    group by all
),

rejections as (
    select
        instrument_id,
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
        map_from_entries(list({'key': reason, 'value': rejected} order by reason)) as rejected_by_reason
    from rejections
    group by all
),

gap_minutes as (
    select
        instrument_id,
        unnest(generate_series(
            date_trunc('minute', gap_start),
            date_trunc('minute', greatest(gap_start, gap_end - interval 1 microsecond)),
            interval 1 minute
        )) as minute,
        gap_start,
        gap_end
    from {{ ref('fct_feed_gaps') }}
),

gaps_by_minute as (
    select
        instrument_id,
        minute,
        count(*) as gaps,
        -- Overlapping gaps count once at most: the share of the minute is capped at all of it.
        least(60.0, sum(
            epoch_us(least(gap_end, minute + interval 1 minute)) - epoch_us(greatest(gap_start, minute))
        ) / 1e6) as gap_seconds
    from gap_minutes
    group by all
),

activity as (
    select
        coalesce(l.instrument_id, r.instrument_id) as instrument_id,
        coalesce(l.minute, r.minute) as minute,
        coalesce(k.trades, 0) as trades,
        coalesce(l.lake_rows - k.trades, 0) as duplicates_removed,
        coalesce(k.late_trades, 0) as late_trades,
        coalesce(r.rejected, 0) as rejected,
        coalesce(r.rejected_by_reason, map()) as rejected_by_reason
    from lake_rows as l
    left join kept as k using (instrument_id, minute)
    full outer join rejections_by_minute as r
        on l.instrument_id is not distinct from r.instrument_id and l.minute = r.minute
)

select
    coalesce(a.instrument_id, g.instrument_id) as instrument_id,
    coalesce(a.minute, g.minute) as minute,
    coalesce(a.trades, 0) as trades,
    coalesce(a.duplicates_removed, 0) as duplicates_removed,
    coalesce(a.late_trades, 0) as late_trades,
    coalesce(a.rejected, 0) as rejected,
    coalesce(a.rejected_by_reason, map()) as rejected_by_reason,
    coalesce(g.gaps, 0) as feed_gaps,
    coalesce(g.gap_seconds, 0) as gap_seconds
from activity as a
full outer join gaps_by_minute as g
    on a.instrument_id is not distinct from g.instrument_id and a.minute = g.minute
