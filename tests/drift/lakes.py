"""Small lakehouses for the drift alert and retraining tests: silver readings of a few series every 10 minutes, one
of which shifts its level, and optional label windows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from lakewatch import schemas, tables
from lakewatch.config import LakewatchConfig

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP = timedelta(minutes=10)


def write_readings(spark, config: LakewatchConfig, series: Mapping[str, np.ndarray]) -> datetime:
    """silver.readings with each of `series` (channel 'value') from START every STEP; returns the newest time."""
    frames = [pd.DataFrame({"series_id": name, "channel": "value",
                            "timestamp": [START + STEP * i for i in range(len(values))], "value": values})
              for name, values in series.items()]
    silver = pd.concat(frames).assign(source="test", ingest_id="test")
    tables.ensure_tables(spark, config, ("silver_readings",))
    tables.append(tables.conform(spark.createDataFrame(silver), schemas.SILVER_READINGS), config.tables.silver_readings)
    return START + STEP * (max(len(v) for v in series.values()) - 1)


def write_labels(spark, config: LakewatchConfig, windows: list[tuple[str, datetime, datetime]]) -> None:
    """gold.labels anomaly windows (series_id, start, end)."""
    tables.ensure_tables(spark, config, ("gold_labels",))
    rows = [(s, a, b, "anomaly", "test") for s, a, b in windows]
    tables.append(spark.createDataFrame(rows, schemas.GOLD_LABELS), config.tables.gold_labels)
