"""Batch scoring of readings with a detector on Spark: one pandas group per series, Arrow-batched."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame

from lakewatch.errors import ConfigError

SCORED_SCHEMA = "series_id string, channel string, timestamp timestamp, value double, anomaly_score double"


def detector_settings(name: str | None = None) -> tuple[str, dict[str, Any]]:
    """The detector to use (`name`, or the default of conf/detectors.yaml) and its parameter overrides (none).

    Raises ConfigError naming the known detectors when `name` is not one of them.
    """
    from lakewatch.detectors import available_detectors, default_detector_name

    chosen = name or default_detector_name()
    known = available_detectors()
    if chosen not in known:
        raise ConfigError(f"unknown detector '{chosen}': conf/detectors.yaml defines {known}")
    return chosen, {}


def score_group(detector_name: str, params: Mapping[str, Any]) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A function scoring one series' readings (series_id, channel, timestamp, value) in time order.

    Returns the rows sorted by timestamp with anomaly_score added (SCORED_SCHEMA). The detector is
    built once per group from its name and parameters, so the function pickles small.
    """
    def score(group: pd.DataFrame) -> pd.DataFrame:
        from lakewatch.detectors import get_detector

        group = group.sort_values("timestamp", kind="stable").reset_index(drop=True)
        detector = get_detector(detector_name, params or None)
        nanos = group["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64")
        group["anomaly_score"] = detector.score_series(group["value"].to_numpy(dtype="float64"), nanos)
        return group[["series_id", "channel", "timestamp", "value", "anomaly_score"]]

    return score


def score_readings(readings: DataFrame, detector_name: str, params: Mapping[str, Any]) -> DataFrame:
    """Score every (series_id, channel) of silver-shaped readings in parallel; returns SCORED_SCHEMA rows."""
    columns = readings.select("series_id", "channel", "timestamp", "value")
    return columns.groupBy("series_id", "channel").applyInPandas(score_group(detector_name, dict(params)),
                                                                 SCORED_SCHEMA)
