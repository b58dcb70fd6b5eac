"""One drift run: measure the window against the reference for every series, MERGE gold.drift_metrics, open
retrain requests for streaks of drifted windows; tables read and written here, at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakewatch import tables
from lakewatch.config import LakewatchConfig
from lakewatch.drift import decisions
from lakewatch.drift.measure import ENTITY_CHANNEL, TOO_FEW_ROWS
from lakewatch.drift.settings import DriftSettings
from lakewatch.drift.spark import Periods, measure, merge_metrics, newest_reading, periods, read_scores
from lakewatch.errors import TableNotFound

DRIFT_TABLES = ("gold_drift_metrics", "ops_retrain_requests")
SHOWN = 20  # drifted series listed in the report


@dataclass
class DriftReport:
    """What a drift run measured and wrote."""

    periods: Periods
    measured: int = 0          # rows of this run (channels and multichannel entities)
    entities: int = 0          # of which multichannel '*' rows
    too_few_rows: int = 0
    drifted: int = 0
    inserted: int = 0          # new rows of gold.drift_metrics (0 on a re-run of the same window)
    updated: int = 0           # rows replaced because their row counts changed
    requests: int = 0          # retrain requests opened by this run
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # (series_id, channel, reason), drifted


def run_drift(spark: SparkSession, config: LakewatchConfig, settings: DriftSettings, run_id: str,
              now: datetime | None = None) -> DriftReport:
    """Compare the window ending at `now` (default: the newest reading in silver.readings) with its reference for
    every series and channel; MERGE the rows into gold.drift_metrics and open retrain requests
    (lakewatch.drift.decisions). Raises TableNotFound when silver.readings does not exist or is empty."""
    names = config.tables
    as_of = now or newest_reading(spark, names.silver_readings)
    if as_of is None:
        raise TableNotFound(names.silver_readings, config.lakehouse.table(names.silver_readings),
                            "run ./spark-submit.sh pipeline first (drift compares the readings in silver)")
    bounds = periods(as_of, settings)
    tables.ensure_tables(spark, config, DRIFT_TABLES)
    computed_at = datetime.now(UTC)
    scores = read_scores(spark, names.gold_anomaly_scores, settings.detector)
    # Checkpointed on the executors: the MERGE would otherwise compute every group twice (its join, its write),
    # and the report reads the same rows; nothing is collected.
    metrics = measure(spark.table(names.silver_readings), scores, bounds, settings, run_id,
                      computed_at).localCheckpoint()
    report = DriftReport(bounds)
    counts = metrics.agg(
        F.count("*"), F.sum((F.col("channel") == ENTITY_CHANNEL).cast("int")),
        F.sum((F.col("status") == TOO_FEW_ROWS).cast("int")), F.sum(F.col("drifted").cast("int"))).first()
    report.measured, report.entities, report.too_few_rows, report.drifted = (int(c or 0) for c in counts)
    report.examples = [(r.series_id, r.channel, r.reason) for r in
                       metrics.where("drifted").orderBy("series_id", "channel").limit(SHOWN).collect()]
    written = merge_metrics(metrics, names.gold_drift_metrics)
    report.inserted, report.updated = written["inserted"], written["updated"]
    report.requests = decisions.request_retrains(spark, names.gold_drift_metrics, names.ops_retrain_requests,
                                                 settings.consecutive_windows, bounds.window_end, run_id, computed_at)
    return report


def format_report(report: DriftReport, settings: DriftSettings) -> list[str]:
    """Lines describing a drift run."""
    p = report.periods
    lines = [f"  reference            {p.reference_start:%Y-%m-%d %H:%M:%S} .. {p.reference_end:%Y-%m-%d %H:%M:%S} "
             f"({settings.reference})",
             f"  window               {p.window_start:%Y-%m-%d %H:%M:%S} .. {p.window_end:%Y-%m-%d %H:%M:%S} "
             f"({settings.window})",
             f"  measured             {report.measured:,} (multichannel entities {report.entities:,})",
             f"  too few rows         {report.too_few_rows:,}",
             f"  drifted              {report.drifted:,}",
             f"  metrics rows         {report.inserted:,} new, {report.updated:,} updated",
             f"  retrain requests     {report.requests:,} new (after {settings.consecutive_windows} drifted windows)"]
    lines += [f"    {series_id} {channel}: {reason}" for series_id, channel, reason in report.examples]
    if report.drifted > len(report.examples):
        lines.append(f"    ... and {report.drifted - len(report.examples):,} more (gold.drift_metrics)")
    return lines
