"""GET a venue's JSON over HTTP the way every batch source needs it: retried on rate limits
(429, 418) and server errors honouring Retry-After, with every secret (API keys, which Alpha
Vantage only takes in the query string) cut out of anything that could reach a log, an exception
or a task's output.

urllib3 logs request URLs, query string included, at DEBUG and in its own retry warnings, so the
retries are done here rather than by urllib3, and a filter on urllib3's loggers redacts the
secrets of the requests in flight as well.
"""

import logging
import os
import time

import requests

RETRIED_STATUSES = frozenset({418, 429, 500, 502, 503, 504})
REDACTED = "***"


class VenueError(RuntimeError):
    """A venue's request failed for good; the message names the cause and holds no secret."""


def redact(text: str, secrets) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class _Redacting(logging.Filter):
    secrets: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
        return True


_FILTER = _Redacting()
for _name in ("urllib3", "urllib3.connectionpool", "urllib3.util.retry", "requests"):
    logging.getLogger(_name).addFilter(_FILTER)


def get_json(http: requests.Session, url: str, *, what: str, params=None, headers=None, secrets=(),
             attempts: int = 6, max_wait_s: float = 60):
    """(status, body) of a GET answered with JSON by anything but a retried status, after up to
    `attempts` tries (waiting Retry-After, or TICKFLOW_VENUE_BACKOFF_S doubled each time, 0.5 s
    first). `what` names the request in errors; `secrets` never leave this function."""
    secrets = {s for s in secrets if s}
    backoff_s = float(os.environ.get("TICKFLOW_VENUE_BACKOFF_S", "0.5"))
    _FILTER.secrets |= secrets
    try:
        for attempt in range(1, attempts + 1):
            try:
                response = http.get(url, params=params, headers=headers, timeout=30)
            except requests.RequestException as error:
                problem = f"{type(error).__name__}: {redact(str(error), secrets)}"
                wait = backoff_s * 2 ** (attempt - 1)
            else:
                if response.status_code not in RETRIED_STATUSES:
                    try:
                        return response.status_code, response.json()
                    except ValueError:
                        raise VenueError(f"{what}: HTTP {response.status_code}, not JSON: "
                                         f"{redact(response.text[:200], secrets)!r}") from None
                problem = f"HTTP {response.status_code}: {redact(response.text[:200], secrets)}"
                wait = _retry_after(response) or backoff_s * 2 ** (attempt - 1)
            if attempt < attempts:
                time.sleep(min(wait, max_wait_s))
        raise VenueError(f"{what}: gave up after {attempts} attempts; last: {problem}")
    finally:
        _FILTER.secrets -= secrets


def _retry_after(response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
