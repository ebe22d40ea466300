"""tickflow's dashboard: `streamlit run dashboard/app.py` (make run starts it). The pages read
the query-api (TICKFLOW_API_URL, default http://127.0.0.1:8000)."""

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent))

st.set_page_config(page_title="tickflow", page_icon=":material/show_chart:", layout="wide")

pages = [
    st.Page("views/overview.py", title="Market overview", icon=":material/public:", default=True),
    st.Page("views/instrument.py", title="Instrument", icon=":material/candlestick_chart:", url_path="instrument"),
    st.Page("views/anomalies.py", title="Anomalies", icon=":material/warning:", url_path="anomalies"),
    st.Page("views/quality.py", title="Data quality", icon=":material/science:", url_path="quality"),
    st.Page("views/health.py", title="Pipeline health", icon=":material/monitor_heart:", url_path="health"),
    st.Page("views/reports.py", title="Daily reports", icon=":material/summarize:", url_path="reports"),
]
st.navigation(pages).run()
