{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='trade_date') }}

select
    trade_key,
    instrument_id,
    venue,
    venue_symbol,
    trade_id,
    price,
    size,
    side,
    conditions,
    price_only,
    event_time,
    receive_time,
    asset_class,
    exchange,
    quote_currency,
    session,
    trade_value,
    price_change,
    price_change_bps,
    trade_date
from {{ ref('int_trades__deduplicated') }}
{% if is_incremental() %}
where trade_date >= {{ incremental_from_date('trade_date') }}
{% endif %}
