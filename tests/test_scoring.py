"""Batch scoring on Spark (lakewatch.scoring) gives each series the scores of the detector run over it in
time order, whatever order its rows arrive in, and scores only the series asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lakewatch.detectors import get_detector
from lakewatch.scoring import SCORED_SCHEMA, score_readings, score_series

DETECTOR = "robust_zscore"


def _readings(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for series_id, channel, n in (("a", "value", 300), ("a", "temp", 250), ("b", "value", 40)):
        values = rng.normal(size=n)
        values[n // 2] += 12.0
        frames.append(pd.DataFrame({"series_id": series_id, "channel": channel,
                                    "timestamp": pd.date_range("2026-01-01", periods=n, freq="5min"),
                                    "value": values}))
    return pd.concat(frames).sample(frac=1.0, random_state=seed).reset_index(drop=True)  # rows out of order


def _expected(readings: pd.DataFrame, series_id: str, channel: str) -> pd.DataFrame:
    rows = readings[(readings.series_id == series_id) & (readings.channel == channel)].sort_values("timestamp")
    nanos = rows["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64")
    return rows.assign(anomaly_score=get_detector(DETECTOR).score_series(rows["value"].to_numpy(), nanos))


def test_every_series_scored_in_time_order(spark) -> None:
    readings = _readings()
    frame = spark.createDataFrame(readings, "series_id string, channel string, timestamp timestamp, value double")
    result = score_readings(frame, DETECTOR, {}, partitions=2)
    want_schema = spark.createDataFrame([], SCORED_SCHEMA).schema
    assert [(f.name, f.dataType) for f in result.schema] == [(f.name, f.dataType) for f in want_schema]
    scored = result.toPandas()
    assert len(scored) == len(readings)
    for (series_id, channel), got in scored.groupby(["series_id", "channel"]):
        want = _expected(readings, series_id, channel)
        assert got["timestamp"].tolist() == want["timestamp"].tolist()
        np.testing.assert_array_equal(got["value"].to_numpy(), want["value"].to_numpy())
        np.testing.assert_allclose(got["anomaly_score"].to_numpy(), want["anomaly_score"].to_numpy(), rtol=0, atol=0)


def test_only_the_series_asked_for(spark) -> None:
    readings = _readings(11)
    frame = spark.createDataFrame(readings, "series_id string, channel string, timestamp timestamp, value double")
    rows = score_series(frame, DETECTOR, {}, series=[("a", "temp"), ("missing", "value")]).collect()
    assert [(r.series_id, r.channel) for r in rows] == [("a", "temp")]
    want = _expected(readings, "a", "temp")
    assert rows[0].micros == (want["timestamp"].astype("int64") // 1_000).tolist()
    assert rows[0].scores == pytest.approx(want["anomaly_score"].tolist(), abs=0)


def test_no_readings_no_rows(spark) -> None:
    empty = spark.createDataFrame([], "series_id string, channel string, timestamp timestamp, value double")
    assert score_readings(empty, DETECTOR, {}).count() == 0


def test_a_partition_scored_in_bounded_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    from lakewatch import scoring

    readings = _readings(3)
    names = scoring.number_series(zip(readings.series_id, readings.channel, strict=True))
    keys = {pair: i for i, pair in enumerate(names)}
    keyed = pa.table({"key": [keys[p] for p in zip(readings.series_id, readings.channel, strict=True)],
                      "micros": readings["timestamp"].astype("int64") // 1_000, "value": readings["value"]})
    monkeypatch.setattr(scoring, "_BATCH_POINTS", 250)  # the 250- and 300-point series each fill a batch
    out = list(scoring._score_partition(DETECTOR, {}, names)(iter(keyed.to_batches(max_chunksize=100))))
    assert [batch.num_rows for batch in out] == [1, 1, 1]
    got = pa.Table.from_batches(out).to_pylist()
    assert sorted((r["series_id"], r["channel"]) for r in got) == names
    for row in got:
        assert row["scores"] == _expected(readings, row["series_id"], row["channel"])["anomaly_score"].tolist()
