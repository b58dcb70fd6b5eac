"""The foreachBatch writer on static DataFrames: table rows, and a replayed batch id changing nothing."""

from __future__ import annotations

import json
import time

import pytest
from delta.tables import DeltaTable
from deltalake import DeltaTable as LogTable

from lakewatch import driver_commits, tables
from lakewatch.streaming.job import ensure_stream_tables
from lakewatch.streaming.scoring import OUTPUT_SCHEMA
from lakewatch.streaming.sink import SinkSpec, table_locations, write_batch

US = 1_000_000
NAN = float("nan")
ATTR = '[{"input":"value[t]","shap":0.4},{"input":"value[t-1]","shap":-0.1}]'
NON_FINITE = json.dumps({"reason": "entity_non_finite", "message": "non-finite value"})
UNKNOWN = json.dumps({"reason": "entity_unknown_channel", "message": "channel 's9' is not one of entity m's"})


def _rows(batch: int):
    t0 = 1_767_225_600 * US + batch * 10 * 60 * US  # 2026-01-01 plus 10 minutes per batch
    event = json.dumps({"end_us": t0 + 300 * US, "peak_us": t0 + 300 * US, "points": batch + 1,
                        "is_open": batch < 1})
    fresh = json.dumps({"end_us": t0, "peak_us": t0, "points": 1, "is_open": False})
    # Packed rows: a's two points (one explained) and one late point, and a's event, new at batch 0 and updated
    # later; batch 1 also scores one point of "b" without explanations and starts an event of "b".
    return [
        ("score", "a", "value", [t0, t0 + 300 * US], [1.0, 9.0], [0.1, 0.97], [False, True], [None, ATTR],
         [NAN, 0.57], None),
        ("late", "a", "value", [t0 - 3600 * US], [2.0], None, None, None, None, '{"last_scored_us":1}'),
        ("event" if batch == 0 else "event_update", "a", "value", [1_767_225_600 * US], None, [0.97], None, [ATTR],
         [0.57], event),
    ] + ([("score", "b", "value", [t0], [3.0], [0.2], [False], None, None, None),
          ("event", "b", "value", [t0], None, [0.8], None, [None], [NAN], fresh),
          # a machine's rejected readings (lakewatch.streaming.entities), by reason
          ("rejected", "m", "s1", [t0, t0 + 300 * US], [NAN, NAN], None, None, None, None, NON_FINITE),
          ("rejected", "m", "s9", [t0], [4.0], None, None, None, None, UNKNOWN)] if batch == 1 else [])


def _spec(spark, lake, app_id: str, on_driver: bool) -> SinkSpec:
    """A sink writing the lake's stream tables by name through Spark, or by path from the driver (delta-rs)."""
    targets = (lake.tables.gold_anomaly_scores, lake.tables.gold_anomalies, lake.tables.silver_quarantine)
    return SinkSpec(*targets, "det", "det@abc", 0.5, "unused", "test-source", app_id=app_id,
                    **({"locations": table_locations(spark, targets), "driver_commit_rows": 1000} if on_driver else {}))


@pytest.mark.parametrize("on_driver", [False, True], ids=["spark", "driver"])
def test_batches_write_all_three_tables_once_per_batch_id(spark, lake, on_driver):
    ensure_stream_tables(spark, lake)
    spec = _spec(spark, lake, f"app-1-{on_driver}", on_driver)
    base = tables.current_version(DeltaTable.forName(spark, lake.tables.gold_anomalies))
    first = write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec)
    assert (first.scored, first.flagged, first.late, first.events) == (2, 1, 1, 1)
    assert first.quarantined == {"late": 1}
    write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec)  # replay: skipped everywhere
    scores = spark.table(lake.tables.gold_anomaly_scores)
    assert scores.count() == 2
    flagged = scores.filter("flag").first()
    assert scores.filter("NOT flag").first()["base_value"] is None  # NaN in the packed row: no base value
    assert [(a["input"], a["shap"]) for a in flagged["attributions"]] == [("value[t]", 0.4), ("value[t-1]", -0.1)]
    assert flagged["detector"] == "det" and flagged["model_version"] == "det@abc" and flagged["batch_id"] == 0
    quarantine = spark.table(lake.tables.silver_quarantine).collect()
    assert [(q["reason"], q["stage"], q["ts_raw"]) for q in quarantine] == [
        ("late", "stream", "2025-12-31T23:00:00.000000Z")]
    second = write_batch(spark.createDataFrame(_rows(1), OUTPUT_SCHEMA), 1, spec=spec)  # a's event closes, b's starts
    assert (second.scored, second.events) == (3, 2) and set(second.write_seconds) == {"scores", "late", "events"}
    assert second.quarantined == {"entity_non_finite": 2, "entity_unknown_channel": 1, "late": 1}
    write_batch(spark.createDataFrame(_rows(1), OUTPUT_SCHEMA), 1, spec=spec)  # replay: the MERGE is skipped
    anomalies = DeltaTable.forName(spark, lake.tables.gold_anomalies)
    assert tables.current_version(anomalies) == base + 2  # batch 0's append, batch 1's one MERGE (new + update)
    events = {e["series_id"]: e for e in spark.table(lake.tables.gold_anomalies).collect()}
    assert sorted(events) == ["a", "b"] and spark.table(lake.tables.gold_anomalies).count() == 2
    assert (events["a"]["points"], events["a"]["is_open"], events["a"]["batch_id"]) == (2, False, 1)
    assert [a["input"] for a in events["a"]["top_inputs"]] == ["value[t]", "value[t-1]"]
    assert (events["b"]["points"], events["b"]["top_inputs"], events["b"]["batch_id"]) == (1, None, 1)
    assert scores.count() == 5
    reasons = spark.table(lake.tables.silver_quarantine).groupBy("reason").count().collect()
    assert {r["reason"]: r["count"] for r in reasons} == second.quarantined | {"late": 2}
    targets = (spec.scores_table, spec.anomalies_table, spec.quarantine_table)
    other = SinkSpec(**{**spec.__dict__, "app_id": f"app-2-{on_driver}",  # a new checkpoint: a new app id writes
                        "locations": table_locations(spark, targets)})  # again, by path this time
    write_batch(spark.createDataFrame(_rows(5), OUTPUT_SCHEMA), 0, spec=other)
    assert scores.count() == 7
    assert spark.table(lake.tables.gold_anomalies).count() == 2  # app-2's batch updated a's event in place
    assert tables.current_version(anomalies) == base + 3


