"""The small batch's rows built on the driver are Spark's rows: the same batches through both paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from lakewatch.alerts.notifier import events_and_sends
from lakewatch.streaming.driver_rows import event_rows, score_rows
from lakewatch.streaming.scoring import KIND_EVENT, KIND_EVENT_UPDATE, OUTPUT_SCHEMA
from lakewatch.streaming.sink import OPERATOR_ALERTS, SinkSpec, to_events, to_scores

US = 1_000_000
T0 = 1_767_225_600 * US  # 2026-01-01
NAN = float("nan")
ATTR = '[{"input":"value[t]","shap":0.4},{"input":"value[t-1]","shap":-0.1}]'
MACHINE_ATTR = '[{"input":"s2","shap":0.31},{"input":"s1[t-1]","shap":0}]'
SENT = [{"alert_id": "k1", "rule": "all", "target": "hook", "severity": "critical", "status": "sent",
         "attempts": 1, "error": None, "sent_at": 1.5}]


def _detail(end: int, points: int, is_open: bool, **more) -> str:
    return json.dumps({"end_us": end, "peak_us": end, "points": points, "is_open": is_open, **more})


# Packed rows as the stateful operator emits them: explained and unexplained points, a series without any
# explanation, a machine (channel '*', its own detector in the detail, no value), late and rejected rows (which the
# driver's builders skip), new events and later versions, with and without the operator's sends and thresholds.
BATCH = [
    ("score", "a", "value", [T0, T0 + 300 * US, T0 + 600 * US], [1.0, 9.0, -2.5], [0.1, 0.97, 0.2],
     [False, True, False], [None, ATTR, None], [NAN, 0.57, NAN], None),
    ("score", "b", "value", [T0], [3.0], [0.2], [False], None, None, None),
    ("score", "m", "*", [T0, T0 + 60 * US], [NAN, NAN], [0.3, 0.91], [False, True], [None, MACHINE_ATTR],
     [NAN, 0.12], json.dumps({"detector": "lakewatch_machine", "model_version": "lakewatch_machine@7"})),
    ("late", "a", "value", [T0 - 3600 * US], [2.0], None, None, None, None, '{"last_scored_us":1}'),
    ("rejected", "m", "s9", [T0], [4.0], None, None, None, None, '{"reason":"entity_unknown_channel"}'),
    ("event", "a", "value", [T0 + 300 * US], None, [0.97], None, [ATTR], [0.57],
     _detail(T0 + 300 * US, 1, True, threshold=0.9, alerts=SENT)),
    ("event_update", "c", "value", [T0 - 86_400 * US], None, [0.99], None, [None], [NAN],
     _detail(T0, 12, False)),
    ("event", "m", "*", [T0 + 60 * US], None, [0.91], None, [MACHINE_ATTR], [0.12],
     _detail(T0 + 60 * US, 1, True, detector="lakewatch_machine", model_version="lakewatch_machine@7")),
]
NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _spec(entities: bool) -> SinkSpec:
    return SinkSpec("gold.s", "gold.a", "silver.q", "det", "det@abc", 0.5, "unused", "test-source", entities=entities)


def _same(spark_rows: pa.Table, driver_rows: pa.Table, key: list[str]) -> None:
    """Both tables hold the same columns and values, row for row once sorted by `key` (times compared in UTC)."""
    def plain(table: pa.Table) -> list[dict]:
        columns = {}
        for name in table.column_names:
            column = table[name]
            if pa.types.is_timestamp(column.type):
                column = column.cast(pa.timestamp("us", tz="UTC"))
            columns[name] = column
        rows = pa.table(columns).sort_by([(k, "ascending") for k in key]).to_pylist()
        return [{k: ("nan" if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]

    assert spark_rows.column_names == driver_rows.column_names
    assert plain(spark_rows) == plain(driver_rows)


@pytest.mark.parametrize("entities", [False, True], ids=["series", "entities"])
def test_score_rows_are_sparks_rows(spark, entities):
    batch = spark.createDataFrame(BATCH, OUTPUT_SCHEMA)
    built = score_rows(batch.toArrow(), _spec(entities), 7, NOW)
    assert built.num_rows == 6
    _same(to_scores(batch, _spec(entities), 7, NOW).toArrow(), built, ["series_id", "timestamp"])
    machine = [r for r in built.to_pylist() if r["channel"] == "*"]
    assert [r["detector"] for r in machine] == (["lakewatch_machine"] * 2 if entities else ["det"] * 2)
    assert [r["value"] is None for r in machine] == [entities] * 2


@pytest.mark.parametrize("kinds", [(KIND_EVENT,), (KIND_EVENT_UPDATE,), (KIND_EVENT, KIND_EVENT_UPDATE)])
def test_event_rows_are_sparks_rows(spark, kinds):
    batch = spark.createDataFrame(BATCH, OUTPUT_SCHEMA)
    built = event_rows(batch.toArrow(), _spec(False), 7, NOW, kinds)
    assert built.num_rows == (3 if len(kinds) == 2 else 2 if kinds == (KIND_EVENT,) else 1)
    _same(to_events(batch, _spec(False), 7, NOW, kinds).toArrow(), built, ["series_id", "start"])


def test_the_alerts_hook_reads_the_same_events_and_sends_from_either(spark):
    batch = spark.createDataFrame(BATCH, OUTPUT_SCHEMA)
    kinds = (KIND_EVENT, KIND_EVENT_UPDATE)
    by_spark = to_events(batch, _spec(True), 7, NOW, kinds, operator_alerts=True)
    by_driver = event_rows(batch.toArrow(), _spec(True), 7, NOW, kinds, OPERATOR_ALERTS)
    events, sends = events_and_sends(by_driver)
    spark_events, spark_sends = events_and_sends(by_spark)
    assert sorted(events, key=str) == sorted(spark_events, key=str) and sends == spark_sends
    assert sorted(e.series_id for e in events) == ["a", "c", "m"] and list(sends) == ["k1"]
    assert {e.detector for e in events if e.series_id == "m"} == {"lakewatch_machine"}


def test_a_batch_collected_in_several_chunks_builds_the_same_rows(spark):
    """A large batch reaches the driver as many Arrow record batches (one or more per partition): the builders
    read chunked columns, with chunks that split a kind's rows and hold no row of some kind, as one."""
    whole = spark.createDataFrame(BATCH, OUTPUT_SCHEMA).toArrow()
    chunked = pa.concat_tables([whole.slice(0, 1), whole.slice(1, 0), whole.slice(1, 4), whole.slice(5)])
    assert chunked.column("series_id").num_chunks > 1
    kinds = (KIND_EVENT, KIND_EVENT_UPDATE)
    _same(score_rows(whole, _spec(True), 7, NOW), score_rows(chunked, _spec(True), 7, NOW), ["series_id", "timestamp"])
    _same(event_rows(whole, _spec(True), 7, NOW, kinds, OPERATOR_ALERTS),
          event_rows(chunked, _spec(True), 7, NOW, kinds, OPERATOR_ALERTS), ["series_id", "start"])
