"""The ingest-to-gold path as one call: ingest, refine, validate, features, each a timed stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import SparkSession

from lakewatch import features, refine, tables, views
from lakewatch.config import LakewatchConfig
from lakewatch.errors import ValidationFailed
from lakewatch.ingest import IngestReport, ingest
from lakewatch.progress import Progress
from lakewatch.refine import RefineReport
from lakewatch.sources.base import Source

if TYPE_CHECKING:  # Great Expectations takes seconds to import: loaded only by the stage that validates
    from lakewatch.validation import ValidationReport


@dataclass(frozen=True)
class PipelineReport:
    """What each stage of one pipeline run did."""

    ingest: IngestReport
    refine: RefineReport
    validation: ValidationReport
    feature_rows: int


def run_ingest(spark: SparkSession, config: LakewatchConfig, source: Source, progress: Progress) -> IngestReport:
    """Stage 1: source to bronze."""
    with progress.stage(f"ingest {source.name} -> {config.tables.bronze_readings}") as counts:
        report = ingest(spark, config, source)
        counts.update(bronze_rows=report.bronze_rows, files=report.files_read, skipped_files=report.files_skipped,
                      rejected_files=len(report.rejected))
    for rejected in report.rejected:
        progress.say(f"rejected file {rejected.path}: {rejected.reason} (kept in {config.tables.silver_quarantine})")
    return report


def run_refine(spark: SparkSession, config: LakewatchConfig, ingest_id: str, progress: Progress) -> RefineReport:
    """Stage 2: bronze to silver and quarantine."""
    with progress.stage(f"refine -> {config.tables.silver_readings}") as counts:
        report = refine.refine(spark, config, ingest_id)
        counts.update(bronze=report.bronze_rows, silver=report.silver_rows, quarantined=report.quarantined,
                      duplicates=report.duplicates)
    if not report.balanced:
        raise RuntimeError(f"refine of ingest {ingest_id} lost rows: {report}")
    return report


def run_validation(spark: SparkSession, config: LakewatchConfig, run_id: str, progress: Progress) -> ValidationReport:
    """Stage 3: validate silver; raise ValidationFailed (naming the failures) when the suite fails."""
    from lakewatch import validation

    with progress.stage(f"validate {config.tables.silver_readings}") as counts:
        report = validation.validate_silver(spark, config, run_id)
        counts.update(expectations=report.evaluated, failed=len(report.failures))
    if not report.success:
        lines = "\n  ".join(f.describe() for f in report.failures)
        raise ValidationFailed(f"suite '{report.suite}' failed on {report.table_name}; not promoted to gold:\n  {lines}"
                               f"\nData Docs: {report.data_docs}", [f.__dict__ for f in report.failures])
    return report


def run_features(spark: SparkSession, config: LakewatchConfig, progress: Progress) -> int:
    """Stage 4: silver to gold.features."""
    with progress.stage(f"features -> {config.tables.gold_features}") as counts:
        rows = features.write_features(spark, config)
        counts.update(rows=rows)
    return rows


def run_pipeline(spark: SparkSession, config: LakewatchConfig, source: Source, run_id: str,
                 progress: Progress) -> PipelineReport:
    """Run every stage from `source` to gold; stops before gold when validation fails.

    Every fixed-schema table exists when it returns, failed or not (the NAB ones empty), and so does every
    curated view (lakewatch.views) whose tables exist, so the catalog the job prints can be queried right away.
    The stages create the tables they write themselves, so on a first run they know those are new and empty
    (nothing to look up in bronze, silver appended to).
    """
    try:
        ingested = run_ingest(spark, config, source, progress)
        refined = run_refine(spark, config, ingested.ingest_id, progress)
        validated = run_validation(spark, config, run_id, progress)
        feature_rows = run_features(spark, config, progress)
    finally:
        tables.ensure_tables(spark, config)
        views.create_views(spark, config)
    return PipelineReport(ingested, refined, validated, feature_rows)
