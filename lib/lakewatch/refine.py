"""Bronze to silver: type the raw text, sort out bad rows and duplicates, MERGE the rest into silver.

Every bronze row of an ingest ends in exactly one place: silver.readings, silver.quarantine (with its
reason), or the duplicates dropped; the report gives the four numbers and they always add up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.concurrent import run_together
from lakewatch.config import LakewatchConfig, QualitySettings
from lakewatch.sources.base import ParseSpec
from lakewatch.sources.machine_source import SOURCE_NAME as MACHINES
from lakewatch.sources.synthetic import SOURCE_NAME as SYNTHETIC
from lakewatch.spark import partitions_for

VALID, QUARANTINE, DUPLICATE = "valid", "quarantine", "duplicate"
REFINE_TABLES = ("bronze_readings", "silver_readings", "silver_quarantine")
_ZONE_SUFFIX = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"


@dataclass(frozen=True)
class RefineReport:
    """Where the bronze rows of one ingest went."""

    ingest_id: str
    bronze_rows: int
    silver_rows: int
    quarantined: int
    duplicates: int

    @property
    def balanced(self) -> bool:
        """True when bronze = silver + quarantined + duplicates."""
        return self.bronze_rows == self.silver_rows + self.quarantined + self.duplicates


def parse_timestamp(raw: Column, spec: ParseSpec) -> Column:
    """UTC timestamp from raw text; null when unparseable. Text without a zone is read in spec.timezone."""
    text = F.trim(raw)
    fmt = spec.timestamp_format
    parsed = F.try_to_timestamp(text, F.lit(fmt)) if fmt else F.try_to_timestamp(text)
    if spec.timezone.upper() in ("UTC", "Z"):
        return parsed
    return F.when(text.rlike(_ZONE_SUFFIX), parsed).otherwise(F.to_utc_timestamp(parsed, spec.timezone))


def is_blank(col: Column) -> Column:
    """True where a text column is null, empty or only whitespace."""
    return col.isNull() | (F.trim(col) == "")


def _reason(quality: QualitySettings) -> Column:
    ts, value = F.col("timestamp"), F.col("value")
    lo = F.to_timestamp(F.lit(quality.timestamp_min))
    hi = F.to_timestamp(F.lit(quality.timestamp_max))
    return (
        F.when(F.col("ts_raw").isNull() & F.col("value_raw").isNull(), "malformed_record")
        .when(is_blank(F.col("series_id")), "missing_series_id")
        .when(is_blank(F.col("channel")), "missing_channel")
        .when(is_blank(F.col("ts_raw")), "missing_timestamp")
        .when(ts.isNull(), "unparseable_timestamp")
        .when((ts < lo) | (ts > hi), "timestamp_out_of_range")
        .when(is_blank(F.col("value_raw")), "empty_value")
        .when(value.isNull(), "non_numeric_value")
        .when(F.isnan(value) | (F.abs(value) == float("inf")), "non_finite_value")
    )


def classify(quality: QualitySettings, parse: ParseSpec) -> Callable[[DataFrame], DataFrame]:
    """Transform bronze rows into rows with timestamp, value, status (valid/quarantine/duplicate) and reason.

    A row far out of order (older than the newest earlier row of its series by more than
    max_lateness_seconds) is quarantined; of rows sharing a key, the first in source order stays,
    later equal ones are duplicates and later different ones are quarantined as conflicting.

    Both checks run on one sort of each series, newest first: "an earlier row is newer by more than the
    lateness" is "among the rows newer by more than the lateness, the first in source order came before
    this one", a running minimum over the rows ahead in that order; and rows of one key are adjacent in it,
    in source order. (Sorting by source order for the first check and by key for the second sorted every
    row twice.)
    """
    def transform(bronze: DataFrame) -> DataFrame:
        typed = bronze.withColumn("timestamp", parse_timestamp(F.col("ts_raw"), parse)).withColumn(
            "value", F.trim(F.col("value_raw")).try_cast("double"))
        typed = typed.withColumn("reason", _reason(quality)).withColumn("_newest_first", -F.unix_micros("timestamp"))
        typed = typed.sortWithinPartitions("series_id", "channel", "_newest_first", "record_order")
        lateness = quality.max_lateness_seconds * 1_000_000
        newer_by_more = (Window.partitionBy("series_id", "channel").orderBy("_newest_first")
                         .rangeBetween(Window.unboundedPreceding, -(lateness + 1)))
        first_of_newer = F.min(F.when(F.col("reason").isNull(), F.col("record_order"))).over(newer_by_more)
        late = first_of_newer < F.col("record_order")
        typed = typed.withColumn("reason", F.when(F.col("reason").isNull() & late, "out_of_order")
                                 .otherwise(F.col("reason")))
        by_key = Window.partitionBy("series_id", "channel", "_newest_first").orderBy("record_order")
        ok = F.col("reason").isNull()
        rank = F.row_number().over(by_key)
        first_value = F.first("value").over(by_key)
        typed = typed.withColumn("_rank", F.when(ok, rank)).withColumn("_first", F.when(ok, first_value))
        status = (F.when(~ok, QUARANTINE).when(F.col("_rank") == 1, VALID)
                  .when(F.col("value") == F.col("_first"), DUPLICATE).otherwise(QUARANTINE))
        reason = F.when(ok & (F.col("_rank") > 1) & (F.col("value") != F.col("_first")),
                        "conflicting_duplicate").otherwise(F.col("reason"))
        return typed.withColumn("status", status).withColumn("reason", reason).drop("_rank", "_first",
                                                                                   "_newest_first")

    return transform


def _kept_for_writes(classified: DataFrame) -> DataFrame:
    """The columns the silver and quarantine writes need, the raw text only where a row is quarantined (the rows
    are held until both writes are done: most are valid, and their raw text would only take room)."""
    raw = ("ts_raw", "value_raw", "raw_record", "source_version", "record_order")
    quarantined = F.col("status") == QUARANTINE
    return classified.select("series_id", "channel", "timestamp", "value", "source", "ingest_id", "status", "reason",
                             *[F.when(quarantined, F.col(c)).alias(c) for c in raw])


def _valid_rows(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("status") == VALID).select(
        "series_id", "channel", "timestamp", "value", "source", "ingest_id")


def _quarantine_rows(classified: DataFrame) -> DataFrame:
    return tables.conform(
        classified.where(F.col("status") == QUARANTINE)
        .withColumn("stage", F.lit("refine")).withColumn("quarantined_at", F.current_timestamp()),
        schemas.SILVER_QUARANTINE)


def parse_spec_for(config: LakewatchConfig, source_name: str) -> ParseSpec:
    """How to parse the raw text of rows that came from `source_name`."""
    if source_name in (SYNTHETIC, MACHINES):
        return ParseSpec()
    spec = config.source(source_name)
    return ParseSpec(timestamp_format=spec.timestamp_format, timezone=spec.timezone)


def refine(spark: SparkSession, config: LakewatchConfig, ingest_id: str) -> RefineReport:
    """Refine the bronze rows of `ingest_id` into silver and quarantine; safe to re-run."""
    created = tables.ensure_tables(spark, config, REFINE_TABLES)
    names = config.tables
    bronze = spark.table(names.bronze_readings).where(F.col("ingest_id") == ingest_id)
    rows_by_source = {r[0]: r[1] for r in bronze.groupBy("source_name").count().collect()}
    if not rows_by_source:
        return RefineReport(ingest_id, 0, 0, 0, 0)
    # Both windows of classify() partition by (series_id, channel, ...): one shuffle, sized to the ingest
    # (the cached result must not sit in a few huge blocks, nor a small ingest in dozens of tasks).
    partitions = partitions_for(spark, sum(rows_by_source.values()), config.spark.rows_per_partition)
    bronze = bronze.repartition(partitions, "series_id", "channel")
    frames = [bronze.where(F.col("source_name") == name)
              .transform(classify(config.quality, parse_spec_for(config, name))) for name in rows_by_source]
    classified = frames[0]
    for frame in frames[1:]:
        classified = classified.unionByName(frame)
    classified = _kept_for_writes(classified).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["status"]: r["count"] for r in classified.groupBy("status").count().collect()}
        quarantined, inserted = run_together(
            lambda: tables.replace_where(_quarantine_rows(classified), names.silver_quarantine,
                                         f"ingest_id = '{ingest_id}' AND stage = 'refine'"),
            lambda: insert_into_silver(spark, names.silver_readings, _valid_rows(classified),
                                       fresh=names.silver_readings in created))
    finally:
        classified.unpersist()
    valid = counts.get(VALID, 0)
    return RefineReport(
        ingest_id=ingest_id,
        bronze_rows=sum(rows_by_source.values()),
        silver_rows=inserted,
        quarantined=quarantined,
        duplicates=counts.get(DUPLICATE, 0) + valid - inserted,
    )


def insert_into_silver(spark: SparkSession, table_name: str, rows: DataFrame, fresh: bool) -> int:
    """Insert the rows (unique by key) whose key is not yet in silver; return how many were inserted.

    Into a silver table made just now (`fresh`, so empty) they are appended: a MERGE would find nothing
    to match and cost a join and a second pass over the rows.
    """
    if fresh:
        return tables.append(rows, table_name)
    return merge_into_silver(spark, table_name, rows)


def merge_into_silver(spark: SparkSession, table_name: str, rows: DataFrame) -> int:
    """Insert the rows whose key is not yet in silver; return how many were inserted."""
    keys = " AND ".join(f"t.{k} = s.{k}" for k in schemas.READING_KEYS)
    target = DeltaTable.forName(spark, table_name)
    before = tables.current_version(target)
    target.alias("t").merge(rows.alias("s"), keys).whenNotMatchedInsertAll().execute()
    return int(tables.metrics_since(spark, table_name, before).get("numTargetRowsInserted", 0))
