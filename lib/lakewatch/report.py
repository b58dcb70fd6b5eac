"""Plain-text summaries that jobs print at the end of a run."""

from __future__ import annotations

from lakewatch.config import LakewatchConfig
from lakewatch.ingest import IngestReport
from lakewatch.pipeline import PipelineReport
from lakewatch.refine import RefineReport


def format_ingest(report: IngestReport) -> list[str]:
    """Lines describing an ingest."""
    lines = [f"  ingest id            {report.ingest_id}",
             f"  files read           {report.files_read:,}",
             f"  bronze rows added    {report.bronze_rows:,}"]
    if report.files_skipped:
        lines.append(f"  files skipped        {report.files_skipped:,} (in bronze already, same path and version)")
    if report.rejected:
        lines.append(f"  files rejected       {len(report.rejected):,} (see silver.quarantine, stage 'ingest')")
    if report.label_windows:
        lines.append(f"  label windows        {report.label_windows:,}")
    return lines


def format_refine(report: RefineReport) -> list[str]:
    """Lines describing a refine, with the balance bronze = silver + quarantined + duplicates."""
    return [f"  bronze rows          {report.bronze_rows:,}",
            f"  silver rows added    {report.silver_rows:,}",
            f"  quarantined          {report.quarantined:,}",
            f"  duplicates dropped   {report.duplicates:,}",
            f"  balanced             {'yes' if report.balanced else 'NO'}"]


def format_tables(config: LakewatchConfig) -> list[str]:
    """Where every table lives, and how to query them."""
    lakehouse = config.lakehouse
    lines = [f"tables (catalog name -> location), under {lakehouse.root}:"]
    tables = config.tables
    lines += [f"  {name:<22} {lakehouse.table(name)}" if key != "gold_features" else
              f"  {name:<22} view over {tables.silver_readings} (features computed when queried)"
              for key, name in tables.all().items()]
    lines += ["query them:",
              '  ./spark-submit.sh sql "SELECT channel, count(*) AS n FROM silver.readings GROUP BY channel"',
              '  ./spark-submit.sh sql "SELECT reason, count(*) AS n FROM silver.quarantine GROUP BY reason"',
              '  ./spark-submit.sh sql "SELECT * FROM ops.pipeline_runs ORDER BY started_at DESC"']
    return lines


def format_pipeline(report: PipelineReport, config: LakewatchConfig) -> str:
    """The full end-of-run summary of the pipeline job."""
    v = report.validation
    lines = [f"lakewatch pipeline: source '{report.ingest.source_name}'", *format_ingest(report.ingest),
             *format_refine(report.refine),
             f"  validation           {'passed' if v.success else 'FAILED'} ({v.evaluated} expectations)",
             f"  data docs            {v.data_docs}",
             f"  gold.features rows   {report.feature_rows:,}", "", *format_tables(config)]
    return "\n".join(lines)
