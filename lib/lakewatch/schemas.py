"""Schemas of every Delta table lakewatch writes, the keys its writers merge on, and the Delta properties a
table is created with; lakewatch.tables creates, reads and writes them.

The shapes that never reach a table stay next to the function that makes them: Arrow and pandas UDF outputs
(lakewatch.scoring, lakewatch.streaming.scoring, lakewatch.streaming.state, lakewatch.sources.synthetic), the
rows a source yields before bronze (lakewatch.sources.base.RAW_SCHEMA) and the parsed Kafka messages
(lakewatch.streaming.kafka).
"""

from __future__ import annotations

from pyspark.sql import types as T

from lakewatch.config import FeatureSettings

# Key of a reading in silver.readings: refine merges on it, so a re-run never writes a reading twice.
READING_KEYS = ("series_id", "channel", "timestamp")

BRONZE_READINGS = T.StructType([
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_raw", T.StringType()),
    T.StructField("value_raw", T.StringType()),
    T.StructField("raw_record", T.StringType()),
    T.StructField("source_name", T.StringType(), False),
    T.StructField("source", T.StringType(), False),
    T.StructField("source_version", T.StringType(), False),
    T.StructField("record_order", T.LongType(), False),
    T.StructField("ingest_id", T.StringType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
])

SILVER_READINGS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
    T.StructField("value", T.DoubleType(), False),
    T.StructField("source", T.StringType()),
    T.StructField("ingest_id", T.StringType()),
])

SILVER_QUARANTINE = T.StructType([
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_raw", T.StringType()),
    T.StructField("value_raw", T.StringType()),
    T.StructField("raw_record", T.StringType()),
    T.StructField("reason", T.StringType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("source", T.StringType()),
    T.StructField("source_version", T.StringType()),
    T.StructField("record_order", T.LongType()),
    T.StructField("ingest_id", T.StringType()),
    T.StructField("quarantined_at", T.TimestampType(), False),
])

GOLD_LABELS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("window_start", T.TimestampType(), False),
    T.StructField("window_end", T.TimestampType(), False),
    T.StructField("kind", T.StringType(), False),
    T.StructField("source_name", T.StringType(), False),
])

OPS_PIPELINE_RUNS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("job", T.StringType(), False),
    T.StructField("args", T.StringType()),
    T.StructField("started_at", T.TimestampType(), False),
    T.StructField("ended_at", T.TimestampType()),
    T.StructField("rows_in", T.LongType()),
    T.StructField("rows_out", T.LongType()),
    T.StructField("status", T.StringType(), False),
    T.StructField("error", T.StringType()),
    T.StructField("details", T.StringType()),
    T.StructField("git_commit", T.StringType()),
    T.StructField("config_hash", T.StringType()),
])

OPS_VALIDATION_RUNS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("suite", T.StringType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("success", T.BooleanType(), False),
    T.StructField("expectations_evaluated", T.IntegerType(), False),
    T.StructField("expectations_failed", T.IntegerType(), False),
    T.StructField("failures", T.StringType()),
    T.StructField("data_docs", T.StringType()),
    T.StructField("validated_at", T.TimestampType(), False),
])

# The alerts outbox: one row per (anomaly event, rule, notification channel, severity), or per digest.
# alert_id is the idempotency key receivers see. Other readers (the API's Prometheus metrics) rely on these names.
OPS_ALERTS = T.StructType([
    T.StructField("alert_id", T.StringType(), False),
    T.StructField("kind", T.StringType(), False),            # event | digest
    T.StructField("event_id", T.StringType()),               # lakewatch.event_ids.event_id; null for a digest
    T.StructField("series_id", T.StringType()),
    T.StructField("rule", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),         # webhook | slack | email
    T.StructField("severity", T.StringType(), False),
    T.StructField("status", T.StringType(), False),          # pending | sent | failed | suppressed
    T.StructField("attempts", T.IntegerType(), False),
    T.StructField("last_error", T.StringType()),
    T.StructField("created_at", T.TimestampType(), False),
    T.StructField("sent_at", T.TimestampType()),
    T.StructField("target", T.StringType(), False),          # the channel's name in alerts.channels
    T.StructField("retriable", T.BooleanType(), False),      # a failed row a later pass may try again
    T.StructField("reason", T.StringType()),                 # why suppressed: cooldown | digest
    T.StructField("event_start", T.TimestampType(), False),  # the event's start; a digest's window start
    T.StructField("payload", T.StringType(), False),         # the JSON body sent (signed as sent)
    T.StructField("updated_at", T.TimestampType(), False),
])

