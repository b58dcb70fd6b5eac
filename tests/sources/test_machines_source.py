"""The `machines` source: generated machines through the pipeline into silver, their faults into gold.labels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from lakewatch.ingest import ingest
from lakewatch.jobs import pipeline as pipeline_job
from lakewatch.pipeline import run_pipeline
from lakewatch.progress import Progress
from lakewatch.sources import build_source
from lakewatch.sources.machines import MachineSpec, generate_machine
from tests.conftest import make_config

SEED, COUNT, CHANNELS = 11, 3, 4
# 100 + 5 * (60 + 40) = 600 rows per machine; severities off their defaults, so the knobs must reach the generator.
TINY = [f"machines.seed={SEED}", f"machines.count={COUNT}", f"machines.channels={CHANNELS}",
        "machines.healthy_rows=100", "machines.fault_rows=[40, 60]", "machines.gap_rows=[30, 40]",
        "machines.drift_sigmas=5.0", "machines.vibration_sigmas=2.0", "machines.partitions=2"]
SPEC = MachineSpec(channels=CHANNELS, healthy_rows=100, fault_rows=(40, 60), gap_rows=(30, 40), drift_sigmas=5.0,
                   vibration_sigmas=2.0)
ROWS = 600
LABEL_COLUMNS = "series_id string, window_start long, window_end long, kind string, source_name string"


def _expected_windows() -> pd.DataFrame:
    """The generator's faulty rows as windows, found from its per-row kinds (not its segment list): each run of
    rows of one kind is (first row's epoch second, last row's epoch second, kind)."""
    rows = []
    for i in range(COUNT):
        m = generate_machine(SEED, i, SPEC)
        kinds = m.kinds.astype(str)
        seconds = m.timestamps // 1_000_000_000
        run_starts = [r for r in range(len(kinds)) if kinds[r] and (r == 0 or kinds[r - 1] != kinds[r])]
        for start in run_starts:
            end = start
            while end + 1 < len(kinds) and kinds[end + 1] == kinds[start]:
                end += 1
            rows.append((m.entity_id, int(seconds[start]), int(seconds[end]), kinds[start], "machines"))
    return pd.DataFrame(rows, columns=["series_id", "window_start", "window_end", "kind", "source_name"])


@pytest.fixture(scope="module")
def landed(spark, tmp_path_factory: pytest.TempPathFactory):
    """Three tiny machines through the whole pipeline (ingest, refine, validate, features)."""
    config = make_config(tmp_path_factory.mktemp("machines"), *TINY)
    report = run_pipeline(spark, config, build_source(config, "machines"), "machines-1",
                          Progress("test", stream=io.StringIO()))
    return config, report


def test_every_machine_lands_with_all_channels_at_aligned_timestamps(spark, landed) -> None:
    config, report = landed
    total = COUNT * ROWS * CHANNELS
    assert (report.ingest.bronze_rows, report.refine.silver_rows, report.feature_rows) == (total, total, total)
    assert report.refine.balanced and report.validation.success
    silver = (spark.table(config.tables.silver_readings)
              .select("series_id", "channel", F.unix_seconds("timestamp").alias("epoch_s"), "value").toPandas())
    for i in range(COUNT):
        m = generate_machine(SEED, i, SPEC)
        wide = silver[silver.series_id == m.entity_id].pivot(index="epoch_s", columns="channel", values="value")
        assert list(wide.columns) == [f"s{c}" for c in range(CHANNELS)]
        # Every sensor read at every one of the generator's instants, and nothing else: values exactly its own.
        np.testing.assert_array_equal(wide.index.to_numpy(), m.timestamps // 1_000_000_000)
        np.testing.assert_array_equal(wide.to_numpy(), m.values)
    assert sorted(silver.series_id.unique()) == [f"machine-{SEED}-{i:03d}" for i in range(COUNT)]


def test_fault_segments_are_the_labelled_windows(spark, landed) -> None:
    config, report = landed
    expected = _expected_windows()
    assert len(expected) == COUNT * 5 and report.ingest.label_windows == COUNT * 5
    labels = spark.table(config.tables.gold_labels).select(
        "series_id", F.unix_seconds("window_start").alias("window_start"),
        F.unix_seconds("window_end").alias("window_end"), "kind", "source_name")
    assertDataFrameEqual(labels, spark.createDataFrame(expected, LABEL_COLUMNS))


def test_a_rerun_adds_nothing_and_keeps_the_labels(spark, landed) -> None:
    config, _ = landed
    before = spark.table(config.tables.gold_labels).collect()
    again = ingest(spark, config, build_source(config, "machines"))
    assert (again.bronze_rows, again.label_windows) == (0, COUNT * 5)
    assert spark.table(config.tables.bronze_readings).count() == COUNT * ROWS * CHANNELS
    assert spark.table(config.tables.silver_readings).count() == COUNT * ROWS * CHANNELS
    assertDataFrameEqual(spark.table(config.tables.gold_labels), before)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("machines.channels=2", "machines.channels=2: expected greater than or equal to 3"),
        ("machines.count=0", "machines.count=0: expected greater than 0"),
        ("machines.fault_rows=[300, 100]", r"machines.fault_rows=\[300, 100\]: expected \[low, high\] with low <="),
        ("machines.drift_sigmas=-1", "machines.drift_sigmas=-1: expected greater than 0"),
        ("machines.rows=600", r"machines: unknown keys \['rows'\]"),
    ],
)
def test_a_bad_setting_names_its_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("local", [override])


def test_the_pipeline_job_refuses_a_bad_setting_before_spark(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as stopped:
        pipeline_job.parse_args(["--source", "machines", "--set", "machines.gap_rows=[9, 1]",
                                 "--table-root", str(tmp_path)])
    assert stopped.value.code == 2
    assert "machines.gap_rows=[9, 1]: expected [low, high] with low <= high" in capsys.readouterr().err
    args, config = pipeline_job.parse_args(["--source", "machines", "--table-root", str(tmp_path)])
    assert args.source == "machines" and config.machines.rows == 4750 == MachineSpec().rows
