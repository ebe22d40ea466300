-- One row per instrument and UTC day: open, close, return, realized volatility (square root of
-- the sum of squared trade-to-trade log returns), VWAP, volume and trade count.
with trades as (
    select
        instrument_id,
        trade_date,
        price,
        size,
        trade_value,
        ln(price::double / lag(price::double) over (
            partition by instrument_id, trade_date order by event_time, trade_key
        )) as log_return,
        event_time,
        trade_key
    from {{ ref('fct_trades') }}
    where not price_only
)

select
    instrument_id,
    trade_date,
    first(price order by event_time, trade_key) as open,
    last(price order by event_time, trade_key) as close,
    last(price order by event_time, trade_key)::double / first(price order by event_time, trade_key)::double - 1
        as daily_return,
    sqrt(coalesce(sum(log_return * log_return), 0)) as realized_volatility,
    sum(trade_value)::double / sum(size)::double as vwap,
    sum(size)::decimal(38, 8) as volume,
    count(*) as trade_count
from trades
group by all
