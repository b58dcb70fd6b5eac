"""Drift on Spark end to end on a tiny lakehouse: synthetic series with a known level shift, a variance change
and a correlation break drift, the unchanged ones do not; N drifted windows in a row open exactly one retrain
request; a re-run for the same window writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch import schemas, tables
from lakewatch.drift import decisions
from lakewatch.drift.run import run_drift
from lakewatch.drift.settings import drift_settings
from tests.conftest import make_config

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)
DAYS = 7
END = START + STEP * (DAYS * 144 - 1)             # the newest reading: --now's default
FIRST = END - timedelta(days=1)                   # the first run's window ends a day earlier
SETTINGS = ["drift.reference=5d", "drift.window=1d", "drift.min_rows=20", "drift.consecutive_windows=2",
            "drift.mmd_permutations=100", "drift.mmd_max_rows=300"]


def _series(rng: np.random.Generator) -> dict[tuple[str, str], np.ndarray]:
    """Seven days every 10 minutes: 'level' shifts by 1.5 sigma two days before the end (so both runs' windows
    see it), 'variance' triples its spread on the last day, 'pump' (channels a, b) loses its channel correlation
    on the last day with unchanged marginals, 'steady' never changes."""
    n, last_day, last_two = DAYS * 144, 144, 288
    level = rng.normal(50.0, 2.0, n)
    level[-last_two:] += 3.0
    variance = rng.normal(0.0, 1.0, n)
    variance[-last_day:] *= 3.0
    z = rng.normal(size=(n, 2))
    rho = np.where(np.arange(n) >= n - last_day, -0.5, 0.9)
    pump_b = rho * z[:, 0] + np.sqrt(1 - rho ** 2) * z[:, 1]
    return {("level", "value"): level, ("variance", "value"): variance, ("steady", "value"): rng.normal(5, 1, n),
            ("pump", "a"): z[:, 0], ("pump", "b"): pump_b}


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A lakehouse with the series above in silver.readings, 'sparse' (ten readings in the last day only) and
    anomaly scores for 'steady' (unchanged) and 'level' (higher in the shifted days)."""
    config = make_config(tmp_path_factory.mktemp("drift") / "lake", *SETTINGS)
    rng = np.random.default_rng(20260301)
    times = [START + STEP * i for i in range(DAYS * 144)]
    readings = [pd.DataFrame({"series_id": series_id, "channel": channel, "timestamp": times, "value": values})
                for (series_id, channel), values in _series(rng).items()]
    readings.append(pd.DataFrame({"series_id": "sparse", "channel": "value", "timestamp": times[-10:],
                                  "value": rng.normal(0, 1, 10)}))
    silver = pd.concat(readings).assign(source="test", ingest_id="test")
    scores = []
    for series_id, shifted in (("steady", 0), ("level", 288)):
        score = rng.uniform(0.0, 0.3, len(times))
        if shifted:
            score[-shifted:] = rng.uniform(0.4, 1.0, shifted)
        scores.append(pd.DataFrame({"series_id": series_id, "channel": "value", "timestamp": times, "raw_score": score,
                                    "score": score, "flag": score >= 0.7, "detector": "d", "model_version": "1",
                                    "scored_at": END, "batch_id": 0}))
    tables.ensure_tables(spark, config, ("silver_readings", "gold_anomaly_scores"))
    names = config.tables
    tables.append(tables.conform(spark.createDataFrame(silver), schemas.SILVER_READINGS), names.silver_readings)
    tables.append(tables.conform(spark.createDataFrame(pd.concat(scores)).withColumn("value", F.lit(None))
                                 .withColumn("attributions", F.lit(None)).withColumn("base_value", F.lit(None)),
                                 schemas.GOLD_ANOMALY_SCORES), names.gold_anomaly_scores)
    return config


def _judged(spark, config):
    return spark.table(config.tables.gold_drift_metrics).select(
        "series_id", "channel", F.date_format("window_end", "MM-dd HH:mm").alias("window_end"), "status", "drifted")


def test_shifted_series_drift_twice_in_a_row_open_one_request_and_a_rerun_writes_nothing(spark, lake) -> None:
    config, settings = lake, drift_settings(lake)
    first = run_drift(spark, config, settings, "run-1", FIRST)
    second = run_drift(spark, config, settings, "run-2")  # now = the newest reading
    assert second.periods.window_end == END and second.periods.reference_start == END - timedelta(days=6)
    assert (first.measured, first.entities, first.drifted, first.too_few_rows, first.requests) == (6, 1, 1, 0, 0)
    assert (second.measured, second.drifted, second.too_few_rows, second.inserted, second.requests) == (7, 3, 1, 7, 1)

    first_end, end = f"{FIRST:%m-%d %H:%M}", f"{END:%m-%d %H:%M}"
    expected = [(s, c, first_end, "compared", s == "level") for s, c in
                (("level", "value"), ("variance", "value"), ("steady", "value"), ("pump", "a"), ("pump", "b"),
                 ("pump", "*"))]
    expected += [(s, c, end, "compared", s in ("level", "variance") or c == "*") for s, c in
                 (("level", "value"), ("variance", "value"), ("steady", "value"), ("pump", "a"), ("pump", "b"),
                  ("pump", "*"))]
    expected.append(("sparse", "value", end, "too_few_rows", False))
    # 'sparse' has no reading in the first run's periods at all, so it has no row there.
    assertDataFrameEqual(_judged(spark, config), spark.createDataFrame(
        expected, "series_id string, channel string, window_end string, status string, drifted boolean"))

    metrics = {(r.series_id, r.channel): r for r in spark.table(config.tables.gold_drift_metrics)
               .where(F.col("window_end") == F.lit(END)).collect()}
    level, variance, steady, pump = (metrics[k] for k in (("level", "value"), ("variance", "value"),
                                                          ("steady", "value"), ("pump", "*")))
    assert level.wasserstein > 0.5 and "wasserstein" in level.reason
    assert "score_shift" in level.reason and level.flag_rate_shift > 0.3
    assert variance.ks_statistic > 0.2 and variance.psi > 0.2 and abs(variance.wasserstein) > 0.5
    assert steady.ks_statistic < 0.2 and steady.score_shift < 0.05 and steady.reason == ""
    assert pump.mmd > 0.02 and pump.mmd_p_value <= 0.05 and pump.ks_statistic is None
    assert (pump.rows_reference, pump.rows_window) == (720, 144)
    assert metrics[("sparse", "value")].reason.startswith("too few readings: reference 0, window 10")

    requests_table = config.tables.ops_retrain_requests
    request = spark.table(requests_table).select("series_id", "channel", "window_end", "windows", "status", "run_id")
    assertDataFrameEqual(request, spark.createDataFrame(
        [("level", "value", END, 2, "open", "run-2")], request.schema))
    reason = decisions.new_requests(spark, requests_table, "run-2").first()["reason"]
    assert reason.startswith("drifted 2 windows in a row up to ") and "wasserstein" in reason

    before = (spark.table(config.tables.gold_drift_metrics).collect(), spark.table(requests_table).collect())
    again = run_drift(spark, config, settings, "run-3")
    assert (again.measured, again.drifted, again.inserted, again.updated, again.requests) == (7, 3, 0, 0, 0)
    after = (spark.table(config.tables.gold_drift_metrics).collect(), spark.table(requests_table).collect())
    assert sorted(map(tuple, after[0])) == sorted(map(tuple, before[0])) and after[1] == before[1]
    assert decisions.new_requests(spark, requests_table, "run-3").count() == 0
