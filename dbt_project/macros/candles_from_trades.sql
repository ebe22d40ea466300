{#
  OHLCV candles of `window_seconds` from deduplicated trades, windows [start, start + length)
  labelled by their start in UTC. Price-only updates (Finnhub v = 0) set no candle, as in the
  stream. Open and close are the first and last trade by event time (ties by identity).
#}
{% macro candles_from_trades(trades, window_seconds) %}
select
    instrument_id,
    {{ window_start('event_time', window_seconds) }} as window_start,
    {{ window_seconds }} as window_seconds,
    first(price order by event_time, trade_key) as open,
    max(price) as high,
    min(price) as low,
    last(price order by event_time, trade_key) as close,
    sum(size)::decimal(38, 8) as volume,
    sum(trade_value)::decimal(38, 16) as quote_volume,
    sum(trade_value)::double / sum(size)::double as vwap,
    count(*) as trade_count,
    coalesce(sum(size) filter (where side = 'buy'), 0)::decimal(38, 8) as buy_volume,
    coalesce(sum(size) filter (where side = 'sell'), 0)::decimal(38, 8) as sell_volume,
    min(event_time) as first_event_time,
    max(event_time) as last_event_time,
    min(trade_date) as window_date
from {{ trades }}
where not price_only
{%- if is_incremental() %}
  and trade_date >= {{ incremental_from_date('window_date') }}
{%- endif %}
group by all
{% endmacro %}
