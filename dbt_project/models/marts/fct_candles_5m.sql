{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='window_date') }}

{{ candles_from_trades(ref('int_trades__deduplicated'), 300) }}
