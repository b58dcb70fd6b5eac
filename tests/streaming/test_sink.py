"""The foreachBatch writer on static DataFrames: table rows, and a replayed batch id changing nothing."""

from __future__ import annotations

import json

from lakewatch import tables
from lakewatch.streaming.job import ensure_stream_tables
from lakewatch.streaming.scoring import OUTPUT_SCHEMA
from lakewatch.streaming.sink import SinkSpec, write_batch

US = 1_000_000
ATTR = '[{"input":"value[t]","shap":0.4},{"input":"value[t-1]","shap":-0.1}]'


def _rows(batch: int):
    t0 = 1_767_225_600 * US + batch * 10 * 60 * US  # 2026-01-01 plus 10 minutes per batch
    event = json.dumps({"end_us": t0 + 300 * US, "peak_us": t0 + 300 * US, "points": batch + 1,
                        "is_open": batch < 1})
    return [
        ("score", "a", "value", t0, 1.0, 0.1, False, None, None, None),
        ("score", "a", "value", t0 + 300 * US, 9.0, 0.97, True, ATTR, 0.57, None),
        ("late", "a", "value", t0 - 3600 * US, 2.0, None, False, None, None, '{"last_scored_us":1}'),
        ("event", "a", "value", 1_767_225_600 * US, None, 0.97, False, ATTR, 0.57, event),
    ]


def test_batches_write_all_three_tables_once_per_batch_id(spark, lake):
    ensure_stream_tables(spark, lake)
    spec = SinkSpec(lake.tables.gold_anomaly_scores, lake.tables.gold_anomalies, lake.tables.silver_quarantine,
                    "det", "det@abc", 0.5, "unused", "test-source", app_id="app-1")
    first = write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec)
    assert (first.scored, first.flagged, first.late, first.events) == (2, 1, 1, 1)
    write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec)  # replay: skipped everywhere
    scores = spark.table(lake.tables.gold_anomaly_scores)
    assert scores.count() == 2
    flagged = scores.filter("flag").first()
    assert [(a["input"], a["shap"]) for a in flagged["attributions"]] == [("value[t]", 0.4), ("value[t-1]", -0.1)]
    assert flagged["detector"] == "det" and flagged["model_version"] == "det@abc" and flagged["batch_id"] == 0
    quarantine = spark.table(lake.tables.silver_quarantine).collect()
    assert [(q["reason"], q["stage"], q["ts_raw"]) for q in quarantine] == [
        ("late", "stream", "2025-12-31T23:00:00.000000Z")]
    write_batch(spark.createDataFrame(_rows(1), OUTPUT_SCHEMA), 1, spec=spec)  # the event grows and closes
    events = spark.table(lake.tables.gold_anomalies).collect()
    assert len(events) == 1
    assert (events[0]["points"], events[0]["is_open"], events[0]["batch_id"]) == (2, False, 1)
    assert [a["input"] for a in events[0]["top_inputs"]] == ["value[t]", "value[t-1]"]
    assert scores.count() == 4 and spark.table(lake.tables.silver_quarantine).count() == 2
    other = SinkSpec(**{**spec.__dict__, "app_id": "app-2"})  # a new checkpoint: a new app id writes again
    write_batch(spark.createDataFrame(_rows(5), OUTPUT_SCHEMA), 0, spec=other)
    assert scores.count() == 6
    assert tables.current_version(__import__("delta").tables.DeltaTable.forName(
        spark, lake.tables.gold_anomalies)) >= 2
