"""Pipeline health: each service up or down, records per second per stage, consumer lag, lake
freshness; from the services' /metrics, or Prometheus when PROMETHEUS_URL is set. Below, the
scheduled checks of the pipeline-health DAG (its health table in the warehouse)."""

import os
from datetime import timedelta

import pandas as pd
import streamlit as st

import charts
import service_health
import ui
import warehouse_files
from api_client import ApiUnavailable

st.title("Pipeline health")
prometheus = os.environ.get("PROMETHEUS_URL")
st.caption(f"From Prometheus at {prometheus}" if prometheus else "From each service's /metrics (set PROMETHEUS_URL to use Prometheus)")


def from_prometheus(url):
    try:
        rates = service_health.prometheus_query(url, "sum by (job) (rate(tickflow_records_in_total[1m]))")
        lag = service_health.prometheus_query(url, "sum by (job, topic) (tickflow_consumer_lag)")
    except Exception as error:  # noqa: BLE001 - any failure is shown, never a traceback
        st.error(f"Prometheus at {url} did not answer ({type(error).__name__})")
        return
    st.dataframe(pd.DataFrame([{"job": m.get("job"), "records/s": v} for m, v in rates]), hide_index=True)
    st.dataframe(pd.DataFrame([{"job": m.get("job"), "topic": m.get("topic"), "lag": v} for m, v in lag]), hide_index=True)


@st.fragment(run_every=timedelta(seconds=3))
def figures():
    if prometheus:
        from_prometheus(prometheus)
    readings = [service_health.reading(name, url) for name, url in service_health.services().items()]
    previous = st.session_state.get("health_previous", {})
    history = st.session_state.setdefault("health_history", [])
    for current in readings:
        if current["up"] and current["service"] in previous:
            rate = service_health.rates(previous[current["service"]], current)
            history.append({"time": pd.Timestamp.now(tz="UTC"), "stage": current["service"], "rate": rate["in"]})
    st.session_state.health_previous = {r["service"]: r for r in readings if r["up"]}
    del history[:-600]
    columns = st.columns(len(readings))
    for column, r in zip(columns, readings):
        column.metric(r["service"], "up" if r["up"] else "down", f"lag {int(r['consumer_lag'])}" if r["up"] else None,
                      delta_color="off")
    if not any(r["up"] for r in readings):
        ui.empty("No service answers: start the pipeline with `make run`.")
    table = pd.DataFrame(readings)[["service", "up", "records_in", "records_out", "consumer_lag", "rejections"]]
    st.dataframe(table, hide_index=True, use_container_width=True)
    if history:
        st.subheader("Records per second, by stage")
        st.plotly_chart(charts.throughput(pd.DataFrame(history)), use_container_width=True, key="throughput_chart")
    try:
        status = ui.client().status()
    except ApiUnavailable as error:
        ui.unavailable(error)
        return
    if status["last_trades"]:
        latest = max(pd.Timestamp(t["last_trade_time"]) for t in status["last_trades"])
        st.metric("Lake freshness (newest trade in the lake)", f"{(pd.Timestamp.now(tz='UTC') - latest).total_seconds():.1f} s ago")
        st.metric("Trades in the lake today", f"{status['trades_today']:,}")
    else:
        ui.empty("No trades in the lake today yet.")



def scheduled_checks():
    st.subheader("Scheduled checks (pipeline-health DAG, every 10 minutes)")
    rows = warehouse_files.health_checks(since=ui.now() - timedelta(days=1))
    if rows.empty:
        ui.empty("No health checks in the last day: the tickflow_pipeline_health DAG records them (make airflow).")
        return
    latest = rows[rows["interval_start"] == rows["interval_start"].max()]
    failed = latest[~latest["healthy"]]
    when = latest["interval_start"].iloc[0].strftime("%Y-%m-%d %H:%M")
    if failed.empty:
        st.success(f"Every check passed in the latest interval ({when} UTC).", icon=":material/check_circle:")
    else:
        st.error(f"{len(failed)} of {len(latest)} checks failed in the latest interval ({when} UTC): "
                 + "; ".join(f"{r.check_name} {r.subject}" for r in failed.itertuples()), icon=":material/error:")
    st.dataframe(latest[["check_name", "subject", "value", "threshold", "healthy", "detail"]], hide_index=True,
                 use_container_width=True)
    per_run = rows.assign(failed=~rows["healthy"]).groupby("interval_start", as_index=False)["failed"].sum()
    st.plotly_chart(charts.failed_checks(per_run), use_container_width=True, key="failed_checks_chart")


figures()
scheduled_checks()
