"""Schemas of the tables the score stream writes: gold.anomaly_scores (every point) and gold.anomalies (events)."""

from __future__ import annotations

from pyspark.sql import types as T

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
