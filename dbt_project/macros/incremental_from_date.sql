{#
  The first date an incremental run rebuilds: `--vars '{from_date: YYYY-MM-DD}'` when given (an
  Airflow run passes its data interval's date), else the latest date already built, which is
  rebuilt whole. Dates are replaced, never appended to, so re-running a day gives the same rows.
#}
{% macro incremental_from_date(date_column) %}
  {%- if var('from_date', none) -%}
    cast('{{ var("from_date") }}' as date)
  {%- else -%}
    coalesce((select max({{ date_column }}) from {{ this }}), date '1970-01-01')
  {%- endif -%}
{% endmacro %}
