select
    i.instrument_id,
    i.asset_class,
    i.exchange,
    i.base_asset,
    i.quote_currency,
    i.calendar,
    c.timezone as calendar_timezone,
    c.trading_days,
    c.regular_open,
    c.regular_close,
    nullif(i.finnhub_symbol, '') as finnhub_symbol,
    nullif(i.binance_symbol, '') as binance_symbol,
    nullif(i.coinbase_product, '') as coinbase_product
from {{ ref('instruments') }} as i
left join {{ ref('calendars') }} as c using (calendar)
