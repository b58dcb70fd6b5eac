"""Source to bronze: append raw rows as read, stamped with their source and an ingest id.

A source (file or synthetic series) already in bronze with the same version is skipped, so
ingesting the same input twice adds nothing. Files that cannot be read at all go to the
quarantine with their reason; labelled windows go to gold.labels.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import schemas, tables
from lakewatch.concurrent import in_background, run_together
from lakewatch.config import LakewatchConfig
from lakewatch.provenance import new_run_id
from lakewatch.sources.base import RejectedFile, Source
from lakewatch.spark import local_frame

SOURCE_KEY = ["source", "source_version"]
INGEST_TABLES = ("bronze_readings", "silver_quarantine", "gold_labels")


@dataclass(frozen=True)
class IngestReport:
    """What one ingest added to bronze and what it could not read."""

    ingest_id: str
    source_name: str
    bronze_rows: int
    files_read: int
    files_skipped: int = 0
    rejected: tuple[RejectedFile, ...] = ()
    label_windows: int = 0


def ingested_sources(spark: SparkSession, bronze_name: str) -> set[tuple[str, str]]:
    """The (source, source_version) pairs already in bronze (one per ingested file or synthetic series)."""
    return _source_keys(spark.table(bronze_name))


def _source_keys(df: DataFrame) -> set[tuple[str, str]]:
    return {tuple(row) for row in df.select(*SOURCE_KEY).distinct().collect()}


def new_rows_only(raw: DataFrame, known: Collection[tuple[str, str]]) -> DataFrame:
    """Drop the raw rows whose (source, source_version) is in `known`.

    The ingested sources are few, so they are broadcast: no shuffle of the raw rows, and no join at all
    when nothing is known.
    """
    if not known:
        return raw
    seen = local_frame(raw.sparkSession, list(known), "source string, source_version string")
    return raw.join(F.broadcast(seen), SOURCE_KEY, "left_anti")


def with_ingest_stamp(ingest_id: str) -> Callable[[DataFrame], DataFrame]:
    """Transform adding ingest_id and ingested_at to raw rows (the bronze columns)."""
    def transform(df: DataFrame) -> DataFrame:
        return df.withColumn("ingest_id", F.lit(ingest_id)).withColumn("ingested_at", F.current_timestamp())
    return transform


def ingest(spark: SparkSession, config: LakewatchConfig, source: Source) -> IngestReport:
    """Read `source` and append its new rows to bronze; return what was added and rejected."""
    names = config.tables
    # The tables are created (catalog work) while the source lists and checks its files; it then asks
    # what bronze holds, and a file source leaves those files unread.
    creating = in_background(lambda: tables.ensure_tables(spark, config, INGEST_TABLES))

    @functools.cache
    def known() -> tuple[tuple[str, str], ...]:
        # A bronze table made just now holds nothing: no lookup (in a cold JVM the first read of a
        # Delta table costs seconds).
        fresh = names.bronze_readings in creating.result()
        return () if fresh else tuple(ingested_sources(spark, names.bronze_readings))

    try:
        raw = source.read(spark, known)
    finally:
        created = creating.result()
    ingest_id = new_run_id()
    rows = new_rows_only(raw.rows, known()).transform(with_ingest_stamp(ingest_id))
    nothing_to_read = raw.files_skipped > 0 and raw.files_read == 0
    added, _, windows = run_together(
        lambda: 0 if nothing_to_read else tables.append(tables.conform(rows, schemas.BRONZE_READINGS),
                                                        names.bronze_readings),
        lambda: _quarantine_rejected(spark, config, ingest_id, raw.rejected,
                                     fresh=names.silver_quarantine in created),
        lambda: _write_labels(spark, config, source.name, raw.labels, fresh=names.gold_labels in created)
        if raw.labels is not None else 0)
    return IngestReport(ingest_id=ingest_id, source_name=source.name, bronze_rows=added, files_read=raw.files_read,
                        files_skipped=raw.files_skipped, rejected=raw.rejected, label_windows=windows)


def _quarantine_rejected(spark: SparkSession, config: LakewatchConfig, ingest_id: str,
                         rejected: tuple[RejectedFile, ...], fresh: bool) -> None:
    """Quarantine the files that could not be read, each file version once (`fresh`: the table is new)."""
    name = config.tables.silver_quarantine
    if not fresh and rejected:
        # Rejected files are few: the ones quarantined before are looked up and left out on the driver.
        seen = _source_keys(spark.table(name).where(F.col("stage") == "ingest"))
        rejected = tuple(r for r in rejected if (r.path, r.version) not in seen)
    if not rejected:
        return
    now = datetime.now(UTC)
    rows = [(None, None, None, None, r.path, f"unreadable_file: {r.reason}", "ingest", r.path, r.version, None,
             ingest_id, now) for r in rejected]
    tables.append(spark.createDataFrame(rows, schemas.SILVER_QUARANTINE), name)


def _write_labels(spark: SparkSession, config: LakewatchConfig, source_name: str, labels: DataFrame,
                  fresh: bool) -> int:
    """Replace the source's labelled windows in gold.labels unless they are the same already; return how
    many the source has (`fresh`: the table is new)."""
    name = config.tables.gold_labels
    df = tables.conform(labels.withColumn("source_name", F.lit(source_name)), schemas.GOLD_LABELS)
    if not fresh:
        # Windows are few: compared on the driver, which spares a rewrite and a commit on every re-ingest.
        new = Counter(tuple(row) for row in df.collect())
        current = Counter(tuple(row) for row in spark.table(name).where(F.col("source_name") == source_name)
                          .select(*schemas.GOLD_LABELS.fieldNames()).collect())
        if new == current:
            return sum(new.values())
    return tables.replace_where(df, name, f"source_name = '{source_name}'")
