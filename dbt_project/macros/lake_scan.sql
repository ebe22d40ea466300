{#
  The rows of one lake table. A table with no files yet (no anomalies so far, no rejections)
  is an empty relation with the source's declared columns instead of a read error, so the marts
  build on a young lake too.
#}
{% macro lake_scan(table) %}
  {%- set relation = source('lake', table) -%}
  {%- set found = 1 -%}
  {%- if execute -%}
    {%- set pattern = env_var('LAKE_URL') ~ '/' ~ table ~ '/*/*/*.parquet' -%}
    {%- set found = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
  {%- endif -%}
  {%- if found > 0 -%}
    select * from {{ relation }}
  {%- else -%}
    {%- set node = graph.sources['source.tickflow.lake.' ~ table] -%}
    select
    {%- for name, column in node.columns.items() %}
      cast(null as {{ column.data_type }}) as {{ name }}{{ "," if not loop.last }}
    {%- endfor %}
    where false
  {%- endif -%}
{% endmacro %}
