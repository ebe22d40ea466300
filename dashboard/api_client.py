"""The query-api as the dashboard reads it: one method per endpoint, answers as DataFrames,
and one error type that names the API when it cannot be reached or refuses a request."""

import os

import pandas as pd
import requests

DEFAULT_URL = "http://127.0.0.1:8000"


class ApiUnavailable(Exception):
    """The query-api did not answer, or answered with an error."""

    def __init__(self, url, reason):
        super().__init__(f"the tickflow query API at {url} {reason}")
        self.url, self.reason = url, reason


class ApiClient:
    def __init__(self, url=None, token=None, timeout=15):
        self.url = (url or os.environ.get("TICKFLOW_API_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("QUERY_API_TOKEN")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout

    def get(self, path, **params):
        params = {k: v for k, v in params.items() if v is not None}
        try:
            response = requests.get(f"{self.url}{path}", params=params, headers=self.headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise ApiUnavailable(self.url, f"is unreachable ({type(error).__name__})") from None
        if response.status_code != 200:
            try:
                message = response.json()["message"]
            except (ValueError, KeyError):
                message = response.text[:200]
            raise ApiUnavailable(self.url, f"answered {response.status_code}: {message}")
        return response.json()

    def instruments(self):
        return pd.DataFrame(self.get("/v1/instruments"))

    def candles(self, instrument, interval="1m", start=None, end=None, limit=None):
        page = self.get("/v1/candles", instrument=instrument, interval=interval, limit=limit,
                        **{"from": iso(start), "to": iso(end)})
        return times(pd.DataFrame(page["candles"]), "window_start")

    def trades(self, instrument, start=None, end=None, limit=200):
        return times(pd.DataFrame(self.get("/v1/trades", instrument=instrument, limit=limit,
                                           **{"from": iso(start), "to": iso(end)})["trades"]), "event_time")

    def anomalies(self, instrument=None, kind=None, start=None, end=None, limit=1000):
        return times(pd.DataFrame(self.get("/v1/anomalies", instrument=instrument, kind=kind, limit=limit,
                                           **{"from": iso(start), "to": iso(end)})), "window_start")

    def daily_stats(self, date=None, order=None, limit=None):
        return pd.DataFrame(self.get("/v1/stats/daily", date=date, order=order, limit=limit))

    def coverage(self, instrument=None, start=None, end=None):
        return times(pd.DataFrame(self.get("/v1/coverage", instrument=instrument, limit=50000,
                                           **{"from": iso(start), "to": iso(end)})), "minute")

    def feed_gaps(self, start=None, end=None):
        return times(pd.DataFrame(self.get("/v1/feed-gaps", **{"from": iso(start), "to": iso(end)})), "gap_start", "gap_end")

    def status(self, date=None):
        return self.get("/v1/status", date=date)


def iso(moment):
    """A datetime or pandas Timestamp as the RFC 3339 the API takes (UTC)."""
    if moment is None:
        return None
    return pd.Timestamp(moment).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ") if pd.Timestamp(moment).tzinfo \
        else pd.Timestamp(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def times(frame, *columns):
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame
