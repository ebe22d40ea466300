{#
  Candles with their key first: `candle_id` = `<instrument_id>|<window_start>|<window_seconds>`.
#}
{% macro keyed_candles(candles_sql) -%}
select instrument_id || '|' || window_start || '|' || window_seconds as candle_id, *
from ({{ candles_sql }})
{%- endmacro %}
