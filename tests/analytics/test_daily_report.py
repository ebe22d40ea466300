"""The daily-report DAG with dag.test() on the fixture lake's published marts: the previous day's
report is one self-contained HTML file whose figures are the ground truth's, its mart rows agree,
a rerun gives the same bytes, and a day without trades fails saying so."""

import shutil
from html.parser import HTMLParser

import duckdb


class Tables(HTMLParser):
    """The text of every table cell, per row, and every tag name seen."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags, self.attributes, self._cell = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += [name for name, _ in attrs]
        if tag == "tr":
            self.rows.append([])
        elif tag == "td":
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append(self._cell.strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def expected_counts(truth):
    counts = {}
    for trade in truth.trades:
        if not trade["price_only"]:
            counts[trade["instrument_id"]] = counts.get(trade["instrument_id"], 0) + 1
    return counts


def test_the_previous_days_report_holds_the_truths_figures_and_reruns_to_the_same_bytes(airflow, lake, published_marts,
                                                                                         tmp_path):
    _, truth = lake
    warehouse = shutil.copytree(published_marts, tmp_path / "warehouse")
    runs = [airflow.test_dag("tickflow_daily_report", "2023-11-15T09:00:00+00:00", LAKE_URL=str(lake[0]),
                             TICKFLOW_WAREHOUSE=str(warehouse)) for _ in range(2)]
    path = warehouse / "reports/daily/2023-11-14.html"
    for run in runs:
        assert run["state"] == "success", run["log"][-4000:]
    counts = expected_counts(truth)
    returned = runs[0]["returned"]["write_daily_report"]
    assert returned == {"day": "2023-11-14", "path": str(path), "instruments": len(counts),
                        "trades": sum(counts.values()), "complete": False}
    first = path.read_bytes()
    assert runs[1]["returned"] == runs[0]["returned"] and path.read_bytes() == first

    page = Tables()
    page.feed(first.decode())
    assert page.tags.count("svg") == 3 and {"script", "link", "img", "iframe"}.isdisjoint(page.tags)
    assert {"src", "href"}.isdisjoint(page.attributes), "nothing is fetched from elsewhere"
    per_instrument = {row[0]: row for row in page.rows if len(row) == 15}
    assert {name: int(row[7].replace(",", "")) for name, row in per_instrument.items()} == counts
    reasons = {gap[4] for gap in truth.gaps}
    gap_rows = [row for row in page.rows if len(row) == 5 and row[3] in reasons]
    assert sorted((row[0], row[3]) for row in gap_rows) == sorted((gap[3], gap[4]) for gap in truth.gaps)
    assert "figures may be incomplete" in first.decode()  # the fixture's trades end within the day

    with duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True) as db:
        mart = db.execute("select instrument_id, trade_count, feed_gaps from rpt_daily_instrument_report "
                          "where day = date '2023-11-14'").fetchall()
    assert {name: trades for name, trades, _ in mart} == counts
    assert sum(gaps for _, _, gaps in mart) == len(truth.gaps)


def test_a_day_without_trades_fails_the_run_saying_so(airflow, lake, published_marts, tmp_path):
    warehouse = shutil.copytree(published_marts, tmp_path / "warehouse")
    run = airflow.test_dag("tickflow_daily_report", "2023-11-21T09:00:00+00:00", LAKE_URL=str(lake[0]),
                           TICKFLOW_WAREHOUSE=str(warehouse))
    assert run["state"] == "failed"
    assert "no trades on 2023-11-20 in the published marts" in run["log"]
    assert not (warehouse / "reports/daily/2023-11-20.html").exists()
