"""The curated views (lakewatch.views) over known rows: each view gives the expected rows in Spark SQL (views created
in the catalog by create_views) and in DuckDB (the same .sql files through LakeReader), without a JVM for the latter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lakewatch import schemas, tables, views
from lakewatch.readers import LakeReader
from lakewatch.schemas import GOLD_ANOMALIES, GOLD_ANOMALY_SCORES
from lakewatch.streaming.job import STREAM_TABLES, ensure_stream_tables
from tests.conftest import make_config

NOW = datetime.now(UTC).replace(microsecond=0)
H = timedelta(hours=1)


def ago(delta: timedelta) -> datetime:
    return NOW - delta


def _attr(*pairs: tuple[str, float]) -> list[dict]:
    return [{"input": name, "shap": shap} for name, shap in pairs]


SILVER = [
    ("pump-1", "temp", ago(2 * H), 1.0, "test", "i1"),
    ("pump-1", "temp", ago(H / 6), 2.5, "test", "i1"),
    ("pump-1", "pressure", ago(H), 7.0, "test", "i1"),
    ("cpu-2", "value", ago(72 * H), 4.0, "test", "i1"),
    # a machine (multichannel entity) scored under channel '*': its '*' row counts the readings of all channels
    ("mach-4", "s0", ago(H), 3.0, "test", "i1"),
    ("mach-4", "s0", ago(H / 2), 3.5, "test", "i1"),
    ("mach-4", "s1", ago(H / 2), 8.0, "test", "i1"),
]
SCORES = [
    ("pump-1", "temp", ago(2 * H), 1.0, 0.1, 0.2, False, None, None, "d", "v1", NOW, 0),
    ("pump-1", "temp", ago(H / 6), 2.5, 0.9, 0.95, True, _attr(("value", -0.5)), 0.05, "d", "v1", NOW, 1),
    ("cpu-2", "value", ago(72 * H), 4.0, 0.05, 0.1, False, None, None, "d", "v1", NOW, 0),
    ("kafka-3", "value", ago(H / 12), 9.0, 0.4, 0.5, False, None, None, "d", "v1", NOW, 1),
    ("mach-4", "*", ago(H), None, 0.1, 0.2, False, None, None, "m", "v1", NOW, 0),
    ("mach-4", "*", ago(H / 2), None, 0.2, 0.3, False, None, None, "m", "v1", NOW, 1),
]
OPEN_EVENT = ("pump-1", "temp", ago(H / 6), ago(H / 6), ago(H / 6), 0.95, 1, 0.9, True,
              _attr(("lag_1", 0.3), ("value", -0.5), ("mean_1h", 0.1)), 0.05, "d", "v1", 1, NOW)
EVENTS = [
    OPEN_EVENT,
    ("pump-1", "temp", ago(30 * H), ago(29 * H), ago(30 * H), 0.92, 3, 0.9, False, _attr(("value", 0.2)), 0.0,
     "d", "v1", 0, NOW),
    ("cpu-2", "value", ago(72 * H), ago(71 * H), ago(72 * H), 0.99, 2, 0.9, False, None, None, "d", "v1", 0, NOW),
]
QUARANTINE = [
    ("pump-1", "temp", "x", "abc", "raw", "non_numeric_value", "refine", "test", "1", 1, "i1", ago(H)),
    ("pump-1", "temp", "y", "abd", "raw", "non_numeric_value", "refine", "test", "1", 2, "i1", ago(H)),
    ("pump-1", "temp", None, None, None, "out_of_order", "stream", "s", None, None, None, ago(H / 2)),
    (None, "temp", "z", "1", "raw", "missing_series_id", "refine", "test", "1", 3, "i1", ago(H)),
    ("bad-9", "value", "bad", "1", "raw", "unparseable_timestamp", "refine", "test", "1", 4, "i2", ago(2 * H)),
    ("mach-4", "s1", "t", "NaN", "raw", "entity_non_finite", "stream", "test", None, None, None, ago(H / 2)),
]
PIPELINE = {"ingest_id": "i1", "refine": {"ingest_id": "i1", "bronze_rows": 10, "silver_rows": 5, "quarantined": 4,
                                          "duplicates": 1}}
REFINE = {"ingest_id": "i2", "bronze_rows": 3, "silver_rows": 1, "quarantined": 1, "duplicates": 0}
RUNS = [
    ("run-p", "pipeline", "[]", ago(3 * H), ago(3 * H), 10, 5, "succeeded", None, json.dumps(PIPELINE), "g", "h"),
    ("run-r", "refine", "[]", ago(2 * H), ago(2 * H), 3, 1, "succeeded", None, json.dumps(REFINE), "g", "h"),
    ("run-v", "validate", "[]", ago(H), ago(H), 0, 0, "succeeded", None, "{}", "g", "h"),
    ("run-s", "score_stream", "[]", ago(H), ago(H), 4, 4, "succeeded", None, "{}", "g", "h"),
]
VALIDATIONS = [
    ("run-p", "silver_readings", "silver.readings", True, 12, 0, None, "docs/p.html", ago(3 * H)),
    ("run-v", "silver_readings", "silver.readings", False, 12, 2, "[]", "docs/v.html", ago(H)),
]

EXPECTED = {
    "open_anomalies": [
        ("pump-1", "temp", ago(H / 6), ago(H / 6), ago(H / 6), 0.95, 1, 0.9, "d", "v1", NOW),
    ],
    "anomaly_contributions": [
        ("pump-1", "temp", ago(H / 6), ago(H / 6), 0.95, True, "d", "v1", 0.05, "value", -0.5, 1),
        ("pump-1", "temp", ago(H / 6), ago(H / 6), 0.95, True, "d", "v1", 0.05, "lag_1", 0.3, 2),
        ("pump-1", "temp", ago(H / 6), ago(H / 6), 0.95, True, "d", "v1", 0.05, "mean_1h", 0.1, 3),
        ("pump-1", "temp", ago(30 * H), ago(30 * H), 0.92, False, "d", "v1", 0.0, "value", 0.2, 1),
    ],
    # freshness_seconds is checked apart (it moves with the clock): here the seconds expected when the view is read
    # at NOW; series_id, channel, readings, last_reading_at, last_value, last_scored_at, last_score, last_flag,
    # freshness_seconds, anomalies_24h, open_anomalies, quarantined_rows
    "series_health": [
        ("bad-9", "value", 0, None, None, None, None, None, None, 0, 0, 1),
        ("cpu-2", "value", 1, ago(72 * H), 4.0, ago(72 * H), 0.1, False, 72 * 3600, 0, 0, 0),
        ("kafka-3", "value", 0, None, None, ago(H / 12), 0.5, False, 300, 0, 0, 0),
        ("pump-1", "pressure", 1, ago(H), 7.0, None, None, None, 3600, 0, 0, 0),
        ("pump-1", "temp", 2, ago(H / 6), 2.5, ago(H / 6), 0.95, True, 600, 1, 1, 3),
        ("mach-4", "*", 3, ago(H / 2), None, ago(H / 2), 0.3, False, 1800, 0, 0, 1),
        ("mach-4", "s0", 2, ago(H / 2), 3.5, None, None, None, 1800, 0, 0, 0),
        ("mach-4", "s1", 1, ago(H / 2), 8.0, None, None, None, 1800, 0, 0, 1),
    ],
    "data_quality": [
        ("run-p", "pipeline", ago(3 * H), "succeeded", "i1", 10, 5, 4, 1, True, "silver_readings", True, 12, 0,
         "docs/p.html"),
        ("run-r", "refine", ago(2 * H), "succeeded", "i2", 3, 1, 1, 0, False, None, None, None, None, None),
        ("run-v", "validate", ago(H), "succeeded", None, None, None, None, None, None, "silver_readings", False, 12, 2,
         "docs/v.html"),
    ],
    "quarantine_by_reason": [
        (None, "stream", "out_of_order", 1, 1, ago(H / 2), ago(H / 2)),
        (None, "stream", "entity_non_finite", 1, 1, ago(H / 2), ago(H / 2)),
        ("i1", "refine", "missing_series_id", 1, 0, ago(H), ago(H)),
        ("i1", "refine", "non_numeric_value", 2, 1, ago(H), ago(H)),
        ("i2", "refine", "unparseable_timestamp", 1, 1, ago(2 * H), ago(2 * H)),
    ],
}
FRESHNESS = 8  # position of freshness_seconds in series_health


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A lakehouse holding the rows above, its views created in the catalog."""
    config = make_config(tmp_path_factory.mktemp("views") / "lake")
    tables.ensure_tables(spark, config)
    ensure_stream_tables(spark, config)
    names = config.tables
    for rows, schema, name in ((SILVER, schemas.SILVER_READINGS, names.silver_readings),
                               (SCORES, GOLD_ANOMALY_SCORES, names.gold_anomaly_scores),
                               (EVENTS, GOLD_ANOMALIES, names.gold_anomalies),
                               (QUARANTINE, schemas.SILVER_QUARANTINE, names.silver_quarantine),
                               (RUNS, schemas.OPS_PIPELINE_RUNS, names.ops_pipeline_runs),
                               (VALIDATIONS, schemas.OPS_VALIDATION_RUNS, names.ops_validation_runs)):
        tables.append(spark.createDataFrame(rows, schema), name)
    outcome = views.create_views(spark, config)
    assert outcome == dict.fromkeys(views.VIEWS, "created")
    return config


