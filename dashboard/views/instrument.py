"""One instrument: candlesticks with VWAP, moving averages, buy/sell volume and anomaly markers,
refreshed live while the pipeline runs."""

from datetime import timedelta

import pandas as pd
import streamlit as st

import charts
import ui
from api_client import ApiUnavailable

INTERVALS = ["1s", "1m", "5m", "1h", "1d"]
SPANS = {"1s": timedelta(minutes=10), "1m": timedelta(hours=6), "5m": timedelta(days=1), "1h": timedelta(days=7),
         "1d": timedelta(days=31)}

st.title("Instrument")
api = ui.client()
try:
    instruments = api.instruments()
except ApiUnavailable as error:
    ui.unavailable(error)
    st.stop()

pick, width, live = st.columns([2, 1, 1])
with pick:
    instrument = ui.instrument_picker(instruments)
with width:
    interval = st.selectbox("Interval", INTERVALS, index=INTERVALS.index(st.query_params.get("interval", "1m")), key="interval")
with live:
    follow = st.toggle("Live", value="at" not in st.query_params, help="refresh every 2 s")
at = pd.Timestamp(st.query_params["at"]) if "at" in st.query_params else None
averages = st.multiselect("Moving averages (candles)", [5, 20, 50], default=[20], key="averages")


@st.fragment(run_every=timedelta(seconds=2) if follow else None)
def chart():
    end = (at + SPANS[interval] / 2) if at is not None else pd.Timestamp(ui.now())
    start = end - SPANS[interval]
    try:
        candles = api.candles(instrument, interval=interval, start=start, end=end, limit=5000)
        anomalies = api.anomalies(instrument=instrument, start=start, end=end)
    except ApiUnavailable as error:
        ui.unavailable(error)
        return
    if candles.empty:
        ui.empty(f"No trades yet for {instrument} in this range ({interval} candles).")
        return
    if not anomalies.empty:
        width_s = pd.Timedelta(interval)
        anomalies = anomalies.assign(window_start=anomalies["window_start"].dt.floor(width_s))
    last = candles.iloc[-1]
    a, b, c, d = st.columns(4)
    a.metric("Last", f"{last['close']:,.6g}", f"{last['close'] / candles.iloc[0]['open'] - 1:+.2%}")
    b.metric("VWAP", f"{(candles['quote_volume'].sum() / candles['volume'].sum()):,.6g}")
    c.metric("Trades", f"{int(candles['trade_count'].sum()):,}")
    d.metric("Candles", len(candles), help="as many as the API returned for this range")
    st.plotly_chart(charts.candlestick(candles, anomalies, averages), use_container_width=True, key="candles_chart")
    st.caption(f"{len(candles)} candles · last {last['window_start']:%Y-%m-%d %H:%M:%S} UTC "
               f"({'final' if last['is_final'] else 'may still be revised'}, from the {last['source']})")


if instrument:
    chart()