GOLD_NAB_RESULTS = T.StructType([
    T.StructField("detector", T.StringType(), False),
    T.StructField("series_id", T.StringType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
    T.StructField("value", T.DoubleType()),
    T.StructField("anomaly_score", T.DoubleType(), False),
    T.StructField("label", T.IntegerType(), False),
    T.StructField("flag", T.BooleanType(), False),
])

GOLD_NAB_SCORES = T.StructType([
    T.StructField("detector", T.StringType(), False),
    T.StructField("profile", T.StringType(), False),
    T.StructField("category", T.StringType(), False),
    T.StructField("threshold", T.DoubleType(), False),
    T.StructField("score", T.DoubleType()),
    T.StructField("raw_score", T.DoubleType(), False),
    T.StructField("tp", T.LongType(), False),
    T.StructField("fp", T.LongType(), False),
    T.StructField("fn", T.LongType(), False),
    T.StructField("tn", T.LongType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("evaluated_at", T.TimestampType(), False),
])

# The tables the score stream writes: gold.anomaly_scores (every point) and gold.anomalies (events).

ATTRIBUTIONS = T.ArrayType(T.StructType([
    T.StructField("input", T.StringType()),
    T.StructField("shap", T.DoubleType()),
]))

GOLD_ANOMALY_SCORES = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
    T.StructField("value", T.DoubleType()),
    T.StructField("raw_score", T.DoubleType(), False),
    T.StructField("score", T.DoubleType(), False),
    T.StructField("flag", T.BooleanType(), False),
    T.StructField("attributions", ATTRIBUTIONS),
    T.StructField("base_value", T.DoubleType()),
    T.StructField("detector", T.StringType(), False),
    T.StructField("model_version", T.StringType(), False),
    T.StructField("scored_at", T.TimestampType(), False),
    T.StructField("batch_id", T.LongType(), False),
])

# Delta collects min/max/null-count statistics for data skipping on gold.anomaly_scores' first seven columns
# (series_id .. flag: the columns dashboards filter on) instead of the default 32; the statistics of the others
# cost about a tenth of every append of scores (BENCHMARKS.md, streaming) and skip no file.
GOLD_ANOMALY_SCORES_PROPERTIES = {
    "delta.dataSkippingNumIndexedCols": str(GOLD_ANOMALY_SCORES.fieldNames().index("flag") + 1)}

GOLD_ANOMALIES = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("start", T.TimestampType(), False),
    T.StructField("end", T.TimestampType(), False),
    T.StructField("peak_at", T.TimestampType(), False),
    T.StructField("peak_score", T.DoubleType(), False),
    T.StructField("points", T.LongType(), False),
    T.StructField("threshold", T.DoubleType(), False),
    T.StructField("is_open", T.BooleanType(), False),
    T.StructField("top_inputs", ATTRIBUTIONS),
    T.StructField("base_value", T.DoubleType()),
    T.StructField("detector", T.StringType(), False),
    T.StructField("model_version", T.StringType(), False),
    T.StructField("batch_id", T.LongType(), False),
    T.StructField("updated_at", T.TimestampType(), False),
])

# Key of an event in gold.anomalies: a batch writes at most one version of each.
EVENT_KEY = ("series_id", "channel", "start", "detector", "model_version")

