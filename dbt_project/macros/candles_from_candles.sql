{#
  Longer candles rolled up from 1 min candles: windows [start, start + length) labelled by their
  start in UTC. The same numbers as recomputing from trades (open is the earliest minute's open,
  close the latest minute's close, VWAP the quote volume over the volume), from about 1/20 of the
  rows.
#}
{% macro candles_from_candles(candles, window_seconds) %}
select
    instrument_id,
    {{ window_start('window_start', window_seconds) }} as window_start,
    {{ window_seconds }} as window_seconds,
    first(open order by window_start) as open,
    max(high) as high,
    min(low) as low,
    last(close order by window_start) as close,
    sum(volume)::decimal(38, 8) as volume,
    sum(quote_volume)::decimal(38, 16) as quote_volume,
    sum(quote_volume)::double / sum(volume)::double as vwap,
    sum(trade_count)::bigint as trade_count,
    sum(buy_volume)::decimal(38, 8) as buy_volume,
    sum(sell_volume)::decimal(38, 8) as sell_volume,
    min(first_event_time) as first_event_time,
    max(last_event_time) as last_event_time,
    min(window_date) as window_date
from {{ candles }}
{%- if is_incremental() %}
where window_date >= {{ incremental_from_date('window_date') }}
{%- endif %}
group by all
{% endmacro %}
