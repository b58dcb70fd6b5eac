"""Silver to gold: causal per-series window features, defined once as Spark SQL and kept as a view.

Every feature at time t uses only rows of the same series and channel up to t, so the same
features can be computed in batch and in a stream.

gold.features is a view over silver.readings, not a copy of it: materialised, its 17 feature
columns of doubles per reading made it seven times the size of silver and cost a full window pass
on every pipeline run, while its main reader (training) reads only the reading's own four columns.
A query computes the features it names and no others (Spark prunes the window expressions of
columns that are not selected), and a query of the reading columns alone is a scan of silver.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

from lakewatch import tables
from lakewatch.config import FeatureSettings, LakewatchConfig
from lakewatch.schemas import gold_features

FEATURE_VERSION = 1  # the feature_version column: raised when a feature's definition changes

_SERIES = "PARTITION BY series_id, channel ORDER BY `timestamp`"
_TAU = repr(2 * math.pi)


def _over(frame: str = "") -> str:
    return f" OVER ({_SERIES}{' ' + frame if frame else ''})"


def _rows(preceding: int, last: int = 0) -> str:
    return f"ROWS BETWEEN {preceding} PRECEDING AND {'CURRENT ROW' if last == 0 else f'{last} PRECEDING'}"


def feature_expressions(settings: FeatureSettings) -> list[str]:
    """Spark SQL select expressions, one per column of schemas.gold_features(settings), over silver.readings.

    Columns: series_id, channel, timestamp, value; sines and cosines of the time of day and the day of week
    (Sunday 0 .. Saturday 6, counted from the epoch, a Thursday); per lag k the value k rows back and the
    difference to it; per window w the mean, sample standard deviation, min and max of the last w rows
    including t (fewer at a series' start); zscore, the value at t against the mean and sample standard
    deviation of the longest window's rows before t (0 where those do not vary or are fewer than two);
    feature_version.
    """
    seconds = "unix_seconds(`timestamp`)"
    day = f"({seconds} % 86400) * ({_TAU} / 86400)"
    week = f"((floor({seconds} / 86400) + 4) % 7) * ({_TAU} / 7)"
    exprs = [f"sin({day})", f"cos({day})", f"sin({week})", f"cos({week})"]
    exprs += [f"lag(value, {k}){_over()}" for k in settings.lags]
    exprs += [f"value - lag(value, {k}){_over()}" for k in settings.lags]
    for w in settings.windows:
        frame = _over(_rows(w - 1))
        exprs += [f"avg(value){frame}", f"stddev_samp(value){frame}", f"min(value){frame}", f"max(value){frame}"]
    before = _over(_rows(max(settings.windows, default=1), last=1))
    exprs.append(f"CASE WHEN stddev_samp(value){before} > 0 "
                 f"THEN (value - avg(value){before}) / stddev_samp(value){before} ELSE 0.0 END")
    exprs.append(str(FEATURE_VERSION))
    schema = gold_features(settings)
    reading = ["series_id", "channel", "`timestamp`", "value"]
    return reading + [f"CAST({expr} AS {field.dataType.simpleString()}) AS {field.name}"
                      for expr, field in zip(exprs, schema.fields[len(reading):], strict=True)]


def build_features(settings: FeatureSettings) -> Callable[[DataFrame], DataFrame]:
    """Transform silver readings (series_id, channel, timestamp, value) into gold feature rows
    (schemas.gold_features(settings); the columns of feature_expressions)."""
    schema = gold_features(settings)

    def transform(silver: DataFrame) -> DataFrame:
        return tables.conform(silver.selectExpr(*feature_expressions(settings)), schema)

    return transform


def features_view_sql(config: LakewatchConfig) -> str:
    """The CREATE OR REPLACE VIEW statement of gold.features over silver.readings."""
    select = ",\n  ".join(feature_expressions(config.features))
    return (f"CREATE OR REPLACE VIEW {config.tables.gold_features} AS\nSELECT\n  {select}\n"
            f"FROM {config.tables.silver_readings}")


def write_features(spark: SparkSession, config: LakewatchConfig) -> int:
    """(Re)define the gold.features view over silver.readings (idempotent); return the rows it holds.

    A gold.features table left by an earlier version (a materialised copy) is dropped first, its files with it.
    """
    name = config.tables.gold_features
    tables.ensure_database(spark, config, name)
    if spark.catalog.tableExists(name) and spark.catalog.getTable(name).tableType != "VIEW":
        spark.sql(f"DROP TABLE {name}")
        tables.delete_location(spark, config.lakehouse.table(name))
    spark.sql(features_view_sql(config))
    # Counting selects no feature, so Spark prunes every window: a count of silver.
    return spark.table(name).count()