# What people said about anomaly events (POST /feedback on the API, lakewatch.api.feedback), append-only: one row
# per verdict, never updated, so a later verdict on the same event is a new row (the newest one counts). Carries
# the event's key beside its id (lakewatch.event_ids), so per-series thresholds are learnt from it without a join.
GOLD_FEEDBACK = T.StructType([
    T.StructField("feedback_id", T.StringType(), False),
    T.StructField("event_id", T.StringType(), False),
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("event_start", T.TimestampType(), False),
    T.StructField("detector", T.StringType(), False),
    T.StructField("model_version", T.StringType(), False),
    T.StructField("peak_score", T.DoubleType()),
    T.StructField("threshold", T.DoubleType()),
    T.StructField("label", T.StringType(), False),           # true_positive | false_positive
    T.StructField("is_true_positive", T.BooleanType(), False),
    T.StructField("note", T.StringType()),
    T.StructField("reviewer", T.StringType()),
    T.StructField("source", T.StringType(), False),          # api
    T.StructField("created_at", T.TimestampType(), False),
])


# Drift monitoring (lakewatch.drift): one row per (series, channel, reference and window) compared; channel "*" is
# a multichannel entity's joint distribution (the MMD). Statistics are null when a side had too few rows.
GOLD_DRIFT_METRICS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("reference_start", T.TimestampType(), False),
    T.StructField("reference_end", T.TimestampType(), False),
    T.StructField("window_start", T.TimestampType(), False),
    T.StructField("window_end", T.TimestampType(), False),
    T.StructField("rows_reference", T.LongType(), False),
    T.StructField("rows_window", T.LongType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("ks_statistic", T.DoubleType()),
    T.StructField("ks_p_value", T.DoubleType()),
    T.StructField("psi", T.DoubleType()),
    T.StructField("wasserstein", T.DoubleType()),
    T.StructField("score_shift", T.DoubleType()),
    T.StructField("flag_rate_reference", T.DoubleType()),
    T.StructField("flag_rate_window", T.DoubleType()),
    T.StructField("flag_rate_shift", T.DoubleType()),
    T.StructField("mmd", T.DoubleType()),
    T.StructField("mmd_p_value", T.DoubleType()),
    T.StructField("drifted", T.BooleanType(), False),
    T.StructField("reason", T.StringType()),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("computed_at", T.TimestampType(), False),
])

# Key of a measurement in gold.drift_metrics: a re-run for the same window merges onto it.
DRIFT_KEY = ("series_id", "channel", "reference_start", "reference_end", "window_start", "window_end")

