{#
  The start, in UTC, of the `window_seconds` window [start, start + length) that `time_column`
  falls in: the one bucketing rule of every candle mart.
#}
{% macro window_start(time_column, window_seconds) -%}
make_timestamp(epoch_us({{ time_column }}) // {{ window_seconds * 1000000 }} * {{ window_seconds * 1000000 }})::timestamptz
{%- endmacro %}
