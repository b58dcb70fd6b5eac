"""Delta commits from the driver with delta-rs, on tables Spark created and writes: one app transaction for both."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from lakewatch import driver_commits

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _arrow(rows: list[tuple[str, datetime, float]]) -> pa.Table:
    return pa.table({"key": [r[0] for r in rows], "start": pa.array([r[1] for r in rows], pa.timestamp("us", "UTC")),
                     "value": [r[2] for r in rows]})


@pytest.fixture()
def table(spark, tmp_path):
    """A Delta table Spark created, with a non-null key, holding one row."""
    location = f"file:{tmp_path / 'table'}"
    spark.createDataFrame([("a", T0, 1.0)], "key STRING NOT NULL, start TIMESTAMP, value DOUBLE").write.format(
        "delta").save(location)
    return location


def _rows(spark, location: str) -> list[tuple]:
    return sorted((r["key"], r["value"]) for r in spark.read.format("delta").load(location).collect())


def test_an_append_commits_once_per_app_version_whichever_writer_was_first(spark, table):
    spark.createDataFrame([("b", T0, 2.0)], "key STRING, start TIMESTAMP, value DOUBLE").write.format("delta").mode(
        "append").option("txnAppId", "query").option("txnVersion", 1).save(table)
    assert not driver_commits.append(table, _arrow([("b", T0, 2.0)]), "query", 1)  # Spark committed it
    assert driver_commits.append(table, _arrow([("c", T0, 3.0)]), "query", 2, user_metadata="mine")
    spark.createDataFrame([("c", T0, 3.0)], "key STRING, start TIMESTAMP, value DOUBLE").write.format("delta").mode(
        "append").option("txnAppId", "query").option("txnVersion", 2).save(table)  # Spark skips what delta-rs did
    assert _rows(spark, table) == [("a", 1.0), ("b", 2.0), ("c", 3.0)]
    history = spark.sql(f"DESCRIBE HISTORY delta.`{driver_commits.local_path(table)}` LIMIT 1").first()
    assert history["userMetadata"] == "mine"


def test_a_merge_updates_known_keys_inserts_new_ones_and_is_skipped_when_replayed(spark, table):
    rows = _arrow([("a", T0, 5.0), ("d", T0, 4.0)])
    assert driver_commits.merge(table, rows, ["key", "start"], "query-updates", 3, since=("start", T0))
    assert not driver_commits.merge(table, rows, ["key", "start"], "query-updates", 3)
    assert _rows(spark, table) == [("a", 5.0), ("d", 4.0)]
    # `since` after the target row's start: the row is outside the merge, so the key is inserted again
    later = datetime(2026, 1, 2, tzinfo=UTC)
    driver_commits.merge(table, _arrow([("a", T0, 6.0)]), ["key", "start"], "query-updates", 4, since=("start", later))
    assert _rows(spark, table) == [("a", 5.0), ("a", 6.0), ("d", 4.0)]


def test_rows_with_a_column_the_table_lacks_are_refused_by_name(table):
    rows = _arrow([("e", T0, 1.0)]).append_column("colour", pa.array(["red"]))
    with pytest.raises(ValueError, match="colour"):
        driver_commits.append(table, rows, "query", 9)


@pytest.mark.parametrize(("location", "expected"), [
    ("file:/lake/gold/scores", True), ("file:///lake/gold/scores", True), ("/lake/gold/scores", True),
    ("s3a://bucket/gold/scores", False), ("hdfs://nn/gold/scores", False), ("", False)])
def test_only_local_tables_are_written_from_the_driver(location, expected):
    assert driver_commits.writable(location) is expected
