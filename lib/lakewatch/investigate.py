"""Read-side helpers behind the stream and investigation notebooks: lag, latest events, one event's context,
its SHAP attributions and similar past events. Spark DataFrames in and out; nothing is collected but one row.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from lakewatch.config import LakewatchConfig
from lakewatch.errors import LakewatchError


class InvestigationError(LakewatchError, LookupError):
    """The event asked for is not in gold.anomalies (or the table is empty)."""


def batch_progress(report: Any) -> pd.DataFrame:
    """One row per micro-batch of a StreamReport (batch_id, scored, flagged, late, events, seconds,
    scoring_seconds, rows_per_second), oldest first."""
    rows = [{**{k: v for k, v in asdict(s).items() if k not in ("write_seconds", "finished_at")},
             "rows_per_second": s.rows_per_second} for s in report.batch_stats]
    columns = ["batch_id", "scored", "flagged", "late", "events", "seconds", "scoring_seconds", "rows_per_second"]
    return pd.DataFrame(rows, columns=columns)


def stream_lag(spark: SparkSession, config: LakewatchConfig) -> DataFrame:
    """How far the scores trail the readings, per series and channel.

    Columns: series_id, channel, newest_reading, newest_scored (null: nothing scored yet), waiting_rows (silver
    rows newer than the newest scored one), lag_seconds (newest_reading - newest_scored; null when unscored).
    """
    readings = spark.table(config.tables.silver_readings).select("series_id", "channel", "timestamp")
    scored = (spark.table(config.tables.gold_anomaly_scores).groupBy("series_id", "channel")
              .agg(F.max("timestamp").alias("newest_scored")))
    joined = readings.join(scored, ["series_id", "channel"], "left")
    return (joined.groupBy("series_id", "channel")
            .agg(F.max("timestamp").alias("newest_reading"), F.first("newest_scored").alias("newest_scored"),
                 F.count(F.when(F.col("newest_scored").isNull() | (F.col("timestamp") > F.col("newest_scored")),
                                1)).alias("waiting_rows"))
            .withColumn("lag_seconds", F.col("newest_reading").cast("long") - F.col("newest_scored").cast("long"))
            .orderBy(F.desc("waiting_rows"), "series_id", "channel"))


def latest_anomalies(spark: SparkSession, config: LakewatchConfig, limit: int = 10) -> DataFrame:
    """The `limit` most recent anomaly events (by end, then peak score): series_id, channel, start, end, peak_at,
    peak_score, points, is_open, top input (the largest |SHAP|), detector."""
    return (spark.table(config.tables.gold_anomalies)
            .select("series_id", "channel", "start", "end", "peak_at", "peak_score", "points", "is_open",
                    F.col("top_inputs").getItem(0).getField("input").alias("top_input"), "detector")
            .orderBy(F.desc("end"), F.desc("peak_score")).limit(int(limit)))


def pick_event(spark: SparkSession, config: LakewatchConfig, series_id: str = "", start: str = "") -> Row:
    """One event of gold.anomalies: the one of `series_id` starting at `start` (any channel), the highest-peak
    event of `series_id` when `start` is empty, the highest-peak event overall when both are empty.
    InvestigationError names what was asked when nothing matches."""
    events = spark.table(config.tables.gold_anomalies)
    if series_id:
        events = events.where(F.col("series_id") == series_id)
    if start:
        events = events.where(F.col("start") == F.to_timestamp(F.lit(start)))
    found = events.orderBy(F.desc("peak_score"), F.desc("end"), "series_id", "channel").first()
    if found is None:
        asked = f"series_id={series_id!r}, start={start!r}" if series_id or start else "any event"
        raise InvestigationError(f"{config.tables.gold_anomalies}: no anomaly event matches {asked}")
    return found


def _same_series(event: Row) -> Column:
    return (F.col("series_id") == event["series_id"]) & (F.col("channel") == event["channel"])


def event_context(spark: SparkSession, config: LakewatchConfig, event: Row, before: int = 50,
                  after: int = 20) -> DataFrame:
    """The scored points around `event` from gold.anomaly_scores: `before` rows before its start, the event,
    `after` rows after its end. Columns: timestamp, value, score, flag, in_event, ordered by timestamp."""
    scores = spark.table(config.tables.gold_anomaly_scores).where(_same_series(event))
    cols = ["timestamp", "value", "score", "flag"]
    earlier = scores.where(F.col("timestamp") < event["start"]).orderBy(F.desc("timestamp")).limit(int(before))
    during = scores.where(F.col("timestamp").between(event["start"], event["end"]))
    later = scores.where(F.col("timestamp") > event["end"]).orderBy("timestamp").limit(int(after))
    return (earlier.select(cols).unionByName(during.select(cols)).unionByName(later.select(cols))
            .withColumn("in_event", F.col("timestamp").between(event["start"], event["end"]))
            .orderBy("timestamp"))


def event_attributions(event: Row) -> pd.DataFrame:
    """The event's stored SHAP attributions (top_inputs) as rows input, shap, largest |shap| first, with the
    base value in each row's `base_value` (empty when explanations were off)."""
    rows = [(item["input"], float(item["shap"])) for item in (event["top_inputs"] or []) if item["shap"] is not None]
    frame = pd.DataFrame(rows, columns=["input", "shap"])
    frame["base_value"] = event["base_value"]
    return frame.reindex(frame["shap"].abs().sort_values(ascending=False).index).reset_index(drop=True)


def similar_events(spark: SparkSession, config: LakewatchConfig, event: Row, limit: int = 5) -> DataFrame:
    """Past events (ended before `event` started, any series) most like `event`, most similar first.

    distance = |peak_score difference| + |log1p(points) difference| / 5 + (1 - Jaccard overlap of the top
    SHAP input names). Columns: series_id, channel, start, end, peak_score, points, shared_inputs, distance.
    """
    names = [item["input"] for item in (event["top_inputs"] or [])]
    mine = F.array(*[F.lit(n) for n in names]) if names else F.array().cast("array<string>")
    theirs = F.coalesce(F.transform("top_inputs", lambda x: x.getField("input")), F.array().cast("array<string>"))
    union = F.size(F.array_union(theirs, mine))
    jaccard = F.when(union > 0, F.size(F.array_intersect(theirs, mine)) / union).otherwise(F.lit(1.0))
    distance = (F.abs(F.col("peak_score") - F.lit(float(event["peak_score"])))
                + F.abs(F.log1p("points") - F.log1p(F.lit(int(event["points"])))) / 5 + (1 - jaccard))
    return (spark.table(config.tables.gold_anomalies)
            .where(F.col("end") < event["start"])
            .select("series_id", "channel", "start", "end", "peak_score", "points",
                    F.array_intersect(theirs, mine).alias("shared_inputs"), distance.alias("distance"))
            .orderBy("distance", F.desc("end")).limit(int(limit)))
