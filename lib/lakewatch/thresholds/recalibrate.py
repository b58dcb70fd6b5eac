"""The recalibrate job's work: gold.feedback + gold.anomalies -> per-series thresholds -> ops.thresholds.

I/O sits at the edges (:func:`recalibrate` reads and appends); :func:`latest_verdicts`, :func:`judged_events` and
:func:`choose` are transforms, and the choice itself is lakewatch.thresholds.choose, run per series with
applyInPandas. Only changes are appended: a run over the same feedback and history writes nothing.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch import tables
from lakewatch.config import LakewatchConfig
from lakewatch.event_ids import event_id_sql
from lakewatch.provenance import git_commit
from lakewatch.schemas import OPS_THRESHOLDS, TABLE_SCHEMAS
from lakewatch.sources.filesystem import hadoop_path
from lakewatch.streaming.settings import stream_settings
from lakewatch.thresholds.choose import choose_threshold
from lakewatch.thresholds.settings import ThresholdSettings

KEY = ("series_id", "channel", "detector")
CHOICE_SCHEMA = T.StructType([
    *[T.StructField(k, T.StringType(), False) for k in KEY],
    T.StructField("threshold", T.DoubleType(), False),
    T.StructField("default_threshold", T.DoubleType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("false_positives", T.IntegerType(), False),
    T.StructField("true_positives", T.IntegerType(), False),
    T.StructField("events", T.IntegerType(), False),
    T.StructField("worst_week_events", T.IntegerType(), False),
])


@dataclass
class RecalibrationReport:
    """What one run judged and changed."""

    series: int = 0
    changed: int = 0
    raised: int = 0
    lowered: int = 0
    verdicts: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # the rows appended (or that would be, dry run)

    def lines(self) -> list[str]:
        """The report as lines: totals, then one line per change."""
        out = [f"{self.series} series judged from {self.verdicts} verdicts: {self.changed} thresholds changed "
               f"({self.raised} up, {self.lowered} down)"]
        for r in self.rows:
            before = "default" if r["previous"] is None else f"{r['previous']:.4f}"
            out.append(f"  {r['series_id']}/{r['channel']} ({r['detector']}): {before} -> {r['threshold']:.4f} "
                       f"[{r['false_positives']} fp, {r['true_positives']} tp, worst week {r['worst_week_events']} "
                       f"events] {r['reason']}")
        return out


def default_threshold(config: LakewatchConfig, settings: ThresholdSettings) -> Callable[[str], float]:
    """The threshold a series of a detector has without a row in ops.thresholds: streaming.threshold when set,
    else the detector's calibrated one (conf/detectors.yaml), else thresholds.min_threshold."""
    fixed = stream_settings(config).threshold

    def of(detector: str) -> float:
        if fixed is not None:
            return float(fixed)
        calibrated = config.detectors.threshold(detector)
        return float(calibrated) if calibrated is not None else settings.min_threshold

    return of


def latest_verdicts(feedback: DataFrame) -> DataFrame:
    """The newest verdict per event of gold.feedback rows: event_id, is_true_positive, the event's key columns,
    event_start and the peak score the reviewer saw (fb_peak)."""
    newest = Window.partitionBy("event_id").orderBy(F.col("created_at").desc(), F.col("feedback_id").desc())
    return (feedback.withColumn("_n", F.row_number().over(newest)).where("_n = 1")
            .select("event_id", "is_true_positive", *KEY, "event_start", F.col("peak_score").alias("fb_peak")))


def judged_events(anomalies: DataFrame, verdicts: DataFrame) -> DataFrame:
    """One row per event of gold.anomalies or of the verdicts (an event judged, then gone from gold.anomalies, still
    counts): series_id, channel, detector, peak (the event's current peak, else the one judged), week (the Monday
    its start falls in, UTC) and verdict (null: not judged)."""
    events = anomalies.select(F.expr(event_id_sql()).alias("event_id"), *KEY, "start", "peak_score")
    joined = events.alias("e").join(verdicts.alias("v"), "event_id", "full_outer")
    return joined.select(
        *[F.coalesce(F.col(f"e.{k}"), F.col(f"v.{k}")).alias(k) for k in KEY],
        F.coalesce(F.col("e.peak_score"), F.col("v.fb_peak")).alias("peak"),
        F.to_date(F.date_trunc("week", F.coalesce(F.col("e.start"), F.col("v.event_start")))).alias("week"),
        F.col("v.is_true_positive").alias("verdict")).where(F.col("peak").isNotNull())


