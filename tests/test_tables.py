"""Creating the lakehouse tables: what ensure_tables reports as made new."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pyspark.errors import AnalysisException

from lakewatch import schemas, tables
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
