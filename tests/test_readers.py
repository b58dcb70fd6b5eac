"""The read layer without Spark (lakewatch.readers): every table a tiny pipeline and score stream write stays readable
by deltalake and DuckDB (issue 24 item 7), the views read through DuckDB agree with Spark SQL, and an empty lakehouse
or an unknown series gives a clear error or an explained empty result."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pytest
from deltalake import DeltaTable

from lakewatch import schemas, tables, views
from lakewatch.errors import NoSuchSeries, TableNotFound
from lakewatch.pipeline import run_pipeline
from lakewatch.progress import Progress
from lakewatch.readers import EXPLANATION_KEY, LakeReader, connect, delta_extension_path
from lakewatch.runs import track_run
from lakewatch.sources import build_source
from lakewatch.streaming.job import run_score_stream
from lakewatch.streaming.settings import StreamSettings
from tests.conftest import make_config

SMALL = ["synthetic.series=2", "synthetic.points=200", "synthetic.anomalies_per_series=2",
         "synthetic.partitions=1", "quality.min_rows_per_series=10"]


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A lakehouse after a tiny synthetic pipeline and one availableNow run of the score stream (with SHAP)."""
    root = tmp_path_factory.mktemp("readers")
    config = make_config(root / "lake", *SMALL)
    with track_run(spark, config, "pipeline", []) as record:  # as jobs/pipeline.py records it in ops.pipeline_runs
        result = run_pipeline(spark, config, build_source(config, "synthetic"), record.run_id, Progress("test", None))
        record.details = {"ingest_id": result.ingest.ingest_id, "refine": result.refine.__dict__}
    settings = StreamSettings(trigger="availableNow", detector="robust_zscore", threshold=0.7, state_partitions=1,
                              checkpoint=str(root / "ckpt"),
                              explain={"enabled": True, "lags": 4, "top_k": 3, "background": 4, "snapshot_every": 64})
    run_score_stream(spark, config, settings, Progress("test-stream", None))
    return config


def test_every_table_is_readable_by_deltalake_and_duckdb(spark, lake) -> None:
    names = lake.tables.all()
    with LakeReader(lake) as reader:
        assert set(names) - set(reader.tables) == {"gold_features"}, "gold.features is a Spark SQL view"
        names.pop("gold_features")
        assert reader.missing() == {}, "a tiny pipeline and stream run create every table"
        for key, name in names.items():
            location = reader.location(key)
            df = spark.table(name)
            first = df.columns[0]
            spark_values = sorted((r[0] for r in df.select(first).collect()), key=repr)
            by_deltalake = DeltaTable(location).to_pyarrow_table()
            by_duckdb = reader.connection.execute(f"SELECT {first} FROM delta_scan(?)", [location]).fetch_arrow_table()
            assert by_deltalake.num_rows == by_duckdb.num_rows == len(spark_values), name
            assert sorted(by_deltalake.column(first).to_pylist(), key=repr) == spark_values, name
            assert sorted(by_duckdb.column(first).to_pylist(), key=repr) == spark_values, name
            assert reader.table(name, columns=[first]).num_rows == len(spark_values)
        assert reader.table("gold_anomaly_scores").num_rows > 0, "the stream scored the silver rows"
        assert reader.table("gold_anomalies").num_rows > 0, "the synthetic anomalies became events"


def _norm(value):
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return tuple(sorted((k, _norm(v)) for k, v in value.items()))
    return value


def _rows(rows, drop: int | None = None) -> list[tuple]:
    out = [tuple(_norm(v) for i, v in enumerate(row) if i != drop) for row in rows]
    return sorted(out, key=repr)


@pytest.mark.parametrize("name", sorted(views.VIEWS))
def test_views_agree_between_spark_sql_and_duckdb(spark, lake, name: str) -> None:
    df = spark.table(views.view_name(lake, name))
    with LakeReader(lake) as reader:
        result = reader.view(name)
    assert result.column_names == df.columns
    drop = df.columns.index("freshness_seconds") if "freshness_seconds" in df.columns else None
    spark_rows = _rows([tuple(r) for r in df.collect()], drop)
    # The synthetic source has no bad rows, and availableNow closes the events it ends with (tests/test_views.py
    # checks those two views on known rows).
    assert spark_rows or name in ("open_anomalies", "quarantine_by_reason"), f"{name} has rows after a run"
    assert _rows([tuple(r.values()) for r in result.to_pylist()], drop) == spark_rows


