"""The ingest-to-gold path on real Delta tables: accounting, idempotency, quarantine, validation gate."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch.errors import LakewatchError, SourceError, StageError, ValidationFailed
from lakewatch.ingest import ingest
from lakewatch.pipeline import require_balanced, run_pipeline, run_refine
from lakewatch.progress import Progress
from lakewatch.refine import RefineReport
from lakewatch.sources import build_source
from tests.conftest import make_config

SMALL = ["synthetic.series=3", "synthetic.points=240", "synthetic.anomalies_per_series=2",
         "synthetic.partitions=2", "quality.min_rows_per_series=10"]


def quiet() -> Progress:
    return Progress("test", stream=io.StringIO())


def test_synthetic_to_gold_and_idempotent_replay(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path, *SMALL)
    report = run_pipeline(spark, config, build_source(config, "synthetic"), "run-1", quiet())
    assert (report.ingest.bronze_rows, report.refine.silver_rows, report.feature_rows) == (720, 720, 720)
    assert report.refine.balanced and report.validation.success
    assert report.ingest.label_windows == 6
    assert Path(report.validation.data_docs or "").exists()
    # The catalog the job prints can be queried at once: the NAB tables exist, empty.
    assert spark.table(config.tables.gold_nab_results).count() == 0
    per_series = spark.table(config.tables.silver_readings).groupBy("series_id").count()
    assertDataFrameEqual(per_series, spark.createDataFrame(
        [(f"synthetic-{i:06d}", 240) for i in range(3)], "series_id string, count long"))

    again = ingest(spark, config, build_source(config, "synthetic"))
    assert again.bronze_rows == 0
    assert spark.table(config.tables.bronze_readings).count() == 720
    replay = run_refine(spark, config, report.ingest.ingest_id, quiet())
    assert (replay.bronze_rows, replay.silver_rows, replay.duplicates) == (720, 0, 720)
    assert spark.table(config.tables.silver_readings).count() == 720
    validations = spark.table(config.tables.ops_validation_runs).select("run_id", "success", "expectations_failed")
    assertDataFrameEqual(validations, spark.createDataFrame([("run-1", True, 0)], validations.schema))


def test_ingest_and_refine_into_new_tables_then_again_add_nothing(spark, tmp_path: Path) -> None:
    # Into tables made by the call itself bronze is not looked up and silver is appended to; the second
    # round finds the tables and must find the rows too.
    config = make_config(tmp_path, *SMALL)
    first = ingest(spark, config, build_source(config, "synthetic"))
    refined = run_refine(spark, config, first.ingest_id, quiet())
    assert (first.bronze_rows, refined.silver_rows, refined.balanced) == (720, 720, True)
    assert ingest(spark, config, build_source(config, "synthetic")).bronze_rows == 0
    replay = run_refine(spark, config, first.ingest_id, quiet())
    assert (replay.silver_rows, replay.duplicates) == (0, 720)
    assert spark.table(config.tables.silver_readings).count() == 720


def test_failed_suite_stops_before_gold_and_names_the_failures(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path, *SMALL[:-1], "quality.min_rows_per_series=1000")
    with pytest.raises(ValidationFailed) as failure:
        run_pipeline(spark, config, build_source(config, "synthetic"), "run-2", quiet())
    assert "expect_column_values_to_be_between(rows): 3 of 3 rows failed" in str(failure.value)
    assert not spark.catalog.tableExists(config.tables.gold_features)
    recorded = spark.table(config.tables.ops_validation_runs).select("success", "expectations_failed").first()
    assert (recorded["success"], recorded["expectations_failed"]) == (False, 1)


def _write(folder: Path, name: str, content: bytes) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def test_directory_with_bad_files_and_rows_loses_nothing(spark, tmp_path: Path) -> None:
    data = tmp_path / "incoming"
    _write(data, "good.csv", b"timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,x\n"
                             b"2020-01-01 00:10:00,\n2020-01-01 00:15:00,nan\nyesterday,3\n"
                             b"2020-01-01 00:00:00,1\n2020-01-01 00:20:00,inf\n2020-01-01 00:25:00,2,extra\n")
    _write(data, "nested/more.csv", b"timestamp,value\n2020-01-02T00:00:00+01:00,5\n2020-01-02 00:00:00,6\n")
    _write(data, "empty.csv", b"")
    _write(data, "header_only.csv", b"timestamp,value\n")
    _write(data, "picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    _write(data, "semicolons.csv", b"timestamp;value\n2020-01-01 00:00:00;1\n")
    _write(data, "renamed.csv", b"time,reading\n2020-01-01 00:00:00,1\n")
    config = make_config(tmp_path / "lake", f"sources.inbox.path={data}", "sources.inbox.value_column=value",
                         "quality.min_rows_per_series=1")
    report = run_pipeline(spark, config, build_source(config, "inbox"), "run-3", quiet())
    assert report.ingest.files_read == 2
    rejected = {Path(r.path).name: r.reason for r in report.ingest.rejected}
    assert set(rejected) == {"empty.csv", "header_only.csv", "picture.csv", "semicolons.csv", "renamed.csv"}
    assert "delimiter looks like ';'" in rejected["semicolons.csv"]
    assert (report.refine.bronze_rows, report.refine.silver_rows) == (10, 3)
    assert (report.refine.quarantined, report.refine.duplicates) == (6, 1)
    quarantine = spark.table(config.tables.silver_quarantine)
    reasons = quarantine.groupBy("reason").count().where(~F.col("reason").startswith("unreadable_file"))
    assertDataFrameEqual(reasons, spark.createDataFrame(
        [("non_numeric_value", 1), ("empty_value", 1), ("non_finite_value", 2), ("unparseable_timestamp", 1),
         ("malformed_record", 1)],
        reasons.schema))
    assert quarantine.where(F.col("reason").startswith("unreadable_file")).count() == 5
    silver = spark.table(config.tables.silver_readings).select("series_id", "value").orderBy("series_id", "value")
    assertDataFrameEqual(silver, spark.createDataFrame(
        [("good", 1.0), ("nested/more", 5.0), ("nested/more", 6.0)], silver.schema))
    malformed = quarantine.where(F.col("reason") == "malformed_record").select("raw_record").first()[0]
    assert malformed == "2020-01-01 00:25:00,2,extra"


def test_unreadable_sources_fail_with_one_clear_message(spark, tmp_path: Path) -> None:
    missing = make_config(tmp_path / "a", f"sources.x.path={tmp_path / 'nowhere'}", "sources.x.value_column=v")
    with pytest.raises(SourceError, match=r"path .*nowhere does not exist"):
        ingest(spark, missing, build_source(missing, "x"))
    (tmp_path / "bad").mkdir()
    _write(tmp_path / "bad", "only.csv", b"")
    only_bad = make_config(tmp_path / "b", f"sources.x.path={tmp_path / 'bad'}", "sources.x.value_column=v")
    with pytest.raises(SourceError, match=r"no readable file .*only\.csv: empty file"):
        ingest(spark, only_bad, build_source(only_bad, "x"))


def test_wide_multivariate_csv_is_one_entity_with_eight_channels(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", f"sources.skab.path={tmp_path / 'skab'}", "quality.min_rows_per_series=1")
    channels = config.source("skab").channel_columns
    header = ";".join(["datetime", *channels, "anomaly", "changepoint"])
    lines = [f"2020-03-09 1{m}:00:00;" + ";".join(str(m * 10 + c) for c in range(8)) + ";0;0" for m in range(3)]
    _write(tmp_path / "skab", "valve1/0.csv", ("\n".join([header, *lines]) + "\n").encode())
    run_pipeline(spark, config, build_source(config, "skab"), "run-4", quiet())
    silver = spark.table(config.tables.silver_readings)
    assert silver.select("series_id").distinct().collect()[0][0] == "valve1/0"
    got = silver.where(F.col("timestamp") == "2020-03-09 12:00:00").select("channel", "value")
    assertDataFrameEqual(got, spark.createDataFrame([(c, 20.0 + i) for i, c in enumerate(channels)], got.schema))


def test_file_name_series_ids_that_collide_are_refused(spark, tmp_path: Path) -> None:
    config = make_config(tmp_path / "lake", f"sources.x.path={tmp_path / 'src'}", "sources.x.value_column=v",
                         "sources.x.series_id_from=file_name")
    for folder in ("valve1", "valve2"):
        _write(tmp_path / "src", f"{folder}/0.csv", b"timestamp,v\n2020-01-01 00:00:00,1\n")
    with pytest.raises(SourceError, match=r"gives series '0' to 2 files: .*valve1/0\.csv, .*valve2/0\.csv"):
        ingest(spark, config, build_source(config, "x"))
    assert spark.table(config.tables.bronze_readings).count() == 0


def test_nab_category_reads_with_labels(spark, tmp_path: Path) -> None:
    from lakewatch.evaluation import NabCorpus
    from tests.conftest import nab_dir

    nab = nab_dir()
    corpus = NabCorpus(nab)
    config = make_config(tmp_path, f"sources.nab.path={corpus.data_dir / 'artificialWithAnomaly'}",
                         f"sources.nab.labels={corpus.windows_file}")
    report = ingest(spark, config, build_source(config, "nab"))
    assert (report.files_read, report.bronze_rows, report.rejected) == (6, 6 * 4032, ())
    labels = spark.table(config.tables.gold_labels)
    assert labels.where(F.col("series_id") == "realKnownCause/nyc_taxi").count() == 5
    assert labels.count() == report.label_windows

    # Again: every file is in bronze with its version, so none is read, and the same windows are not rewritten.
    versions = {name: _version(spark, name) for name in (config.tables.bronze_readings, config.tables.gold_labels)}
    again = ingest(spark, config, build_source(config, "nab"))
    assert (again.files_read, again.files_skipped, again.bronze_rows) == (0, 6, 0)
    assert again.label_windows == report.label_windows
    assert {name: _version(spark, name) for name in versions} == versions


def _version(spark, table_name: str) -> int:
    return DeltaTable.forName(spark, table_name).history(1).first()["version"]


def test_only_new_and_changed_files_are_read_again(spark, tmp_path: Path) -> None:
    data = tmp_path / "incoming"
    _write(data, "a.csv", b"timestamp,value\n2020-01-01 00:00:00,1\n2020-01-01 00:05:00,2\n")
    _write(data, "b.csv", b"timestamp,value\n2020-01-01 00:00:00,3\n")
    _write(data, "empty.csv", b"")
    config = make_config(tmp_path / "lake", f"sources.inbox.path={data}", "sources.inbox.value_column=value")
    first = ingest(spark, config, build_source(config, "inbox"))
    assert (first.files_read, first.files_skipped, first.bronze_rows) == (2, 0, 3)

    _write(data, "b.csv", b"timestamp,value\n2020-01-01 00:00:00,3\n2020-01-01 00:05:00,4\n")  # a new version
    _write(data, "c.csv", b"timestamp,value\n2020-01-01 00:00:00,5\n")
    second = ingest(spark, config, build_source(config, "inbox"))
    assert (second.files_read, second.files_skipped, second.bronze_rows) == (2, 1, 3)
    sources = spark.table(config.tables.bronze_readings).groupBy("source").count().collect()
    assert sorted((Path(r["source"]).name, r["count"]) for r in sources) == [("a.csv", 2), ("b.csv", 3), ("c.csv", 1)]
    # The unreadable file is rejected on each ingest and quarantined once.
    assert [Path(r.path).name for r in second.rejected] == ["empty.csv"]
    assert spark.table(config.tables.silver_quarantine).where(F.col("stage") == "ingest").count() == 1


def test_a_refine_that_loses_rows_is_a_stage_error_naming_the_ingest_and_counts() -> None:
    balanced = RefineReport("ingest-7", bronze_rows=10, silver_rows=7, quarantined=2, duplicates=1)
    assert require_balanced(balanced) is balanced
    lossy = RefineReport("ingest-7", bronze_rows=10, silver_rows=6, quarantined=2, duplicates=1)
    with pytest.raises(StageError, match=r"refine of ingest ingest-7 does not add up: silver 6 \+ quarantined 2 "
                                         r"\+ duplicates 1 = 9 rows; expected the 10 rows of bronze") as error:
        require_balanced(lossy)
    assert isinstance(error.value, LakewatchError)  # what run_job reports in one line
