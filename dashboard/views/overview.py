"""Market overview: every instrument's day, the top movers, the most volatile, recent anomalies."""

from datetime import date, timedelta

import pandas as pd
import streamlit as st

import ui
from api_client import ApiUnavailable

st.title("Market overview")
api = ui.client()
chosen = st.query_params.get("date")
day = st.date_input("Day (UTC)", value=date.fromisoformat(chosen) if chosen else ui.now().date(), key="overview_day")

try:
    stats = api.daily_stats(date=day.isoformat(), order="instrument", limit=1000)
    volatile = api.daily_stats(date=day.isoformat(), order="volatility", limit=5)
    gainers = api.daily_stats(date=day.isoformat(), order="gainers", limit=5)
    losers = api.daily_stats(date=day.isoformat(), order="losers", limit=5)
    end = pd.Timestamp(day + timedelta(days=1), tz="UTC") if day < ui.now().date() else pd.Timestamp(ui.now())
    anomalies = api.anomalies(start=end - pd.Timedelta(hours=1), end=end, limit=200)
except ApiUnavailable as error:
    ui.unavailable(error)
    st.stop()

if stats.empty:
    ui.empty(f"No trades yet for {day.isoformat()}: start the pipeline with `make run`, or pick another day.")
    st.stop()

left, middle, right = st.columns(3)
left.metric("Instruments trading", len(stats))
middle.metric("Trades", f"{int(stats['trade_count'].sum()):,}")
best = gainers.iloc[0]
right.metric("Top mover", best["instrument_id"], f"{best['daily_return']:+.2%}")

table = stats.rename(columns={"instrument_id": "instrument", "close": "last price", "daily_return": "change",
                              "trade_count": "trades", "realized_volatility": "volatility"})
st.dataframe(table[["instrument", "last price", "change", "volume", "trades", "vwap", "volatility"]], hide_index=True,
             column_config={"change": st.column_config.NumberColumn(format="percent"),
                            "instrument": st.column_config.TextColumn(help="open it on the Instrument page")},
             use_container_width=True)

movers, calm = st.columns(2)
with movers:
    st.subheader("Top movers")
    both = pd.concat([gainers, losers]).drop_duplicates("instrument_id")
    st.bar_chart(both.set_index("instrument_id")["daily_return"], horizontal=True)
with calm:
    st.subheader("Most volatile today")
    st.dataframe(volatile[["instrument_id", "realized_volatility", "daily_return", "trade_count"]], hide_index=True,
                 column_config={"daily_return": st.column_config.NumberColumn(format="percent")})

st.subheader("Anomalies in the last hour")
if anomalies.empty:
    ui.empty("No anomalies in the last hour.")
else:
    st.dataframe(anomalies[["window_start", "instrument_id", "kind", "observed", "baseline_mean", "score"]], hide_index=True)
