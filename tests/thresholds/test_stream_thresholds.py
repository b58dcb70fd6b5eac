"""A running score stream picks up a series' new threshold from ops.thresholds without a restart: points scored
after the row is written are flagged at it, the other series keep the default, events record the one they used."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch.progress import Progress
from lakewatch.schemas import OPS_THRESHOLDS
from lakewatch.streaming.job import run_score_stream
from lakewatch.streaming.settings import StreamSettings
from lakewatch.thresholds.current import thresholds_location
from tests.conftest import make_config
from tests.streaming.harness import append_silver, make_readings, table_scores

DETECTOR, DEFAULT, NEW = "robust_zscore", 0.9, 0.2  # s000 gets a lower threshold: more of its points flag


def wait_for_rows(spark, config, count: int, runner: threading.Thread, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    table = config.tables.gold_anomaly_scores
    while time.monotonic() < deadline and runner.is_alive():
        if spark.catalog.tableExists(table) and spark.table(table).count() >= count:
            return
        time.sleep(0.5)
    raise AssertionError(f"{table} did not reach {count} rows in {timeout}s (stream alive: {runner.is_alive()})")


def test_a_running_stream_flags_a_series_at_its_new_threshold_without_a_restart(spark, tmp_path):
    config = make_config(tmp_path / "lake", "thresholds.refresh=1 second")
    rows = make_readings(series=2, points=160, spikes=6)
    first, second = rows[rows["timestamp"] < rows["timestamp"].iloc[80]], rows[rows["timestamp"] >= rows[
        "timestamp"].iloc[80]]
    append_silver(spark, config, first)
    settings = StreamSettings(trigger="processingTime=1 second", detector=DETECTOR, threshold=DEFAULT,
                              state_partitions=2, checkpoint=str(tmp_path / "ckpt"), explain={"enabled": False})
    stop = threading.Event()
    runner = threading.Thread(target=run_score_stream, args=(spark, config, settings, Progress("t"), stop))
    runner.start()
    try:
        wait_for_rows(spark, config, len(first), runner)
        write_deltalake(thresholds_location(config), pa.Table.from_pylist([{
            "series_id": "s000", "channel": "value", "detector": DETECTOR, "threshold": NEW, "previous": None,
            "default_threshold": DEFAULT, "reason": "test", "false_positives": 1, "true_positives": 0, "events": 1,
            "worst_week_events": 1, "set_by": "test", "set_at": datetime.now(UTC), "run_id": "r1",
            "git_commit": None, "config_hash": None}], schema=to_arrow_schema(OPS_THRESHOLDS)))
        time.sleep(2.5)  # past thresholds.refresh: the workers' next lookup reads the table again
        append_silver(spark, config, second)
        wait_for_rows(spark, config, len(rows), runner)
    finally:
        stop.set()
        runner.join(120)
    assert not runner.is_alive()
    got = table_scores(spark, config.tables.gold_anomaly_scores)
    later = got["timestamp"] >= second["timestamp"].min()
    changed = later & (got["series_id"] == "s000")
    assert ((got["score"] >= NEW) == got["flag"])[changed].all()
    assert ((got["score"] >= DEFAULT) == got["flag"])[~changed].all()
    assert ((got["score"] < DEFAULT) & got["flag"])[changed].any()  # a point the default would not have flagged
    events = spark.table(config.tables.gold_anomalies).select("series_id", "start", "threshold").toPandas()
    assert set(events.loc[events["series_id"] == "s001", "threshold"]) == {DEFAULT}
    s000 = events[events["series_id"] == "s000"]
    assert set(s000.loc[s000["start"] >= second["timestamp"].min(), "threshold"]) == {NEW}
