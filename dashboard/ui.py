"""What every page shares: the API client, the error banner, empty states, time ranges."""

from datetime import datetime, timedelta, timezone

import streamlit as st

from api_client import ApiClient, ApiUnavailable

RANGES = {"15 minutes": timedelta(minutes=15), "1 hour": timedelta(hours=1), "6 hours": timedelta(hours=6),
          "1 day": timedelta(days=1), "7 days": timedelta(days=7)}


def client():
    if "api" not in st.session_state:
        st.session_state.api = ApiClient()
    return st.session_state.api


def unavailable(error: ApiUnavailable):
    st.error(f"{error}. Start it with `make run` (or set TICKFLOW_API_URL).", icon=":material/cloud_off:")


def empty(message):
    st.info(message, icon=":material/info:")


def now():
    return datetime.now(timezone.utc)


def range_picker(key, default="1 hour"):
    label = st.selectbox("Range", list(RANGES), index=list(RANGES).index(default), key=key)
    end = now()
    return end - RANGES[label], end


def instrument_picker(instruments, key="instrument"):
    ids = sorted(instruments["instrument_id"]) if not instruments.empty else []
    chosen = st.query_params.get("instrument")
    index = ids.index(chosen) if chosen in ids else (ids.index("BTC-USDT") if "BTC-USDT" in ids else 0)
    return st.selectbox("Instrument", ids, index=index, key=key) if ids else None
