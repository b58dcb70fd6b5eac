"""record_order of a files source follows the files (by path, then line), whatever order Spark reads their splits in.

Files larger than a split are cut into several; Spark reads the splits sorted by size, largest first, so a file's
short last split comes after the next file's first split. With tiny split sizes a few small files show it: every
series below is written in time order across the files, so refine must quarantine nothing as out of order.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from pyspark.errors import PySparkException
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch.errors import SourceError
from lakewatch.ingest import ingest
from lakewatch.pipeline import run_refine
from lakewatch.progress import Progress
from lakewatch.sources import build_source
from lakewatch.sources.file_order import FileOrderLayout, file_order_layout
from tests.conftest import make_config

SPLIT_CONF = {"spark.sql.files.maxPartitionBytes": "16k", "spark.sql.files.openCostInBytes": "16k"}
SERIES = ("s0", "s1", "s2")
STEPS_PER_FILE = (700, 400, 250)  # files of different sizes, so packing by size reorders their splits
START = pd.Timestamp("2024-01-01 00:00:00")


@contextmanager
def tiny_splits(spark) -> Iterator[None]:
    """The session's split size at 16 kB (several splits per file) inside the block, then as it was."""
    before = {key: spark.conf.get(key, None) for key in SPLIT_CONF}
    for key, value in SPLIT_CONF.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _write_files(folder: Path, fmt: str) -> list[tuple[str, str]]:
    """Write part-<k> files, each a time slice of every series (one row per series per minute, series interleaved,
    like ../shared/baselines/make_raw.py); return (file name, line) for every row in file order."""
    folder.mkdir(parents=True)
    expected, step = [], 0
    for k, steps in enumerate(STEPS_PER_FILE):
        rows = []
        for _ in range(steps):
            stamp = (START + pd.Timedelta(minutes=step)).strftime("%Y-%m-%d %H:%M:%S")
            rows += [(s, stamp, f"{(step * 7 + i) % 101}.25") for i, s in enumerate(SERIES)]
            step += 1
        frame = pd.DataFrame(rows, columns=["series_id", "timestamp", "value"])
        name = f"part-{k}.{fmt}"
        if fmt == "csv":
            frame.to_csv(folder / name, index=False)
        else:
            frame.to_parquet(folder / name, index=False, row_group_size=60, compression="none",
                             use_dictionary=False)
        expected += [(name, ",".join(row)) for row in rows]
    return expected


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_record_order_follows_the_files_when_splits_are_read_out_of_order(spark, tmp_path: Path, fmt: str) -> None:
    data = tmp_path / "raw"
    expected = _write_files(data, fmt)
    config = make_config(tmp_path / "lake", f"sources.raw.path={data}", f"sources.raw.format={fmt}",
                         "sources.raw.value_column=value", "sources.raw.series_id_from=column",
                         "sources.raw.series_id_column=series_id", "quality.max_lateness_seconds=0",
                         "quality.min_rows_per_series=1")
    with tiny_splits(spark):
        scan = (spark.read.format(fmt).option("header", "true").load(str(data))
                .select(F.element_at(F.split("_metadata.file_path", "/"), -1).alias("file"),
                        F.concat_ws(",", "series_id", "timestamp", "value").alias("line"),
                        F.col("_metadata.file_block_start").alias("start")))
        splits = scan.select("file", "start").distinct().groupBy("file").count().collect()
        assert all(row["count"] >= 2 for row in splits) and len(splits) == 3, "every file is read in several splits"
        read_order = [tuple(r) for r in scan.withColumn("m", F.monotonically_increasing_id()).orderBy("m")
                      .select("file", "line").collect()]
        assert sorted(read_order) == sorted(expected) and read_order != expected, "Spark reads splits out of order"
        report = ingest(spark, config, build_source(config, "raw"))
    refined = run_refine(spark, config, report.ingest_id, Progress("test", stream=io.StringIO()))

    bronze = (spark.table(config.tables.bronze_readings).orderBy("record_order")
              .select(F.element_at(F.split("source", "/"), -1).alias("file"), F.col("raw_record").alias("line")))
    assertDataFrameEqual(bronze, spark.createDataFrame(expected, bronze.schema), checkRowOrder=True)
    reasons = spark.table(config.tables.silver_quarantine).groupBy("reason").count()
    assertDataFrameEqual(reasons, spark.createDataFrame([], reasons.schema))
    assert (refined.bronze_rows, refined.silver_rows, refined.quarantined, refined.duplicates) == (
        len(expected), len(expected), 0, 0)


def test_layout_gives_each_part_the_bits_this_read_needs() -> None:
    # 8 files of 424 MB at Spark's default split unit (4 MB, 2**22): 3 + 7 bits, the rows keep all 33.
    layout = file_order_layout("bench", 8, 424 * 2**20, 22)
    assert (layout.file_bits, layout.split_bits, layout.row_bits) == (3, 7, 33)
    # One file of one split: no bit for either.
    assert (file_order_layout("x", 1, 100, 22).file_bits, file_order_layout("x", 1, 100, 22).split_bits) == (0, 0)
    # A million files of 1 TB each at 4 MB units: 20 + 18 bits, 25 left for the rows of a task.
    assert file_order_layout("big", 2**20, 2**40, 22).row_bits == 25
    with pytest.raises(SourceError, match=r"source 'huge': 4294967296 files up to .* no room for a record order"):
        file_order_layout("huge", 2**32, 2**62, 0)


def test_a_task_with_more_rows_than_its_bits_fails_the_read_naming_the_source(spark, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("v\n" + "".join(f"{i}\n" for i in range(20)))
    layout = FileOrderLayout(file_bits=0, split_shift=22, split_bits=0, row_bits=4)  # 16 rows a task at most
    ok = spark.read.option("header", "true").csv(str(path)).where(F.col("v").cast("int") < 16)
    assert sorted(r[0] for r in ok.select(layout.position_in_file("small")).collect()) == list(range(16))
    with pytest.raises(PySparkException, match=r"source 'small': a read task holds more than 16 rows"):
        spark.read.option("header", "true").csv(str(path)).select(layout.position_in_file("small")).collect()
