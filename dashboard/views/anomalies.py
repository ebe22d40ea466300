"""Anomalies: a filterable table with each record's evidence, linking to the instrument at that time."""


import streamlit as st

import ui
from api_client import ApiUnavailable

st.title("Anomalies")
api = ui.client()
left, middle, right = st.columns(3)
with left:
    start, end = ui.range_picker("anomaly_range", default="1 day")
with middle:
    kind = st.selectbox("Kind", ["all", "volume_spike", "price_jump"], key="anomaly_kind")
try:
    instruments = api.instruments()
    with right:
        instrument = st.selectbox("Instrument", ["all"] + sorted(instruments["instrument_id"]), key="anomaly_instrument")
    if "from" in st.query_params and "to" in st.query_params:
        start, end = st.query_params["from"], st.query_params["to"]
    anomalies = api.anomalies(instrument=None if instrument == "all" else instrument,
                              kind=None if kind == "all" else kind, start=start, end=end, limit=5000)
except ApiUnavailable as error:
    ui.unavailable(error)
    st.stop()

if anomalies.empty:
    ui.empty("No anomalies in this range.")
    st.stop()

strongest = float(anomalies["score"].abs().max())
min_score = st.slider("Minimum |score|", 0.0, max(strongest, 0.1), 0.0, key="anomaly_score")
shown = anomalies[anomalies["score"].abs() >= min_score].copy()
shown["open"] = [f"/instrument?instrument={i}&interval={'1s' if w < 60 else '1m'}&at={t.isoformat()}"
                 for i, w, t in zip(shown["instrument_id"], shown["window_seconds"], shown["window_start"])]
st.caption(f"{len(shown)} of {len(anomalies)} anomalies; the evidence: the window's observed value against the mean "
           "and standard deviation of the lookback windows, and the score against the threshold.")
st.dataframe(shown[["window_start", "instrument_id", "kind", "window_seconds", "observed", "baseline_mean", "baseline_std",
                    "score", "threshold", "lookback_windows", "open"]], hide_index=True, use_container_width=True,
             column_config={"open": st.column_config.LinkColumn("chart", display_text="open chart")})
