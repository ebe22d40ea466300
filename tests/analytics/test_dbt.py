"""The analytics layer on a lake written by the real pipeline: the dbt sources agree with the
contracts, `dbt build` (models and every test) passes, the marts reconcile with the ground truth,
a rebuilt day gives the same rows, stale data fails the freshness check, and readers can query
the published marts while another build runs."""

import json
import os
import subprocess
import threading
from pathlib import Path

import duckdb
import pytest
import yaml

from conftest import python_env

REPO = Path(__file__).resolve().parents[2]
DBT = REPO / "dbt_project"


@pytest.fixture(scope="module")
def warehouse(lake, tmp_path_factory):
    directory = tmp_path_factory.mktemp("warehouse")
    marts(lake[0], directory)
    return directory


def environment(lake_dir, warehouse):
    return dict(os.environ, LAKE_URL=str(lake_dir), TICKFLOW_WAREHOUSE=str(warehouse), DBT_TARGET="ci")


def marts(lake_dir, warehouse, *args):
    result = subprocess.run(["bash", str(REPO / "scripts/marts.sh"), *args], env=environment(lake_dir, warehouse),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def dbt(lake_dir, warehouse, *args):
    venv = python_env("dbt_project/requirements.txt")
    env = environment(lake_dir, warehouse) | {"TICKFLOW_WAREHOUSE_BUILD": str(warehouse / "build.duckdb")}
    return subprocess.run([f"{venv}/bin/dbt", *args, "--profiles-dir", ".", "--target-path",
                           str(warehouse / "dbt-target"), "--log-path", str(warehouse / "dbt-logs")],
                          cwd=DBT, env=env, capture_output=True, text=True)


def query(warehouse, sql):
    with duckdb.connect(str(warehouse / "marts.duckdb"), read_only=True) as db:
        return db.execute(sql).fetchall()


def enums(contract):
    """The allowed values of each enumerated property of a contract in schemas/."""
    properties = json.loads((REPO / f"schemas/{contract}.schema.json").read_text())["properties"]
    return {name: [v for v in spec["enum"] if v is not None] for name, spec in properties.items() if "enum" in spec}


def test_accepted_values_are_the_contracts_enums_not_a_second_list():
    contract_of = [("dead_letter", "dead_letter"), ("feed_gap", "feed_gap"), ("anomal", "anomaly"),
                   ("kline", "kline"), ("trade", "enriched_trade"), ("instrument", "enriched_trade")]
    checked = 0
    for path in sorted(DBT.glob("models/**/*.yml")):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            contract = next((c for word, c in contract_of if word in model["name"]), None)
            for column in model.get("columns", []):
                for test in column.get("data_tests", []):
                    if not isinstance(test, dict) or "accepted_values" not in test:
                        continue
                    allowed = enums(contract).get(column["name"]) if contract else None
                    if allowed is None:
                        continue  # not a contract's enum (e.g. a boolean that must hold)
                    values = test["accepted_values"]["arguments"]["values"]
                    assert sorted(values) == sorted(allowed), f"{model['name']}.{column['name']}: {values} vs {allowed}"
                    checked += 1
    assert checked >= 5, "the enumerated columns were found"


def test_sources_declare_the_contract_columns_and_the_types_the_lake_has(lake):
    sources = yaml.safe_load((DBT / "models/staging/_lake__sources.yml").read_text())["sources"][0]["tables"]
    contracts = {"trades": "enriched_trade", "candles": "candle", "anomalies": "anomaly",
                 "dead_letters": "dead_letter", "klines": "kline", "feed_gaps": "feed_gap"}
    for table in sources:
        declared = {c["name"]: c["data_type"] for c in table["columns"]}
        schema = json.loads((REPO / f"schemas/{contracts[table['name']]}.schema.json").read_text())
        assert list(declared) == list(schema["properties"]) + ["date", "symbol"], table["name"]
        assert list((lake[0] / table["name"]).glob("*/*/*.parquet")), f"the fixture lake has no {table['name']}"
        with duckdb.connect() as db:
            rows = db.execute(f"describe select * from read_parquet('{lake[0]}/{table['name']}/*/*/*.parquet', "
                              "hive_partitioning = true, union_by_name = true)").fetchall()
        found = {row[0]: row[1] for row in rows}
        assert found == declared, table["name"]


def test_marts_hold_every_trade_once_and_match_the_stream(lake, warehouse):
    _, truth = lake
    assert query(warehouse, "select count(*), count(distinct trade_key) from fct_trades") == [
        (len(truth.trades), len(truth.trades))]
    compared, matching = query(warehouse, "select count(*), count(*) filter (where matches) "
                                          "from rpt_realtime_candle_reconciliation")[0]
    assert compared > 0 and matching == compared
    volume_1m, volume_1d = query(warehouse, "select (select sum(volume) from fct_candles_1m), "
                                            "(select sum(volume) from fct_candles_1d)")[0]
    assert volume_1m == volume_1d > 0
    rejected = query(warehouse, "select sum(rejected) from fct_data_coverage")[0][0]
    assert rejected == sum(truth.rejections.values())
    # Every instrument the coverage names is an instrument; frames no instrument could be read
    # from (rejected by the producer) are counted under a null instrument, not a venue's name.
    assert query(warehouse, """select count(*) from fct_data_coverage c where instrument_id is not null
                               and not exists (select 1 from dim_instruments d where d.instrument_id = c.instrument_id)""") == [(0,)]
    # Late trades (after their realtime candle was final) are in the marts and counted, not rejected.
    late = sum(1 for trade in truth.trades if trade.get("is_late"))
    assert late > 0
    assert query(warehouse, "select count(*) from fct_trades where is_late")[0][0] == late
    assert query(warehouse, "select sum(late_trades) from fct_data_coverage")[0][0] == late
    assert query(warehouse, "select sum(late_trades) from rpt_realtime_candle_reconciliation")[0][0] == late


def test_feed_gaps_are_listed_once_and_mark_the_minutes_they_touch(lake, warehouse):
    _, truth = lake
    rows = query(warehouse, """
        select gap_key, venue, venue_symbol, instrument_id, reason, epoch_us(gap_start), epoch_us(gap_end),
               first_missing_trade_id, last_missing_trade_id, missing_trades, epoch_us(detected_at)
        from fct_feed_gaps order by gap_key""")
    assert rows == sorted(truth.gaps) and rows
    # Each gap here lies within one minute or straddles two; every minute it touches is marked.
    marked = query(warehouse, """
        select count(*) from fct_feed_gaps g
        where not exists (select 1 from fct_data_coverage c
                          where c.instrument_id = g.instrument_id and c.feed_gaps > 0
                            and c.minute = date_trunc('minute', g.gap_start))""")[0][0]
    assert marked == 0
    seconds, gaps = query(warehouse, "select sum(gap_seconds), sum(feed_gaps) from fct_data_coverage")[0]
    expected_seconds = sum(row[6] - row[5] for row in truth.gaps) / 1e6
    # Each gap counts once in every minute it touches (its end is exclusive).
    minute = 60_000_000
    touched = sum(max(start, end - 1) // minute - start // minute + 1 for start, end in (row[5:7] for row in truth.gaps))
    assert gaps == touched and abs(float(seconds) - expected_seconds) < 1e-6


def test_rebuilding_a_day_gives_the_same_rows(lake, warehouse):
    checksum = ("select count(*), sum(hash(instrument_id, window_start, open, high, low, close, volume, trade_count))"
                " from fct_candles_1m")
    before = query(warehouse, checksum)
    day = query(warehouse, "select min(trade_date) from fct_trades")[0][0]
    marts(lake[0], warehouse, "--vars", json.dumps({"from_date": str(day)}))
    assert query(warehouse, checksum) == before


def test_stale_sources_fail_the_freshness_check(lake, warehouse):
    # The fixture market is from 2023: far beyond the one-day error threshold.
    result = dbt(lake[0], warehouse, "source", "freshness")
    assert result.returncode != 0 and "ERROR STALE" in result.stdout, result.stdout[-3000:]


def test_docs_generate(lake, warehouse):
    result = dbt(lake[0], warehouse, "docs", "generate")
    assert result.returncode == 0, result.stdout[-3000:]
    assert (warehouse / "dbt-target/catalog.json").exists()


def test_readers_query_the_marts_while_a_build_runs(lake, warehouse):
    reads, errors, stop = [], [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                reads.append(query(warehouse, "select count(*) from fct_trades")[0][0])
            except duckdb.Error as error:
                errors.append(str(error))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        marts(lake[0], warehouse)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(reads) > 10 and set(reads) == {len(lake[1].trades)}
