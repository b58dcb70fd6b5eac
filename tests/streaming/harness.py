"""Shared helpers of the streaming tests: small silver-shaped readings, appends, batch reference scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from lakewatch import schemas, tables
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import Detector

START = pd.Timestamp("2026-01-01T00:00:00")
STEP = pd.Timedelta(minutes=5)


def make_readings(series: int, points: int, seed: int = 7, spikes: int = 2) -> pd.DataFrame:
    """`series` series of `points` rows (5-minute steps): daily sine + noise with a few spikes, sorted by time."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(series):
        t = np.arange(points)
        values = 10 + 3 * np.sin(2 * np.pi * t / 288 + s) + rng.normal(0, 0.3, points)
        for at in rng.choice(np.arange(points // 3, points), spikes, replace=False):
            values[at] += 12
        frames.append(pd.DataFrame({"series_id": f"s{s:03d}", "channel": "value",
                                    "timestamp": START + STEP * t, "value": values}))
    return pd.concat(frames, ignore_index=True)


def append_silver(spark: SparkSession, config: LakewatchConfig, rows: pd.DataFrame, ingest_id: str = "test") -> None:
    """Append readings to the config's silver.readings (created if absent) as one Delta commit of one file.

    One file, so a stream reading one file per micro-batch sees the rows in the order of the commits. Their
    `source` is "test" unless `rows` has one.
    """
    name = config.tables.silver_readings
    tables.ensure_table(spark, config, name, schemas.SILVER_READINGS)
    pdf = rows.assign(**({} if "source" in rows else {"source": "test"}), ingest_id=ingest_id)[
        [f.name for f in schemas.SILVER_READINGS.fields]]
    tables.append(spark.createDataFrame(pdf, schemas.SILVER_READINGS).coalesce(1), name)


def batch_scores(rows: pd.DataFrame, detector: Detector) -> pd.DataFrame:
    """Reference: each series scored in timestamp order in one detector.score_series call."""
    out = []
    for (sid, ch), group in rows.groupby(["series_id", "channel"], sort=True):
        group = group.sort_values("timestamp", kind="stable")
        nanos = group["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64")
        scores = detector.score_series(group["value"].to_numpy(np.float64), nanos)
        out.append(pd.DataFrame({"series_id": sid, "channel": ch, "timestamp": group["timestamp"].to_numpy(),
                                 "score": scores}))
    return pd.concat(out, ignore_index=True)


def table_scores(spark: SparkSession, table: str) -> pd.DataFrame:
    """gold.anomaly_scores as pandas (series_id, channel, timestamp, score, flag, batch_id), sorted by key."""
    pdf = spark.table(table).select("series_id", "channel", "timestamp", "score", "flag", "batch_id").toPandas()
    return pdf.sort_values(["series_id", "channel", "timestamp"], kind="stable").reset_index(drop=True)
