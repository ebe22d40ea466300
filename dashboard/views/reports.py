"""Daily reports: the daily-report DAG's self-contained HTML reports (one per UTC day), newest
first, shown here and downloadable."""

import streamlit as st

import ui
import warehouse_files

st.title("Daily reports")
reports = warehouse_files.daily_reports()
st.caption(f"From {warehouse_files.warehouse() / 'reports' / 'daily'}: written at 09:00 UTC for the day before "
           "by the tickflow_daily_report DAG.")
if not reports:
    ui.empty("No daily report yet: the tickflow_daily_report DAG writes one each morning (make airflow).")
    st.stop()
chosen = st.query_params.get("day")
days = [day.isoformat() for day in reports]
day = st.selectbox("Day", days, index=days.index(chosen) if chosen in days else 0, key="report_day")
content = reports[next(d for d in reports if d.isoformat() == day)].read_text(encoding="utf-8")
st.download_button("Download the report (HTML)", content, file_name=f"tickflow-daily-{day}.html", mime="text/html")
# The report is the daily-report DAG's own output (rendered with autoescaping, no script): trusted.
st.iframe(content, height=1400)
