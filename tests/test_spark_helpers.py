"""Session helpers: driver-side rows as a local relation."""

from __future__ import annotations

from lakewatch.spark import local_frame

SCHEMA = "key long, series_id string, channel string"


def test_local_frame_rows_are_read_without_a_job_and_keep_their_values(spark) -> None:
    rows = [(0, "machine-1", "value"), (1, "machine-2", None), (2, "ünïcode", "temp")]
    frame = local_frame(spark, rows, SCHEMA)
    plan = frame._jdf.queryExecution().executedPlan().toString()
    assert "LocalTableScan" in plan, plan
    assert [tuple(row) for row in frame.collect()] == rows
    assert frame.schema.simpleString() == "struct<key:bigint,series_id:string,channel:string>"


def test_an_empty_local_frame_has_the_schema_and_no_rows(spark) -> None:
    frame = local_frame(spark, [], SCHEMA)
    assert frame.count() == 0
    assert frame.columns == ["key", "series_id", "channel"]
