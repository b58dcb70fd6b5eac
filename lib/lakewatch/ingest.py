"""Source to bronze: append raw rows as read, stamped with their source and an ingest id.

A source (file or synthetic series) already in bronze with the same version is skipped, so
ingesting the same input twice adds nothing. Files that cannot be read at all go to the
quarantine with their reason; labelled windows go to gold.labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import tables
from lakewatch.concurrent import run_together
from lakewatch.config import LakewatchConfig
from lakewatch.provenance import new_run_id
from lakewatch.sources.base import RejectedFile, Source

SOURCE_KEY = ["source", "source_version"]
INGEST_TABLES = ("bronze_readings", "silver_quarantine", "gold_labels")


@dataclass(frozen=True)
class IngestReport:
    """What one ingest added to bronze and what it could not read."""

    ingest_id: str
    source_name: str
    bronze_rows: int
    files_read: int
    rejected: tuple[RejectedFile, ...] = ()
    label_windows: int = 0


def new_rows_only(raw: DataFrame, bronze: DataFrame) -> DataFrame:
    """Drop the raw rows whose (source, source_version) is already in bronze.

    The ingested sources (one per file or synthetic series) are few, so they are collected and
    broadcast: no shuffle of the raw rows, and no join at all into an empty bronze table.
    """
    seen = [tuple(row) for row in bronze.select(*SOURCE_KEY).distinct().collect()]
    if not seen:
        return raw
    known = raw.sparkSession.createDataFrame(seen, "source string, source_version string")
    return raw.join(F.broadcast(known), SOURCE_KEY, "left_anti")


def with_ingest_stamp(ingest_id: str) -> Callable[[DataFrame], DataFrame]:
    """Transform adding ingest_id and ingested_at to raw rows (the bronze columns)."""
    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("ingest_id", F.lit(ingest_id)).withColumn("ingested_at", F.current_timestamp())
    return transform


def ingest(spark: SparkSession, config: LakewatchConfig, source: Source) -> IngestReport:
    """Read `source` and append its new rows to bronze; return what was added and rejected."""
    names = config.tables
    # Creating the tables (catalog work) and listing and checking the files overlap.
    created, raw = run_together(lambda: tables.ensure_tables(spark, config, INGEST_TABLES),
                                lambda: source.read(spark))
    ingest_id = new_run_id()
    # A bronze table made just now holds no source yet: nothing to look up (in a cold JVM that first
    # read of a Delta table costs seconds).
    rows = raw.rows if names.bronze_readings in created else new_rows_only(raw.rows, spark.table(names.bronze_readings))
    rows = rows.transform(with_ingest_stamp(ingest_id))
    added, _, windows = run_together(
        lambda: tables.append(tables.conform(rows, tables.BRONZE_READINGS), names.bronze_readings),
        lambda: _quarantine_rejected(spark, config, ingest_id, raw.rejected,
                                     fresh=names.silver_quarantine in created),
        lambda: _write_labels(spark, config, source.name, raw.labels) if raw.labels is not None else 0)
    return IngestReport(ingest_id=ingest_id, source_name=source.name, bronze_rows=added, files_read=raw.files_read,
                        rejected=raw.rejected, label_windows=windows)


def _quarantine_rejected(spark: SparkSession, config: LakewatchConfig, ingest_id: str,
                         rejected: tuple[RejectedFile, ...], fresh: bool) -> None:
    """Quarantine the files that could not be read, each file version once (`fresh`: the table is new)."""
    if not rejected:
        return
    now = datetime.now(UTC)
    rows = [(None, None, None, None, r.path, f"unreadable_file: {r.reason}", "ingest", r.path, r.version, None,
             ingest_id, now) for r in rejected]
    df = spark.createDataFrame(rows, tables.SILVER_QUARANTINE)
    if not fresh:
        seen = spark.table(config.tables.silver_quarantine).where(F.col("stage") == "ingest").select(*SOURCE_KEY)
        df = df.join(seen, SOURCE_KEY, "left_anti").select(*tables.SILVER_QUARANTINE.fieldNames())
    tables.append(df, config.tables.silver_quarantine)


def _write_labels(spark: SparkSession, config: LakewatchConfig, source_name: str, labels: DataFrame) -> int:
    df = tables.conform(labels.withColumn("source_name", F.lit(source_name)), tables.GOLD_LABELS)
    return tables.replace_where(df, config.tables.gold_labels, f"source_name = '{source_name}'")
