{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='window_date') }}

{{ keyed_candles(candles_from_trades(ref('fct_trades'), 60)) }}
