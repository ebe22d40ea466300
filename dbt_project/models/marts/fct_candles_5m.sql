{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='window_date') }}

{{ keyed_candles(candles_from_candles(ref('fct_candles_1m'), 300)) }}
