"""Batch scoring of readings with a detector on Spark: series numbered, hash-partitioned by number and
grouped in Python per partition (mapInArrow), one row of arrays back per series."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.config import DetectorCatalog
from lakewatch.errors import ConfigError
from lakewatch.spark import local_frame

SCORED_SCHEMA = "series_id string, channel string, timestamp timestamp, value double, anomaly_score double"
SERIES_ARRAYS_SCHEMA = ("series_id string, channel string, micros array<long>, values array<double>, "
                        "scores array<double>")
_KEYS_SCHEMA = "key long, series_id string, channel string"
_BATCH_POINTS = 1_000_000


def detector_settings(name: str | None = None, catalog: DetectorCatalog | None = None) -> tuple[str, dict[str, Any]]:
    """The detector to use (`name`, or the default of `catalog`, the configuration's detector catalog; None: the
    default configuration's) and its parameter overrides (none: the catalog holds the parameters).

    Raises ConfigError naming the known detectors when `name` is not one of them.
    """
    if catalog is None:
        from lakewatch.detectors import default_catalog

        catalog = default_catalog()
    chosen = name or catalog.default
    known = catalog.names()
    if chosen not in known:
        raise ConfigError(f"unknown detector '{chosen}': conf/detectors.yaml defines {known}")
    return chosen, {}


def _series_batch(names: Sequence[tuple[str, str]], key: np.ndarray, micros: np.ndarray, values: np.ndarray,
                  scores: np.ndarray, bounds: np.ndarray) -> pa.RecordBatch:
    """One SERIES_ARRAYS_SCHEMA row per series of rows sorted by (key, micros); bounds: each series' first
    row and, last, the end; names: each key's (series_id, channel)."""
    offsets = pa.array(bounds - bounds[0], pa.int32())
    series = [names[k] for k in key[bounds[:-1]]]
    return pa.RecordBatch.from_arrays(
        [pa.array([s for s, _ in series], pa.string()), pa.array([c for _, c in series], pa.string()),
         pa.ListArray.from_arrays(offsets, pa.array(micros, pa.int64())),
         pa.ListArray.from_arrays(offsets, pa.array(values, pa.float64())),
         pa.ListArray.from_arrays(offsets, pa.array(scores, pa.float64()))],
        names=["series_id", "channel", "micros", "values", "scores"])


def _score_partition(detector_name: str, params: Mapping[str, Any], names: Sequence[tuple[str, str]],
                     catalog: DetectorCatalog | None = None
                     ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """A function scoring every series of one partition of keyed rows (key, micros, value): it sorts the
    partition by key and time, scores each key's run of rows from a fresh state, and yields
    SERIES_ARRAYS_SCHEMA rows, named by `names[key]`, in batches of about _BATCH_POINTS points."""
    def score(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from lakewatch.detectors import get_detector

        received = [batch for batch in batches if batch.num_rows]
        if not received:
            return
        rows = pa.Table.from_batches(received)
        key, micros, values = (rows.column(name).to_numpy() for name in ("key", "micros", "value"))
        order = np.lexsort((micros, key))
        key, micros, values = key[order], micros[order], values[order]
        bounds = np.append(np.flatnonzero(np.r_[True, key[1:] != key[:-1]]), len(key))
        detector = get_detector(detector_name, params or None, catalog=catalog)
        scores = np.empty_like(values)
        first = 0  # index into bounds of the first series not yet yielded
        for i in range(len(bounds) - 1):
            start, end = bounds[i], bounds[i + 1]
            scores[start:end] = detector.score_series(values[start:end], micros[start:end] * 1_000)
            if end - bounds[first] >= _BATCH_POINTS or i == len(bounds) - 2:
                done = slice(bounds[first], end)
                yield _series_batch(names, key, micros[done], values[done], scores[done], bounds[first:i + 2])
                first = i + 1

    return score


def warm_workers(spark: SparkSession, detector_name: str, params: Mapping[str, Any],
                 catalog: DetectorCatalog | None = None) -> None:
    """Start a Python worker per core and load `detector_name` in it (imports, compiled kernels).

    Spark reuses its Python workers, so a scoring job that follows soon finds them ready; run it in the
    background while the driver is busy with other work.
    """
    cores = spark.sparkContext.defaultParallelism
    warm = _warm_detector(detector_name, dict(params), catalog)
    spark.range(0, cores, numPartitions=cores).mapInPandas(warm, "id long").collect()


def _warm_detector(detector_name: str, params: Mapping[str, Any], catalog: DetectorCatalog | None = None
                   ) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    def warm(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import numpy as np

        from lakewatch.detectors import get_detector

        points = np.arange(64, dtype=np.float64)
        detector = get_detector(detector_name, params or None, catalog=catalog)
        detector.score_series(points, points.astype(np.int64) * 1_000_000_000)
        yield from batches

    return warm


def number_series(series: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The distinct (series_id, channel) pairs in a fixed order: a pair's key is its index."""
    return sorted(set(series))


def series_keys(spark: SparkSession, names: Sequence[tuple[str, str]]) -> DataFrame:
    """A small DataFrame (key long, series_id, channel) of numbered pairs (see number_series)."""
    return local_frame(spark, [(i, s, c) for i, (s, c) in enumerate(names)], _KEYS_SCHEMA)


def _distinct_series(readings: DataFrame) -> list[tuple[str, str]]:
    return [(row.series_id, row.channel) for row in readings.select("series_id", "channel").distinct().collect()]


def keyed_readings(readings: DataFrame, keys: DataFrame) -> DataFrame:
    """Silver-shaped readings of the series in `keys` (see series_keys) as (key, micros, value) rows."""
    return readings.join(F.broadcast(keys), ["series_id", "channel"]).select(
        "key", F.unix_micros("timestamp").alias("micros"), "value")


def score_keyed(keyed: DataFrame, names: Sequence[tuple[str, str]], detector_name: str,
                params: Mapping[str, Any], catalog: DetectorCatalog | None = None) -> DataFrame:
    """Score keyed readings (keyed_readings), partitioned by key, one SERIES_ARRAYS_SCHEMA row per series;
    `names` are the numbered pairs the keys index. The detector is built from `catalog` (`config.detectors`,
    sent to the tasks; None: the default configuration's, read by each task).

    Every series' rows must lie in one partition (`repartition(n, "key")`). Each task holds its
    partition's rows in memory (24 bytes a point) while it scores them: Python does the grouping, so
    Spark spends no sort on it, and names each series itself, so no join follows.
    """
    return keyed.mapInArrow(_score_partition(detector_name, dict(params), list(names), catalog), SERIES_ARRAYS_SCHEMA)


def score_series(readings: DataFrame, detector_name: str, params: Mapping[str, Any], partitions: int | None = None,
                 series: Iterable[tuple[str, str]] | None = None, catalog: DetectorCatalog | None = None
                 ) -> DataFrame:
    """Score every (series_id, channel) of silver-shaped readings in parallel; one row per series:
    series_id, channel and, as arrays in time order, micros (epoch microseconds), values and scores.

    `series` limits the scoring to those (series_id, channel) pairs (default: every pair in `readings`,
    found with one extra pass). `partitions` fixes how many tasks share the series (default: the
    session's shuffle partitions). Series travel to Python under a number, not their names, and come
    back as one row each: strings and per-point rows cost Spark's Arrow path more than the detector does.
    """
    names = number_series(_distinct_series(readings) if series is None else series)
    keyed = keyed_readings(readings, series_keys(readings.sparkSession, names))
    keyed = keyed.repartition(partitions, "key") if partitions else keyed.repartition("key")
    return score_keyed(keyed, names, detector_name, params, catalog)


def score_readings(readings: DataFrame, detector_name: str, params: Mapping[str, Any], partitions: int | None = None,
                   series: Iterable[tuple[str, str]] | None = None, catalog: DetectorCatalog | None = None
                   ) -> DataFrame:
    """Score silver-shaped readings as :func:`score_series` does; returns one SCORED_SCHEMA row per point."""
    points = score_series(readings, detector_name, params, partitions, series, catalog).select(
        "series_id", "channel", F.inline(F.arrays_zip("micros", "values", "scores")))
    return points.select("series_id", "channel", F.timestamp_micros("micros").alias("timestamp"),
                         F.col("values").alias("value"), F.col("scores").alias("anomaly_score"))
