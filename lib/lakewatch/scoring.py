"""Batch scoring of readings with a detector on Spark: one pandas group per series, Arrow-batched."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

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


def warm_workers(spark: SparkSession, detector_name: str, params: Mapping[str, Any]) -> None:
    """Start a Python worker per core and load `detector_name` in it (imports, compiled kernels).

    Spark reuses its Python workers, so a scoring job that follows soon finds them ready; run it in the
    background while the driver is busy with other work.
    """
    cores = spark.sparkContext.defaultParallelism
    warm = _warm_detector(detector_name, dict(params))
    spark.range(0, cores, numPartitions=cores).mapInPandas(warm, "id long").collect()


def _warm_detector(detector_name: str, params: Mapping[str, Any]) -> Callable[[Iterator[pd.DataFrame]],
                                                                             Iterator[pd.DataFrame]]:
    def warm(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np

        from lakewatch.detectors import get_detector

        points = np.arange(64, dtype=np.float64)
        get_detector(detector_name, params or None).score_series(points, points.astype(np.int64) * 1_000_000_000)
        yield from batches

    return warm


def score_readings(readings: DataFrame, detector_name: str, params: Mapping[str, Any],
                   partitions: int | None = None) -> DataFrame:
    """Score every (series_id, channel) of silver-shaped readings in parallel; returns SCORED_SCHEMA rows.

    `partitions` fixes how many tasks share the series (default: the session's shuffle partitions).
    """
    columns = readings.select("series_id", "channel", "timestamp", "value")
    if partitions:
        columns = columns.repartition(partitions, "series_id", "channel")
    return columns.groupBy("series_id", "channel").applyInPandas(score_group(detector_name, dict(params)),
                                                                 SCORED_SCHEMA)
