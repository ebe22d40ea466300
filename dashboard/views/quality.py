"""Data quality: coverage per instrument and minute, rejections by reason, feed gaps, and the
realtime-vs-batch reconciliation."""

import streamlit as st

import charts
import ui
from api_client import ApiUnavailable

st.title("Data quality")
api = ui.client()
start, end = ui.range_picker("quality_range")
try:
    if "from" in st.query_params and "to" in st.query_params:
        start, end = st.query_params["from"], st.query_params["to"]
    status = api.status(date=st.query_params.get("date"))
    coverage = api.coverage(start=start, end=end)
    gaps = api.feed_gaps(start=start, end=end)
except ApiUnavailable as error:
    ui.unavailable(error)
    st.stop()

reconciliation = status["reconciliation"]
a, b, c = st.columns(3)
a.metric("Windows reconciled", reconciliation["windows_compared"])
b.metric("Mismatched", reconciliation["windows_mismatched"],
         delta="all match" if reconciliation["windows_mismatched"] == 0 else "check the marts", delta_color="off")
c.metric("Late trades (in the marts, not the stream)", reconciliation["late_trades"])
st.caption(f"Marts built until {status['marts_until'] or 'never (run make marts)'}; coverage is as of that build.")

st.subheader("Coverage (trades per instrument and minute)")
if coverage.empty:
    ui.empty("No coverage rows in this range yet: the marts hold them after their next build.")
else:
    st.plotly_chart(charts.coverage_heatmap(coverage), use_container_width=True, key="coverage_chart")
    st.subheader("Rejections by reason")
    if coverage["rejected"].sum() == 0:
        ui.empty("No rejections in this range.")
    else:
        st.plotly_chart(charts.rejections_over_time(coverage), use_container_width=True, key="rejections_chart")

st.subheader("Feed gaps")
if gaps.empty:
    ui.empty("No feed gaps in this range.")
else:
    st.plotly_chart(charts.feed_gaps_timeline(gaps), use_container_width=True, key="gaps_chart")
    st.dataframe(gaps, hide_index=True, use_container_width=True)
