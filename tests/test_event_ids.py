"""Event ids (lakewatch.event_ids) agree between Python, Spark SQL and DuckDB, so an id from one opens the same
event in the others."""

from __future__ import annotations

from datetime import UTC, datetime

from lakewatch.event_ids import event_id, event_id_sql, is_event_id
from lakewatch.readers import duck

EVENTS = [
    ("pump-1", "temp", datetime(2026, 3, 1, 12, 0, 0, 123456), "knn", "v1"),
    ("machine/valve 2", "value", datetime(1999, 12, 31, 23, 59, 59), "registry:lw", "7"),
    ("ü-series", "ch|1", datetime(2026, 12, 4, 0, 0, 0), "d", "0"),
]


def test_python_ids_are_short_stable_and_distinct():
    ids = [event_id(*e) for e in EVENTS]
    assert all(is_event_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert event_id(*EVENTS[0]) == event_id(*EVENTS[0][:2], EVENTS[0][2].replace(tzinfo=UTC), *EVENTS[0][3:])
    assert not is_event_id("not-an-id")


def _rows_sql() -> str:
    values = ", ".join(f"('{s}', '{c}', TIMESTAMP '{t.isoformat(sep=' ')}', '{d}', '{m}')" for s, c, t, d, m in EVENTS)
    return f"SELECT * FROM (VALUES {values}) AS a(series_id, channel, start, detector, model_version)"


def test_duckdb_sql_matches_python():
    con = duck.connect()
    try:
        got = [r[0] for r in con.execute(f"SELECT {event_id_sql('a')} FROM ({_rows_sql()}) a").fetchall()]
    finally:
        con.close()
    assert got == [event_id(*e) for e in EVENTS]


def test_spark_sql_matches_python(spark):
    got = [r[0] for r in spark.sql(f"SELECT {event_id_sql('a')} FROM ({_rows_sql()}) a").collect()]
    assert got == [event_id(*e) for e in EVENTS]

