"""Drift on Spark, for every series at once: readings and scores of the two periods are tagged with their side,
grouped by (series_id, channel) (and, for multichannel entities, by series_id) and compared in applyInPandas
(lakewatch.drift.measure); nothing but the per-group result rows leaves the executors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import reduce

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch import schemas, tables
from lakewatch.drift.measure import REFERENCE, STATS_COLUMNS, WINDOW, compare_channel, compare_entity
from lakewatch.drift.settings import DriftSettings

#: The applyInPandas output: the STATS_COLUMNS of gold.drift_metrics, all nullable (pandas gives no promise).
STATS_SCHEMA = T.StructType([T.StructField(name, schemas.GOLD_DRIFT_METRICS[name].dataType)
                             for name in STATS_COLUMNS])


@dataclass(frozen=True)
class Periods:
    """The two periods compared, each (start, end]: the reference ends where the window starts."""

    reference_start: datetime
    window_start: datetime
    window_end: datetime

    @property
    def reference_end(self) -> datetime:
        """The end of the reference period: the window's start."""
        return self.window_start


def periods(now: datetime, settings: DriftSettings) -> Periods:
    """The window (now - window, now] and the reference (window start - reference, window start]."""
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    window_start = now - timedelta(seconds=settings.window_seconds)
    return Periods(window_start - timedelta(seconds=settings.reference_seconds), window_start, now)


def newest_reading(spark: SparkSession, table_name: str) -> datetime | None:
    """The newest timestamp in the readings table (UTC), None when it is absent or empty."""
    if not spark.catalog.tableExists(table_name):
        return None
    newest = spark.table(table_name).agg(F.max("timestamp")).first()[0]
    return newest.replace(tzinfo=UTC) if newest is not None else None


def _side(bounds: Periods) -> Column:
    return F.when(F.col("timestamp") > F.lit(bounds.window_start), F.lit(WINDOW)).otherwise(F.lit(REFERENCE))


def in_periods(bounds: Periods):
    """A transform keeping rows whose timestamp is in (reference_start, window_end] and adding their side
    ('reference' or 'window')."""
    def transform(df: DataFrame) -> DataFrame:
        kept = df.where((F.col("timestamp") > F.lit(bounds.reference_start))
                        & (F.col("timestamp") <= F.lit(bounds.window_end)))
        return kept.withColumn("side", _side(bounds))
    return transform


def channel_inputs(readings: DataFrame, scores: DataFrame | None, bounds: Periods) -> DataFrame:
    """One row per reading (series_id, channel, side, value) and per scored point (side, score, flag) of the two
    periods: the input of :func:`channel_statistics`."""
    values = readings.transform(in_periods(bounds)).select(
        "series_id", "channel", "side", F.col("value").cast("double").alias("value"),
        F.lit(None).cast("double").alias("score"), F.lit(None).cast("boolean").alias("flag"))
    if scores is None:
        return values
    scored = scores.transform(in_periods(bounds)).select(
        "series_id", "channel", "side", F.lit(None).cast("double").alias("value"),
        F.col("score").cast("double").alias("score"), F.col("flag").cast("boolean").alias("flag"))
    return values.unionByName(scored)


def channel_statistics(settings: DriftSettings):
    """A transform comparing each (series_id, channel) group of :func:`channel_inputs`: STATS_SCHEMA rows."""
    def transform(inputs: DataFrame) -> DataFrame:
        def compare(group):  # a plain function: Spark infers no eval type from a partial (it warns), grouped map
            return compare_channel(group, settings)
        return inputs.groupBy("series_id", "channel").applyInPandas(compare, STATS_SCHEMA)
    return transform


def entity_inputs(readings: DataFrame, bounds: Periods) -> DataFrame:
    """The readings (series_id, channel, timestamp, side, value) of the two periods of series with more than one
    channel: the input of :func:`entity_statistics`."""
    tagged = readings.transform(in_periods(bounds)).select("series_id", "channel", "timestamp", "side", "value")
    multichannel = (tagged.groupBy("series_id").agg(F.countDistinct("channel").alias("channels"))
                    .where(F.col("channels") > 1).select("series_id"))
    return tagged.join(multichannel, "series_id", "left_semi")


def entity_statistics(settings: DriftSettings):
    """A transform computing each multichannel series' MMD from :func:`entity_inputs`: STATS_SCHEMA rows with
    channel '*'."""
    def transform(inputs: DataFrame) -> DataFrame:
        def compare(group):  # see channel_statistics
            return compare_entity(group, settings)
        return inputs.groupBy("series_id").applyInPandas(compare, STATS_SCHEMA)
    return transform


def to_metrics(stats: DataFrame, bounds: Periods, run_id: str, computed_at: datetime) -> DataFrame:
    """gold.drift_metrics rows from STATS_SCHEMA rows: the periods' bounds, run_id and computed_at added."""
    stamped = stats.select(
        "*", F.lit(bounds.reference_start).alias("reference_start"), F.lit(bounds.reference_end).alias("reference_end"),
        F.lit(bounds.window_start).alias("window_start"), F.lit(bounds.window_end).alias("window_end"),
        F.lit(run_id).alias("run_id"), F.lit(computed_at).alias("computed_at"))
    return tables.conform(stamped, schemas.GOLD_DRIFT_METRICS)


def measure(readings: DataFrame, scores: DataFrame | None, bounds: Periods, settings: DriftSettings, run_id: str,
            computed_at: datetime) -> DataFrame:
    """gold.drift_metrics rows for every (series, channel) of `readings` (silver.readings' columns) with rows in
    the periods, scores (gold.anomaly_scores' columns, or None) included, and a '*' row per multichannel series."""
    channels = channel_inputs(readings, scores, bounds).transform(channel_statistics(settings))
    entities = entity_inputs(readings, bounds).transform(entity_statistics(settings))
    return to_metrics(channels.unionByName(entities), bounds, run_id, computed_at)


def read_scores(spark: SparkSession, table_name: str, detector: str) -> DataFrame | None:
    """gold.anomaly_scores (only `detector`'s rows when it is not ""), None when the table does not exist."""
    if not spark.catalog.tableExists(table_name):
        return None
    scores = spark.table(table_name)
    return scores.where(F.col("detector") == detector) if detector else scores


def merge_metrics(metrics: DataFrame, table_name: str) -> dict[str, int]:
    """MERGE `metrics` into gold.drift_metrics on DRIFT_KEY: new windows inserted; a window measured before is
    replaced only when its row counts changed (late data), so a re-run for the same window writes nothing.
    Returns the rows inserted and updated."""
    target = DeltaTable.forName(metrics.sparkSession, table_name)
    on = reduce(Column.__and__, [F.col(f"t.{k}") == F.col(f"s.{k}") for k in schemas.DRIFT_KEY])
    changed = (F.col("t.rows_reference") != F.col("s.rows_reference")) | (F.col("t.rows_window") != F.col(
        "s.rows_window"))
    # execute() answers one row of the MERGE's own counts: no look at the table's history needed.
    done = (target.alias("t").merge(metrics.alias("s"), on).whenMatchedUpdateAll(changed).whenNotMatchedInsertAll()
            .execute().first())
    return {"inserted": int(done["num_inserted_rows"]), "updated": int(done["num_updated_rows"])}
