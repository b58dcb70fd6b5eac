"""Creating the lakehouse tables: what ensure_tables makes and reports as new; errors that name their input."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import types as T

from lakewatch import schemas, tables
from lakewatch.errors import LakewatchError, SchemaMismatch, TableError
from tests.conftest import make_config


def test_ensure_tables_names_only_the_tables_it_made_new_and_empty(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    keys = ("bronze_readings", "gold_labels")
    names = config.tables
    assert tables.ensure_tables(spark, config, keys) == {names.bronze_readings, names.gold_labels}
    assert tables.ensure_tables(spark, config, keys) == set()

    label = (("s", datetime(2020, 1, 1), datetime(2020, 1, 2), "labelled_window", "test"),)
    tables.append(spark.createDataFrame(label, schemas.GOLD_LABELS), names.gold_labels)
    # The catalog entry goes, the Delta table at its location stays: registered again, with its row, not new.
    spark.sql(f"DROP TABLE {names.gold_labels}")
    assert tables.ensure_tables(spark, config, keys) == set()
    assert spark.table(names.gold_labels).count() == 1


def test_catalog_location_is_where_the_table_keeps_its_delta_log(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    name = config.tables.gold_labels
    tables.ensure_tables(spark, config, ("gold_labels",))
    location = tables.catalog_location(spark, name)
    assert location.rstrip("/").endswith(tables.table_location(config, name).rstrip("/"))
    label = (("s", datetime(2020, 1, 1), datetime(2020, 1, 2), "labelled_window", "test"),)
    tables.append(spark.createDataFrame(label, schemas.GOLD_LABELS), name)
    assert spark.read.format("delta").load(location).count() == 1


def test_catalog_location_of_a_missing_table_names_it(spark, tmp_path: Path) -> None:
    with pytest.raises(AnalysisException, match="no_such_table"):
        tables.catalog_location(spark, "default.no_such_table")


def test_every_configured_table_but_gold_features_has_one_fixed_schema() -> None:
    # gold.features' columns follow the configured windows: schemas.gold_features(settings).
    keys = set(make_config(Path("/unused")).tables.all())
    assert set(schemas.TABLE_SCHEMAS) == keys - {"gold_features"}


def test_ensure_tables_makes_the_stream_tables_with_their_schemas_and_properties(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    names = config.tables
    made = tables.ensure_tables(spark, config, ("gold_anomaly_scores", "gold_anomalies"))
    assert made == {names.gold_anomaly_scores, names.gold_anomalies}
    for name, schema in ((names.gold_anomaly_scores, schemas.GOLD_ANOMALY_SCORES),
                         (names.gold_anomalies, schemas.GOLD_ANOMALIES)):
        got = spark.table(name).schema
        assert [(f.name, f.dataType, f.nullable) for f in got] == [(f.name, f.dataType, f.nullable) for f in schema]
    scores_properties = DeltaTable.forName(spark, names.gold_anomaly_scores).detail().first()["properties"]
    assert scores_properties.get("delta.dataSkippingNumIndexedCols") == "7"  # series_id .. flag
    anomalies_properties = DeltaTable.forName(spark, names.gold_anomalies).detail().first()["properties"]
    assert "delta.dataSkippingNumIndexedCols" not in anomalies_properties


def test_ensure_tables_names_a_key_of_no_fixed_table(spark, tmp_path: Path) -> None:
    with pytest.raises(TableError, match=r"\['gold_features'\] name no fixed-schema table.*'bronze_readings'"):
        tables.ensure_tables(spark, make_config(tmp_path), ("bronze_readings", "gold_features"))


def test_conform_names_the_schema_and_the_missing_columns(spark) -> None:
    rows = spark.createDataFrame([("s", "v", "bad")], "series_id string, channel string, value_raw string")
    with pytest.raises(SchemaMismatch) as error:
        tables.conform(rows, schemas.SILVER_QUARANTINE)
    message = str(error.value)
    assert "['series_id', 'channel', 'value_raw']" in message and "silver_quarantine schema" in message
    assert "'reason', 'stage'" in message
    assert isinstance(error.value, ValueError) and isinstance(error.value, LakewatchError)
    with pytest.raises(SchemaMismatch, match="of the given schema"):
        tables.conform(rows, T.StructType([T.StructField("kind", T.StringType())]))


def test_conform_orders_the_columns_and_casts_only_those_of_another_type(spark) -> None:
    rows = spark.createDataFrame([(7, "x", 2.5)], "n int, name string, score double")
    schema = T.StructType([T.StructField("score", T.DoubleType()), T.StructField("n", T.LongType()),
                           T.StructField("name", T.StringType())])
    conformed = tables.conform(rows, schema)
    assert [(f.name, f.dataType) for f in conformed.schema.fields] == [(f.name, f.dataType) for f in schema.fields]
    assert tuple(conformed.first()) == (2.5, 7, "x")
    plan = conformed._jdf.queryExecution().analyzed().toString()
    assert "cast(n#" in plan.lower() and "cast(score" not in plan.lower() and "cast(name" not in plan.lower()


def test_catalog_location_of_a_view_names_it(spark) -> None:
    spark.range(1).createOrReplaceTempView("no_location_view")
    with pytest.raises(TableError, match="no_location_view has no Location"):
        tables.catalog_location(spark, "no_location_view")