def test_a_batch_committed_by_one_writer_is_skipped_by_the_other(spark, lake):
    """Spark's txnAppId and delta-rs's app transaction are the same Delta action: a replayed batch is skipped
    whichever path committed it first (a replay takes the other path when the setting changed in between)."""
    ensure_stream_tables(spark, lake)
    by_spark, by_driver = _spec(spark, lake, "app-mixed", False), _spec(spark, lake, "app-mixed", True)
    scores = spark.table(lake.tables.gold_anomaly_scores)
    before = scores.count()
    write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=by_spark)
    write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=by_driver)
    assert scores.count() == before + 2
    write_batch(spark.createDataFrame(_rows(1), OUTPUT_SCHEMA), 1, spec=by_driver)
    write_batch(spark.createDataFrame(_rows(1), OUTPUT_SCHEMA), 1, spec=by_spark)
    assert scores.count() == before + 5
    assert scores.where("batch_id = 1 AND series_id = 'b'").first()["score"] == 0.2


@pytest.mark.parametrize("on_driver", [False, True], ids=["spark", "driver"])
def test_score_files_carry_statistics_for_the_filtered_columns_only(spark, lake, on_driver):
    ensure_stream_tables(spark, lake)
    spec = _spec(spark, lake, f"app-stats-{on_driver}", on_driver)
    write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec)
    location = tables.catalog_location(spark, spec.scores_table)
    stats = [json.loads(add["stats"]) for add in spark.read.json(f"{location}/_delta_log/*.json")
             .where("add IS NOT NULL").select("add.stats").collect()]
    assert stats and all(s["numRecords"] > 0 for s in stats)
    for s in stats:  # series_id .. flag are indexed (files skipped on them); the rest cost without skipping any
        assert {"series_id", "timestamp", "score", "flag"} <= set(s["nullCount"])
        assert not {"base_value", "detector", "scored_at", "batch_id"} & set(s["nullCount"])


def test_which_batches_the_driver_commits():
    spec = SinkSpec("gold.s", "gold.a", "silver.q", "det", "det@abc", 0.5, "unused", "test-source",
                    locations={"gold.s": "file:/lake/gold/s", "gold.a": "s3a://bucket/gold/a"}, driver_commit_rows=100)
    assert spec.on_driver("gold.s", 100) and not spec.on_driver("gold.s", 101)
    assert not spec.on_driver("gold.a", 1) and not spec.on_driver("silver.q", 1)  # an object store; by name
    never = SinkSpec(**{**spec.__dict__, "driver_commit_rows": 0})
    assert not never.on_driver("gold.s", 0) and not never.on_driver("gold.s", 1)


@pytest.mark.parametrize("beside", [False, True], ids=["before", "beside"])
def test_the_alerts_decision_runs_before_the_writes_or_beside_them(spark, lake, beside):
    """Without the operator's sends the driver decides before any write starts (its alerts leave first); with them
    (decide_beside_writes) the decision runs beside the writes: here it waits for the scores commit and sees it.
    The batch is the driver's, so the event versions reach the hook as Arrow."""
    ensure_stream_tables(spark, lake)
    spec = SinkSpec(**{**_spec(spark, lake, f"app-decide-{beside}", True).__dict__, "decide_beside_writes": beside})
    scores = LogTable(driver_commits.local_path(spec.location(spec.scores_table)))
    seen: dict[str, object] = {}

    def on_events(versions, batch_id, app_id):
        deadline = time.monotonic() + (60 if beside else 0)
        while True:
            scores.update_incremental()
            if driver_commits.committed(scores, app_id, batch_id) or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        seen.update(events=versions.num_rows, scores_committed=driver_commits.committed(scores, app_id, batch_id))
        return lambda: seen.update(recorded=True)

    stats = write_batch(spark.createDataFrame(_rows(0), OUTPUT_SCHEMA), 0, spec=spec, on_events=on_events)
    assert seen == {"events": 1, "scores_committed": beside, "recorded": True}
    assert ("alerts_decide" in stats.write_seconds) is not beside
