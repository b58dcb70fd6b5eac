"""Creating the lakehouse tables: what ensure_tables reports as made new."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lakewatch import tables
from tests.conftest import make_config


def test_ensure_tables_names_only_the_tables_it_made_new_and_empty(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path)
    keys = ("bronze_readings", "gold_labels")
    names = config.tables
    assert tables.ensure_tables(spark, config, keys) == {names.bronze_readings, names.gold_labels}
    assert tables.ensure_tables(spark, config, keys) == set()

    label = (("s", datetime(2020, 1, 1), datetime(2020, 1, 2), "labelled_window", "test"),)
    tables.append(spark.createDataFrame(label, tables.GOLD_LABELS), names.gold_labels)
    # The catalog entry goes, the Delta table at its location stays: registered again, with its row, not new.
    spark.sql(f"DROP TABLE {names.gold_labels}")
    assert tables.ensure_tables(spark, config, keys) == set()
    assert spark.table(names.gold_labels).count() == 1
