"""The score stream end to end on a private lakehouse: availableNow runs, restarts, late rows, events, replay."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd
import pytest

from lakewatch.detectors import get_detector
from lakewatch.errors import ConfigError
from lakewatch.progress import Progress
from lakewatch.streaming.job import resolve_detector, run_score_stream
from lakewatch.streaming.settings import StreamSettings
from tests.conftest import make_config
from tests.streaming.harness import append_silver, batch_scores, make_readings, table_scores

DETECTOR = "robust_zscore"  # quick to compile; the default detector runs in the NAB and crash tests


def _settings(tmp_path, **kw) -> StreamSettings:
    base = {"trigger": "availableNow", "detector": DETECTOR, "threshold": 0.9, "state_partitions": 2,
            "checkpoint": str(tmp_path / "ckpt"), "explain": {"enabled": False}}
    return StreamSettings(**{**base, **kw})


def _run(spark, config, settings, stop=None):
    return run_score_stream(spark, config, settings, Progress("test-stream"), stop)


@pytest.mark.parametrize("buckets", [0, 2])  # 2 buckets, 3 series: at least one bucket holds two series
def test_restarts_score_each_point_once_like_a_batch_run(spark, tmp_path, buckets):
    config = make_config(tmp_path / "lake")
    rows = make_readings(series=3, points=600)
    thirds = np.array_split(np.arange(600), 3)
    settings = _settings(tmp_path, state_buckets=buckets)
    for part in thirds:  # three commits, a stop and restart of the query between them
        append_silver(spark, config, rows[rows.index.isin(np.concatenate([part + 600 * s for s in range(3)]))])
        _run(spark, config, settings)
    got = table_scores(spark, config.tables.gold_anomaly_scores)
    expected = batch_scores(rows, get_detector(DETECTOR))
    assert len(got) == len(rows)
    assert not got.duplicated(["series_id", "channel", "timestamp"]).any()
    assert got["batch_id"].nunique() == 3
    pd.testing.assert_frame_equal(got[["series_id", "channel", "timestamp", "score"]], expected, check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    assert (got["flag"] == (got["score"] >= 0.9)).all()
    events = spark.table(config.tables.gold_anomalies).toPandas()
    flagged = got[got["flag"]]
    assert len(events) > 0 and int(events["points"].sum()) == len(flagged)
    assert not events["is_open"].any() or events["is_open"].sum() <= 3
    assert set(events["detector"]) == {DETECTOR}


def test_a_checkpoint_keeps_its_state_layout(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    append_silver(spark, config, make_readings(series=2, points=50))
    _run(spark, config, _settings(tmp_path, state_buckets=4))
    with pytest.raises(ConfigError, match=r"state_buckets=4; this run asks for 0"):
        _run(spark, config, _settings(tmp_path))
    assert _run(spark, config, _settings(tmp_path, state_buckets=4)).scored == 0  # same layout: goes on


def test_watermark_sorts_rows_within_it_and_later_rows_go_to_quarantine(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    rows = make_readings(series=1, points=200)
    settings = _settings(tmp_path, watermark="25 minutes")  # the newest 5 rows of a series wait in state
    arrivals = [rows.iloc[:100], rows.iloc[100:150].drop(index=146),  # row 146 is late, but inside the watermark
                pd.concat([rows.iloc[[146]], rows.iloc[150:]]), rows.iloc[120:123]]  # 120..122 again: too late
    for arrival in arrivals:
        append_silver(spark, config, arrival)
        _run(spark, config, settings)
    got = table_scores(spark, config.tables.gold_anomaly_scores)
    expected = batch_scores(rows, get_detector(DETECTOR)).iloc[:195]  # the newest 5 rows are still held
    pd.testing.assert_frame_equal(got[["series_id", "channel", "timestamp", "score"]], expected, check_exact=False,
                                  rtol=1e-12, atol=1e-12)
    assert got.loc[got["timestamp"] == rows["timestamp"][146], "batch_id"].item() == 2
    quarantine = spark.table(config.tables.silver_quarantine).toPandas()
    assert set(quarantine["reason"]) == {"late"} and set(quarantine["stage"]) == {"stream"}
    late = pd.to_datetime(quarantine["ts_raw"]).dt.tz_localize(None).sort_values().tolist()
    assert late == rows["timestamp"].iloc[120:123].tolist()


def test_processing_time_trigger_stops_cleanly_on_request(spark, tmp_path):
    config = make_config(tmp_path / "lake")
    rows = make_readings(series=2, points=200)
    append_silver(spark, config, rows.iloc[::2].sort_values("timestamp"))
    settings = _settings(tmp_path, trigger="processingTime=1 second")
    stop = threading.Event()
    result = {}
    runner = threading.Thread(target=lambda: result.update(report=_run(spark, config, settings, stop)))
    runner.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not spark.catalog.tableExists(config.tables.gold_anomaly_scores)
                                           or spark.table(config.tables.gold_anomaly_scores).count() < 200):
        time.sleep(1)
    stop.set()
    runner.join(60)
    assert not runner.is_alive()
    report = result["report"]
    assert report.stopped == "stopped" and report.scored == 200


def test_resolve_detector_stamps_the_fingerprint(lake):
    resolved = resolve_detector(lake, StreamSettings(detector=DETECTOR))
    assert resolved.model_version == f"{DETECTOR}@{get_detector(DETECTOR).fingerprint}"


def test_unknown_detector_is_a_config_error(lake):
    from lakewatch.errors import ConfigError

    with pytest.raises(ConfigError, match="nope"):
        resolve_detector(lake, StreamSettings(detector="nope"))