def test_series_health_after_a_run_and_a_series_filter(lake) -> None:
    with LakeReader(lake) as reader:
        health = reader.view("series_health").to_pylist()
        assert sorted((r["series_id"], r["readings"]) for r in health) == [
            ("synthetic-000000", 200), ("synthetic-000001", 200)]
        assert all(r["last_score"] is not None and r["freshness_seconds"] > 0 for r in health)
        one = reader.view("series_health", series_id="synthetic-000001")
        assert one.column("series_id").to_pylist() == ["synthetic-000001"]
        contributions = reader.view("anomaly_contributions", series_id="synthetic-000000").to_pylist()
        assert contributions and {r["input_rank"] for r in contributions} >= {1}
        assert reader.series().to_pylist() == [{"series_id": f"synthetic-00000{i}", "channel": "value"}
                                               for i in range(2)]
        counted = reader.sql(f"SELECT count(*) AS n FROM {reader.tables['gold_anomaly_scores']} WHERE series_id = ?",
                             ["synthetic-000000"])
        assert counted.column("n").to_pylist() == [200]
        where = reader.table("silver_readings", columns=["value"], where={"series_id": "synthetic-000001"})
        assert where.column_names == ["value"] and where.num_rows == 200
        with pytest.raises(NoSuchSeries, match="no such series: series 'synthetic-9'"):
            reader.view("series_health", series_id="synthetic-9")
        with pytest.raises(NoSuchSeries):
            reader.require_series("synthetic-000000", "no-channel")


def test_an_empty_lakehouse_gives_explained_empty_views_and_clear_errors(spark, tmp_path) -> None:
    config = make_config(tmp_path / "empty")
    with LakeReader(config) as reader:
        assert set(reader.missing()) == set(config.tables.all()) - {"gold_features"}  # a Spark SQL view
        for name in views.VIEWS:
            result = reader.view(name)
            assert result.num_rows == 0
            explanation = result.schema.metadata[EXPLANATION_KEY].decode()
            assert explanation == reader.explain(name) and "does not exist yet" in explanation and "./spark-submit.sh" \
                in explanation
        assert "score_stream" in reader.explain("open_anomalies")
        with pytest.raises(TableNotFound, match=f"table {config.tables.gold_anomalies} does not exist yet .*"
                                                "score_stream") as caught:
            reader.table("gold_anomalies")
        assert caught.value.table_name == config.tables.gold_anomalies
        with pytest.raises(TableNotFound, match=f"table {config.tables.gold_features} does not exist yet"):
            reader.sql(f"SELECT * FROM {config.tables.gold_features}")
        with pytest.raises(NoSuchSeries, match="does not exist yet"):
            reader.view("series_health", series_id="pump-1")
        with pytest.raises(KeyError, match="not a lakewatch table"):
            reader.table("gold.nope")
        with pytest.raises(views.ViewError, match="no view named"):
            reader.view("nope")
        # a table created after the reader opened is read by its next query
        tables.ensure_tables(spark, config, ["ops_pipeline_runs"])
        tables.append(spark.createDataFrame(
            [("r1", "pipeline", "[]", datetime(2026, 1, 1), None, 1, 1, "succeeded", None, "{}", None, None)],
            schemas.OPS_PIPELINE_RUNS), config.tables.ops_pipeline_runs)
        got = reader.sql(f"SELECT run_id FROM {config.tables.ops_pipeline_runs}")
        assert got.column("run_id").to_pylist() == ["r1"]
        assert reader.table("ops_pipeline_runs").num_rows == 1


def test_duckdb_loads_the_delta_extension_from_the_package_and_installs_nothing() -> None:
    path = delta_extension_path()
    assert path.is_file() and f"v{duckdb.__version__}" in str(path)
    con = connect()
    try:
        settings = con.execute("SELECT current_setting('autoinstall_known_extensions'), "
                               "current_setting('autoload_known_extensions')").fetchone()
        assert settings == (False, False)
        loaded = con.execute("SELECT loaded FROM duckdb_extensions() WHERE extension_name = 'delta'").fetchone()
        assert loaded == (True,)
    finally:
        con.close()


def test_data_quality_balances_the_pipeline_run(lake) -> None:
    with LakeReader(lake) as reader:
        rows = reader.view("data_quality").to_pylist()
    assert [(r["job"], r["bronze_rows"], r["balanced"], r["validation_success"]) for r in rows] == [
        ("pipeline", 400, True, True)]
    row = rows[0]
    assert row["bronze_rows"] == row["silver_rows"] + row["quarantined"] + row["duplicates"]