def _norm(value):
    if isinstance(value, datetime):
        return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).replace(microsecond=0)
    if isinstance(value, float):
        return round(value, 9)
    return value


def _rows(rows) -> list[tuple]:
    normed = [tuple(_norm(v) for v in row) for row in rows]
    return sorted(normed, key=lambda r: tuple((v is not None, v if v is not None else 0) for v in r))


def _expected(name: str) -> list[tuple]:
    return _rows(EXPECTED[name])


def _compare(name: str, rows: list[tuple], columns: list[str]) -> None:
    header = views.sql_text(name).split("-- Columns: ")[1].split(".\n")[0]
    assert columns == [c.split(" ")[0] for c in header.replace("\n-- ", " ").split(", ")][:len(columns)]
    if name == "series_health":
        for got, want in zip(_rows(rows), _expected(name), strict=True):
            assert (got[FRESHNESS] is None) == (want[FRESHNESS] is None), got
            if want[FRESHNESS] is not None:  # read at most a few minutes after NOW
                # The rows were made at NOW, at collection: allow the time the suite took to get here.
                elapsed = (datetime.now(UTC) - NOW).total_seconds()
                assert want[FRESHNESS] <= got[FRESHNESS] <= want[FRESHNESS] + elapsed + 60, got
        rows = [(*row[:FRESHNESS], None, *row[FRESHNESS + 1:]) for row in rows]
        want = [(*row[:FRESHNESS], None, *row[FRESHNESS + 1:]) for row in _expected(name)]
        assert _rows(rows) == _rows(want)
    else:
        assert _rows(rows) == _expected(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_view_in_spark_sql(spark, lake, name: str) -> None:
    df = spark.table(views.view_name(lake, name))
    _compare(name, [tuple(r) for r in df.collect()], df.columns)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_view_in_duckdb_without_spark(lake, name: str) -> None:
    with LakeReader(lake) as reader:
        result = reader.view(name)
        assert result.schema.metadata is None or b"lakewatch.explanation" not in result.schema.metadata
        _compare(name, [tuple(r.values()) for r in result.to_pylist()], result.column_names)


def test_view_of_one_series_and_an_unknown_series(lake) -> None:
    with LakeReader(lake) as reader:
        health = reader.view("series_health", series_id="pump-1", channel="temp").to_pylist()
        assert [(r["series_id"], r["channel"], r["quarantined_rows"]) for r in health] == [("pump-1", "temp", 3)]
        machine = reader.view("series_health", series_id="mach-4", channel="*").to_pylist()
        assert [(type(r["readings"]), r["readings"], type(r["quarantined_rows"])) for r in machine] == [(int, 3, int)]
        # known series without open events: empty, no error
        assert reader.view("open_anomalies", series_id="cpu-2").num_rows == 0
        from lakewatch.errors import NoSuchSeries
        with pytest.raises(NoSuchSeries, match=r"no such series: series 'nope' is not in .*readings") as caught:
            reader.view("open_anomalies", series_id="nope")
        assert caught.value.series_id == "nope"
        with pytest.raises(NoSuchSeries, match="channel 'nope'"):
            reader.view("series_health", series_id="pump-1", channel="nope")
        # a value that would break an interpolated query is only a parameter
        with pytest.raises(NoSuchSeries):
            reader.view("series_health", series_id="x' OR '1'='1")


def test_views_are_rendered_with_the_relations_given() -> None:
    text = views.render("open_anomalies", {"gold_anomalies": "my.events"})
    assert "FROM my.events a" in text and "${" not in text
    with pytest.raises(views.ViewError, match="reads tables \\['gold_anomalies'\\]"):
        views.render("open_anomalies", {})
    with pytest.raises(views.ViewError, match="no view named 'nope'"):
        views.sql_text("nope")


def test_a_view_over_a_missing_table_is_skipped_until_the_table_exists(spark, tmp_path) -> None:
    config = make_config(tmp_path / "lake")
    tables.ensure_tables(spark, config, [key for key in schemas.TABLE_SCHEMAS if key not in STREAM_TABLES])
    outcome = views.create_views(spark, config)
    assert outcome["data_quality"] == "created"
    assert outcome["open_anomalies"] == f"skipped: missing {config.tables.gold_anomalies}"
    assert not spark.catalog.tableExists(views.view_name(config, "open_anomalies"))
    ensure_stream_tables(spark, config)
    assert views.create_views(spark, config, ["open_anomalies"]) == {"open_anomalies": "created"}
    assert spark.table(views.view_name(config, "open_anomalies")).count() == 0
