-- One row per instrument and UTC day for the daily report (the daily-report DAG renders it as
-- HTML): the day's prices and returns (fct_daily_symbol_stats), its anomalies, and how well the
-- day was covered: minutes with trades, late and rejected records, feed gaps. `coverage` is the
-- share of the day's minutes with at least one trade, for instruments that trade around the
-- clock; for the others it is null (their sessions, holidays included, are not modelled).
with anomalies as (
    select
        instrument_id,
        window_start::date as day,
        count(*) as anomalies,
        string_agg(distinct kind, ', ' order by kind) as anomaly_kinds
    from {{ ref('fct_anomalies') }}
    group by all
),

coverage as (
    select
        instrument_id,
        minute::date as day,
        count(*) filter (where trades > 0) as minutes_with_trades,
        sum(late_trades) as late_trades,
        sum(rejected) as rejected,
        count(*) filter (where feed_gaps > 0) as minutes_in_feed_gaps,
        coalesce(sum(gap_seconds), 0) as feed_gap_seconds
    from {{ ref('fct_data_coverage') }}
    where instrument_id is not null
    group by all
),

gaps as (
    select instrument_id, gap_start::date as day, count(*) as feed_gaps, sum(missing_trades) as missing_trades
    from {{ ref('fct_feed_gaps') }}
    group by all
)

select
    s.instrument_id,
    s.trade_date as day,
    d.asset_class,
    d.calendar,
    s.open,
    s.close,
    s.daily_return,
    s.realized_volatility,
    s.vwap,
    s.volume,
    s.trade_count,
    coalesce(a.anomalies, 0) as anomalies,
    coalesce(a.anomaly_kinds, '') as anomaly_kinds,
    coalesce(c.minutes_with_trades, 0) as minutes_with_trades,
    case when d.calendar = 'continuous' then coalesce(c.minutes_with_trades, 0) / 1440.0 end as coverage,
    coalesce(c.late_trades, 0) as late_trades,
    coalesce(c.rejected, 0) as rejected,
    coalesce(g.feed_gaps, 0) as feed_gaps,
    g.missing_trades,
    coalesce(c.minutes_in_feed_gaps, 0) as minutes_in_feed_gaps,
    coalesce(c.feed_gap_seconds, 0) as feed_gap_seconds
from {{ ref('fct_daily_symbol_stats') }} as s
left join {{ ref('dim_instruments') }} as d using (instrument_id)
left join anomalies as a on a.instrument_id = s.instrument_id and a.day = s.trade_date
left join coverage as c on c.instrument_id = s.instrument_id and c.day = s.trade_date
left join gaps as g on g.instrument_id = s.instrument_id and g.day = s.trade_date
