"""Plotly figures for the dashboard's pages, built from the API's DataFrames (no Streamlit here)."""

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

UP, DOWN, UNKNOWN, VWAP, ANOMALY = "#26a69a", "#ef5350", "#90a4ae", "#ffb300", "#7e57c2"


def candlestick(candles, anomalies=None, moving_averages=(20,)):
    """Candles with VWAP and moving averages of the close above volume bars (buy, sell, and side
    unknown); anomalies marked at their window on the price chart."""
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.03)
    figure.add_trace(go.Candlestick(x=candles["window_start"], open=candles["open"], high=candles["high"],
                                    low=candles["low"], close=candles["close"], name="price",
                                    increasing_line_color=UP, decreasing_line_color=DOWN), row=1, col=1)
    figure.add_trace(go.Scatter(x=candles["window_start"], y=candles["vwap"], name="VWAP", mode="lines",
                                line={"color": VWAP, "width": 1.5}), row=1, col=1)
    for window in moving_averages:
        if len(candles) >= window:
            figure.add_trace(go.Scatter(x=candles["window_start"], y=candles["close"].rolling(window).mean(),
                                        name=f"MA {window}", mode="lines", line={"width": 1}), row=1, col=1)
    if anomalies is not None and not anomalies.empty:
        marked = anomalies.merge(candles[["window_start", "high"]], how="left", on="window_start")
        marked["y"] = marked["high"].fillna(candles["high"].max() if not candles.empty else 0)
        figure.add_trace(go.Scatter(x=marked["window_start"], y=marked["y"], mode="markers", name="anomaly",
                                    marker={"symbol": "triangle-down", "size": 11, "color": ANOMALY},
                                    text=marked["kind"] + " score " + marked["score"].round(1).astype(str),
                                    hoverinfo="text+x"), row=1, col=1)
    figure.add_trace(go.Bar(x=candles["window_start"], y=candles["buy_volume"], name="buy volume", marker_color=UP), row=2, col=1)
    figure.add_trace(go.Bar(x=candles["window_start"], y=candles["sell_volume"], name="sell volume", marker_color=DOWN), row=2, col=1)
    # Venues that do not say which side started a trade (Finnhub): their volume, side unknown.
    unknown = (candles["volume"] - candles["buy_volume"] - candles["sell_volume"]).clip(lower=0)
    if (unknown > 0).any():
        figure.add_trace(go.Bar(x=candles["window_start"], y=unknown, name="volume, side unknown", marker_color=UNKNOWN),
                         row=2, col=1)
    figure.update_layout(barmode="stack", xaxis_rangeslider_visible=False, height=620, margin={"t": 30, "b": 10},
                         legend={"orientation": "h", "y": 1.04})
    figure.update_yaxes(title_text="price", row=1, col=1)
    figure.update_yaxes(title_text="volume", row=2, col=1)
    return figure


def coverage_heatmap(coverage):
    """Trades per instrument and minute; minutes with feed gaps or rejections stand out."""
    grid = coverage.pivot_table(index="instrument_id", columns="minute", values="trades", aggfunc="sum", fill_value=0)
    figure = go.Figure(go.Heatmap(z=grid.values, x=grid.columns, y=grid.index, colorscale="Viridis",
                                  colorbar={"title": "trades"}))
    figure.update_layout(height=max(300, 14 * len(grid.index)), margin={"t": 20, "b": 10})
    return figure


def rejections_over_time(coverage):
    """Rejections per minute, stacked by reason."""
    rows = [{"minute": r.minute, "reason": reason, "count": count}
            for r in coverage.itertuples() for reason, count in (r.rejected_by_reason or {}).items()]
    figure = go.Figure()
    frame = pd.DataFrame(rows, columns=["minute", "reason", "count"])
    for reason, part in frame.groupby("reason"):
        per_minute = part.groupby("minute")["count"].sum()
        figure.add_trace(go.Bar(x=per_minute.index, y=per_minute.values, name=reason))
    figure.update_layout(barmode="stack", height=300, margin={"t": 20, "b": 10}, yaxis_title="rejected")
    return figure


def feed_gaps_timeline(gaps):
    """Each feed gap as a bar from its start to its end, one row per venue and instrument."""
    figure = go.Figure()
    for reason, part in gaps.groupby("reason"):
        labels = part["venue"] + " " + part["instrument_id"]
        figure.add_trace(go.Bar(base=part["gap_start"], x=(part["gap_end"] - part["gap_start"]).dt.total_seconds() * 1000,
                                y=labels, orientation="h", name=reason))
    figure.update_layout(height=max(250, 24 * gaps["instrument_id"].nunique()), margin={"t": 20, "b": 10},
                         xaxis={"type": "date"})
    return figure


def throughput(history):
    """Records per second per stage over the dashboard's session (history: time, stage, rate)."""
    figure = go.Figure()
    for stage, part in history.groupby("stage"):
        figure.add_trace(go.Scatter(x=part["time"], y=part["rate"], mode="lines+markers", name=stage))
    figure.update_layout(height=300, margin={"t": 20, "b": 10}, yaxis_title="records/s")
    return figure


def failed_checks(per_run):
    """Failed pipeline-health checks per 10-minute interval (0 drawn as an empty bar)."""
    figure = go.Figure(go.Bar(x=per_run["interval_start"], y=per_run["failed"], marker_color=DOWN, name="failed checks"))
    figure.update_layout(height=220, margin={"l": 10, "r": 10, "t": 30, "b": 10}, title="Failed checks per interval",
                         yaxis={"rangemode": "tozero", "dtick": 1})
    return figure
