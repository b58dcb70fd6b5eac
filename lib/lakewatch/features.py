"""Silver to gold: causal per-series window features from Spark window functions.

Every feature at time t uses only rows of the same series and channel up to t, so the same
features can be computed in batch and in a stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.config import FeatureSettings, LakewatchConfig

FEATURE_VERSION = 1  # the feature_version column: raised when a feature's definition changes


def build_features(settings: FeatureSettings) -> Callable[[DataFrame], DataFrame]:
    """Transform silver readings (series_id, channel, timestamp, value) into gold feature rows.

    Output: schemas.gold_features(settings): series_id, channel, timestamp, value, the columns of
    schemas.feature_columns(settings) (sines and cosines of the time of day and day of week; per lag k the
    value k rows back and the difference to it; per window w the mean, sample standard deviation, min and
    max of the last w rows) and feature_version. Rolling statistics cover the last w rows including t (fewer at
    a series' start); zscore compares the value at t with the mean and sample standard deviation of the
    longest window's rows before t, and is 0 where those rows do not vary (or are fewer than two).
    """
    schema = schemas.gold_features(settings)

    def transform(silver: DataFrame) -> DataFrame:
        ordered = Window.partitionBy("series_id", "channel").orderBy("timestamp")
        value = F.col("value")
        seconds_of_day = F.unix_seconds("timestamp") % 86_400
        day_angle = seconds_of_day * (2 * math.pi / 86_400)
        week_angle = (F.dayofweek("timestamp") - 1) * (2 * math.pi / 7)
        exprs = [
            F.sin(day_angle).alias("hour_sin"), F.cos(day_angle).alias("hour_cos"),
            F.sin(week_angle).alias("dow_sin"), F.cos(week_angle).alias("dow_cos"),
        ]
        exprs += [F.lag(value, k).over(ordered).alias(f"lag_{k}") for k in settings.lags]
        exprs += [(value - F.lag(value, k).over(ordered)).alias(f"diff_{k}") for k in settings.lags]
        for w in settings.windows:
            frame = ordered.rowsBetween(-(w - 1), 0)
            exprs += [F.avg(value).over(frame).alias(f"mean_{w}"), F.stddev_samp(value).over(frame).alias(f"std_{w}"),
                      F.min(value).over(frame).alias(f"min_{w}"), F.max(value).over(frame).alias(f"max_{w}")]
        longest = max(settings.windows, default=1)
        before = ordered.rowsBetween(-longest, -1)
        mean_before, std_before = F.avg(value).over(before), F.stddev_samp(value).over(before)
        exprs.append(F.when(std_before > 0, (value - mean_before) / std_before).otherwise(F.lit(0.0)).alias("zscore"))
        return tables.conform(silver.select("series_id", "channel", "timestamp", "value", *exprs,
                                            F.lit(FEATURE_VERSION).alias("feature_version")), schema)

    return transform


def write_features(spark: SparkSession, config: LakewatchConfig) -> int:
    """Recompute gold.features from the whole of silver.readings (idempotent); return rows written."""
    name = config.tables.gold_features
    silver = spark.table(config.tables.silver_readings)
    features = silver.transform(build_features(config.features))
    tables.ensure_database(spark, config, name)
    return tables.overwrite(features, name, tables.table_location(config, name))