def choose(events: DataFrame, defaults: Mapping[str, float], settings: ThresholdSettings) -> DataFrame:
    """CHOICE_SCHEMA rows, one per (series_id, channel, detector) of `events` (:func:`judged_events`), from
    lakewatch.thresholds.choose.choose_threshold with the detector's default from `defaults`."""
    def per_series(pdf: pd.DataFrame) -> pd.DataFrame:
        detector = str(pdf["detector"].iloc[0])
        verdicts = [None if pd.isna(v) else bool(v) for v in pdf["verdict"]]
        choice = choose_threshold([float(p) for p in pdf["peak"]], list(pdf["week"]), verdicts,
                                  defaults[detector], settings)
        return pd.DataFrame([{"series_id": pdf["series_id"].iloc[0], "channel": pdf["channel"].iloc[0],
                              "detector": detector, "threshold": choice.threshold,
                              "default_threshold": float(defaults[detector]), "reason": choice.reason,
                              "false_positives": choice.false_positives, "true_positives": choice.true_positives,
                              "events": choice.events, "worst_week_events": choice.worst_week_events}])

    return events.groupBy(*KEY).applyInPandas(per_series, CHOICE_SCHEMA)


def changes(choices: list[dict[str, Any]], current: Mapping[tuple[str, str, str], float]) -> list[dict[str, Any]]:
    """The choices that change a series' threshold: a series with a row whose threshold differs, or one without
    a row whose new threshold is not the default. Each gets ``previous`` (None: none)."""
    out = []
    for choice in choices:
        previous = current.get((choice["series_id"], choice["channel"], choice["detector"]))
        base = choice["default_threshold"] if previous is None else previous
        if choice["threshold"] != base:
            out.append({**choice, "previous": previous})
    return sorted(out, key=lambda r: tuple(r[k] for k in KEY))


def current_thresholds(spark: SparkSession, table_name: str) -> dict[tuple[str, str, str], float]:
    """The newest threshold per (series_id, channel, detector) in ops.thresholds, read with Spark."""
    newest = Window.partitionBy(*KEY).orderBy(F.col("set_at").desc(), F.col("run_id").desc())
    rows = (spark.read.table(table_name).withColumn("_n", F.row_number().over(newest)).where("_n = 1")
            .select(*KEY, "threshold").collect())
    return {(r["series_id"], r["channel"], r["detector"]): float(r["threshold"]) for r in rows}


def recalibrate(spark: SparkSession, config: LakewatchConfig, settings: ThresholdSettings, run_id: str,
                set_by: str = "", dry_run: bool = False, now: datetime | None = None) -> RecalibrationReport:
    """Choose every series' threshold from gold.feedback and gold.anomalies and append the changes to
    ops.thresholds (created when absent), stamped with `set_by`, the time, `run_id`, the commit and config hash;
    `dry_run` reports the changes without writing them."""
    names = config.tables
    tables.ensure_table(spark, config, names.ops_thresholds, OPS_THRESHOLDS)
    anomalies, feedback = _read(spark, config, "gold_anomalies"), _read(spark, config, "gold_feedback")
    verdicts = latest_verdicts(feedback).cache()
    report = RecalibrationReport(verdicts=verdicts.count())
    events = judged_events(anomalies, verdicts)
    of = default_threshold(config, settings)
    defaults = {r["detector"]: of(r["detector"]) for r in events.select("detector").distinct().collect()}
    choices = [r.asDict() for r in choose(events, defaults, settings).collect()]
    verdicts.unpersist()
    report.series = len(choices)
    report.rows = changes(choices, current_thresholds(spark, names.ops_thresholds))
    stamp = now or datetime.now(UTC)
    who = set_by or settings.set_by or _user()
    for row in report.rows:
        row.update(set_by=who, set_at=stamp, run_id=run_id, git_commit=git_commit(), config_hash=config.config_hash)
        before = row["default_threshold"] if row["previous"] is None else row["previous"]
        report.raised += row["threshold"] > before
        report.lowered += row["threshold"] < before
    report.changed = len(report.rows)
    if report.rows and not dry_run:
        rows = [tuple(r[f.name] for f in OPS_THRESHOLDS.fields) for r in report.rows]
        (spark.createDataFrame(rows, OPS_THRESHOLDS).write.format("delta").mode("append")
         .saveAsTable(names.ops_thresholds))
    return report


def _read(spark: SparkSession, config: LakewatchConfig, key: str) -> DataFrame:
    """Table `key` through the catalog, else at its location (the API and the feedback CLI create gold.feedback
    with deltalake, outside the catalog), else an empty frame of its schema (nothing judged or detected yet)."""
    name = config.tables.all()[key]
    if spark.catalog.tableExists(name):
        return spark.read.table(name)
    location = tables.table_location(config, name)
    fs, log_dir = hadoop_path(spark, f"{location}/_delta_log")
    if fs.exists(log_dir):
        return spark.read.format("delta").load(location)
    return spark.createDataFrame([], TABLE_SCHEMAS[key])


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "recalibrate"
