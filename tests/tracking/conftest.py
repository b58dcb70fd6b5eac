"""Fixtures for the tracking and tuning tests: a three-file NAB mini-corpus, readings to score and a tiny
feature table to train on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakewatch import tables
from lakewatch.config import LakewatchConfig
from tests.conftest import nab_subset

MINI_FILES = (
    "realTraffic/speed_7578.csv",
    "realAWSCloudwatch/iio_us-east-1_i-a2eb1cd9_NetworkIn.csv",
    "realAdExchange/exchange-3_cpc_results.csv",
)


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NAB checkout with three small files of the shared corpus and their label windows."""
    return nab_subset(tmp_path_factory.mktemp("mini-nab"), MINI_FILES).root


def make_readings(series: dict[str, int], seed: int = 3) -> pd.DataFrame:
    """Readings (series_id, channel, timestamp, value) of a few noisy series with a spike each, rows shuffled."""
    rng = np.random.default_rng(seed)
    frames = []
    for name, n in series.items():
        values = np.sin(np.arange(n) / 20.0) + rng.normal(0, 0.1, n)
        values[n * 2 // 3] += 6.0
        frames.append(pd.DataFrame({
            "series_id": name, "channel": "value",
            "timestamp": pd.date_range("2026-01-01", periods=n, freq="5min"), "value": values,
        }))
    return pd.concat(frames).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def expected_scores(detector, readings: pd.DataFrame) -> pd.DataFrame:
    """Readings sorted by series and time with the detector's in-process score_series output per series."""
    out = []
    for _, group in readings.groupby(["series_id", "channel"], sort=True):
        group = group.sort_values("timestamp").reset_index(drop=True)
        nanos = group["timestamp"].to_numpy(dtype="datetime64[ns]").view("int64")
        out.append(group.assign(anomaly_score=detector.score_series(group["value"].to_numpy(), nanos)))
    return pd.concat(out).reset_index(drop=True)


def write_features(spark, config: LakewatchConfig) -> None:
    """A gold.features table of two smooth univariate series (220 and 180 rows) under the config's table root."""
    rng = np.random.default_rng(0)
    rows = [pd.DataFrame({"series_id": name, "channel": "value",
                          "timestamp": pd.date_range("2026-03-01", periods=n, freq="5min"),
                          "value": np.sin(np.arange(n) / 8) + rng.normal(0, 0.05, n)})
            for name, n in (("a", 220), ("b", 180))]
    name = config.tables.gold_features
    tables.ensure_database(spark, config, name)
    df = spark.createDataFrame(pd.concat(rows), "series_id string, channel string, timestamp timestamp, value double")
    tables.overwrite(df, name, tables.table_location(config, name))
