{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='trade_date') }}

select *
from {{ ref('int_trades__deduplicated') }}
{% if is_incremental() %}
where trade_date >= {{ incremental_from_date('trade_date') }}
{% endif %}
