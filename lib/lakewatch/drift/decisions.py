"""From gold.drift_metrics history to ops.retrain_requests: a series (or multichannel entity) whose latest
`consecutive_windows` windows all drifted gets one open retrain request, unless it has an open one already.

:func:`new_requests` gives the requests one drift run created: what the alerting side sends as a 'drift' alert.
"""

from __future__ import annotations

from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from lakewatch import schemas, tables

OPEN = "open"
_KEY = ("series_id", "channel")


def streaks(history: DataFrame, windows: int, as_of: datetime) -> DataFrame:
    """The (series_id, channel) pairs of gold.drift_metrics rows `history` whose latest `windows` windows ending
    at or before `as_of` all drifted: series_id, channel, window_end (the latest), windows, reason (the latest
    window's). Several rows for one window (different reference lengths) count as one, drifted if any is."""
    per_window = (history.where(F.col("window_end") <= F.lit(as_of))
                  .groupBy(*_KEY, "window_end")
                  .agg(F.max("drifted").alias("drifted"), F.max_by("reason", F.col("drifted").cast("int"))
                       .alias("reason")))
    latest_first = Window.partitionBy(*_KEY).orderBy(F.col("window_end").desc())
    recent = per_window.withColumn("age", F.row_number().over(latest_first)).where(F.col("age") <= windows)
    return (recent.groupBy(*_KEY)
            .agg(F.count("*").alias("seen"), F.sum(F.col("drifted").cast("int")).alias("drifted_windows"),
                 F.max("window_end").alias("window_end"), F.max_by("reason", "window_end").alias("reason"))
            .where((F.col("seen") == windows) & (F.col("drifted_windows") == windows))
            .select(*_KEY, "window_end", F.lit(windows).cast("int").alias("windows"), "reason"))


def to_requests(drifted: DataFrame, run_id: str, requested_at: datetime) -> DataFrame:
    """ops.retrain_requests rows (status 'open') from :func:`streaks` rows. request_id is 16 hex of a hash of
    (series_id, channel, window_end), so the same streak always names the same request."""
    key = F.concat_ws("|", "series_id", "channel", F.date_format("window_end", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"))
    rows = drifted.select(
        F.substring(F.sha2(key, 256), 1, 16).alias("request_id"), *_KEY, "window_end",
        F.lit(requested_at).alias("requested_at"),
        F.format_string("drifted %d windows in a row up to %s: %s", F.col("windows"),
                        F.date_format("window_end", "yyyy-MM-dd HH:mm:ss"), F.col("reason")).alias("reason"),
        "windows", F.lit(OPEN).alias("status"), F.lit(run_id).alias("run_id"),
        F.lit(None).cast("string").alias("decision"), F.lit(None).cast("timestamp").alias("decided_at"),
        F.lit(None).cast("string").alias("details"))
    return tables.conform(rows, schemas.OPS_RETRAIN_REQUESTS)


def request_retrains(spark: SparkSession, metrics_table: str, requests_table: str, windows: int, as_of: datetime,
                     run_id: str, requested_at: datetime) -> int:
    """Insert a retrain request for every streak of `windows` drifted windows up to `as_of` whose series and
    channel has no open request (MERGE on request_id, insert only: a re-run inserts nothing). Returns the number
    of requests inserted."""
    candidates = to_requests(streaks(spark.table(metrics_table), windows, as_of), run_id, requested_at)
    target = DeltaTable.forName(spark, requests_table)
    open_now = target.toDF().where(F.col("status") == OPEN).select(*_KEY)
    fresh = candidates.join(open_now, list(_KEY), "left_anti")
    done = (target.alias("t").merge(fresh.alias("s"), "t.request_id = s.request_id").whenNotMatchedInsertAll()
            .execute().first())
    return int(done["num_inserted_rows"])


def new_requests(spark: SparkSession, requests_table: str, run_id: str) -> DataFrame:
    """The retrain requests drift run `run_id` created (ops.retrain_requests rows): the input of a 'drift' alert,
    one per request (request_id is its idempotency key)."""
    return spark.table(requests_table).where(F.col("run_id") == run_id)
