{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='window_date') }}

{{ candles_from_trades(ref('fct_trades'), 60) }}