# A series (channel "*": a multichannel entity) that drifted for `windows` windows in a row. The retrain job fills
# decision, decided_at and details (candidate and champion figures) when it handles the request.
OPS_RETRAIN_REQUESTS = T.StructType([
    T.StructField("request_id", T.StringType(), False),
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("window_end", T.TimestampType(), False),
    T.StructField("requested_at", T.TimestampType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("windows", T.IntegerType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("decision", T.StringType()),
    T.StructField("decided_at", T.TimestampType()),
    T.StructField("details", T.StringType()),
])

# Per-series alert thresholds (lakewatch.thresholds, ./spark-submit.sh recalibrate), append-only: a row each time a
# series' threshold changes, with the one it replaced, why, the feedback and history it was learnt from, and who
# set it when. The current threshold of a (series_id, channel, detector) is its newest row (set_at, then run_id).
OPS_THRESHOLDS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("detector", T.StringType(), False),
    T.StructField("threshold", T.DoubleType(), False),
    T.StructField("previous", T.DoubleType()),               # null: the series had no row (the default applied)
    T.StructField("default_threshold", T.DoubleType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("false_positives", T.IntegerType(), False),   # events whose newest verdict is false positive
    T.StructField("true_positives", T.IntegerType(), False),
    T.StructField("events", T.IntegerType(), False),            # events of the series in the history judged
    T.StructField("worst_week_events", T.IntegerType(), False),  # most events of one week at the new threshold
    T.StructField("set_by", T.StringType(), False),
    T.StructField("set_at", T.TimestampType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("git_commit", T.StringType()),
    T.StructField("config_hash", T.StringType()),
])

# One evaluation run (./spark-submit.sh evaluate): a row per entity (a series_id and its channels) and one overall row
# (entity '*', counts summed over the scored entities), point-wise metrics from flag = score >= threshold and, with
# --metric nab|both, the NAB standard-profile score; a skipped entity has status 'skipped' and its reason.
GOLD_EVALUATIONS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("evaluated_at", T.TimestampType(), False),
    T.StructField("entity", T.StringType(), False),
    T.StructField("channels", T.StringType()),
    T.StructField("detector", T.StringType()),
    T.StructField("labels", T.StringType(), False),
    T.StructField("metric", T.StringType(), False),
    T.StructField("threshold", T.DoubleType()),
    T.StructField("train_rows", T.IntegerType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("reason", T.StringType()),
    T.StructField("rows_scored", T.LongType(), False),
    T.StructField("anomalous", T.LongType(), False),
    T.StructField("flagged", T.LongType(), False),
    T.StructField("tp", T.LongType(), False),
    T.StructField("fp", T.LongType(), False),
    T.StructField("fn", T.LongType(), False),
    T.StructField("tn", T.LongType(), False),
    T.StructField("precision", T.DoubleType()),
    T.StructField("recall", T.DoubleType()),
    T.StructField("f1", T.DoubleType()),
    T.StructField("false_alarm_rate", T.DoubleType()),
    T.StructField("missed_alarm_rate", T.DoubleType()),
    T.StructField("nab_standard", T.DoubleType()),
    T.StructField("git_commit", T.StringType()),
    T.StructField("config_hash", T.StringType()),
])


def feature_columns(settings: FeatureSettings) -> list[str]:
    """Names of gold.features' feature columns, in table order, for these settings."""
    cols = ["hour_sin", "hour_cos", "dow_sin", "dow_cos"]
    cols += [f"lag_{k}" for k in settings.lags] + [f"diff_{k}" for k in settings.lags]
    for w in settings.windows:
        cols += [f"mean_{w}", f"std_{w}", f"min_{w}", f"max_{w}"]
    return [*cols, "zscore"]


def gold_features(settings: FeatureSettings) -> T.StructType:
    """The schema of gold.features, whose columns depend on the configured windows and lags: the reading's
    series_id, channel, timestamp and value, the feature_columns(settings) (doubles) and feature_version."""
    return T.StructType([
        T.StructField("series_id", T.StringType(), False),
        T.StructField("channel", T.StringType(), False),
        T.StructField("timestamp", T.TimestampType(), False),
        T.StructField("value", T.DoubleType(), False),
        *[T.StructField(name, T.DoubleType()) for name in feature_columns(settings)],
        T.StructField("feature_version", T.IntegerType(), False),
    ])


# Every fixed-schema table by its config key (config.tables); gold.features is gold_features(settings).
TABLE_SCHEMAS: dict[str, T.StructType] = {
    "bronze_readings": BRONZE_READINGS,
    "silver_readings": SILVER_READINGS,
    "silver_quarantine": SILVER_QUARANTINE,
    "gold_labels": GOLD_LABELS,
    "gold_nab_results": GOLD_NAB_RESULTS,
    "gold_nab_scores": GOLD_NAB_SCORES,
    "gold_anomaly_scores": GOLD_ANOMALY_SCORES,
    "gold_anomalies": GOLD_ANOMALIES,
    "ops_pipeline_runs": OPS_PIPELINE_RUNS,
    "ops_validation_runs": OPS_VALIDATION_RUNS,
    "gold_feedback": GOLD_FEEDBACK,
    "ops_alerts": OPS_ALERTS,
    "gold_drift_metrics": GOLD_DRIFT_METRICS,
    "ops_retrain_requests": OPS_RETRAIN_REQUESTS,
    "ops_thresholds": OPS_THRESHOLDS,
    "gold_evaluations": GOLD_EVALUATIONS,
}

# Delta table properties a table is created with, by config key (a table that exists keeps its own).
TABLE_PROPERTIES: dict[str, dict[str, str]] = {
    "gold_anomaly_scores": GOLD_ANOMALY_SCORES_PROPERTIES,
}
