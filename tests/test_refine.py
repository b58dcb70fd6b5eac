"""Typing, quarantine and de-duplication of bronze rows (lakewatch.refine.classify) on inline rows."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch.config import load_config
from lakewatch.refine import classify
from lakewatch.sources.base import ParseSpec

QUALITY = load_config("local").quality
BRONZE = ("record_order long, series_id string, channel string, ts_raw string, value_raw string, "
          "raw_record string")
OUT = "record_order long, status string, reason string, timestamp timestamp, value double"


def bronze(spark, rows):
    return spark.createDataFrame([(i, *r, "raw") for i, r in enumerate(rows)], BRONZE)


def classified(spark, rows, parse: ParseSpec | None = None):
    df = bronze(spark, rows).transform(classify(QUALITY, parse or ParseSpec()))
    valid = F.col("status") == "valid"
    return df.select("record_order", "status", "reason", F.when(valid, F.col("timestamp")).alias("timestamp"),
                     F.when(valid, F.col("value")).alias("value"))


def test_every_bad_row_gets_its_reason(spark) -> None:
    rows = [
        ("s1", "value", "2020-01-01 00:00:00", "1.0"),
        ("s1", "value", "2020-01-01T01:00:00+02:00", "2.0"),  # mixed zone: 23:00 UTC the day before
        ("s1", "value", "not a time", "3"),
        ("s1", "value", "2020-01-01 02:00:00", "abc"),
        ("s1", "value", "2020-01-01 03:00:00", "  "),
        ("s1", "value", "2020-01-01 04:00:00", "NaN"),
        ("s1", "value", "2020-01-01 05:00:00", "-Infinity"),
        ("s1", "value", "2020-01-01 00:00:00", "1.0"),  # exact duplicate of row 0
        ("s1", "value", "2020-01-01 00:00:00", "9.0"),  # same key, other value
        ("s1", "value", "2019-12-01 00:00:00", "1.0"),  # a month older than rows already seen
        (None, "value", "2020-01-01 06:00:00", "1"),
        ("s1", "value", None, None),  # a malformed CSV line: nothing could be split out
        ("s2", "value", "2020-01-01 00:00:00", " 5.5 "),
        ("s1", "value", "1900-01-01 00:00:00", "1"),
        ("s1", "value", "", "1"),
    ]
    expected = [
        (0, "valid", None, datetime(2020, 1, 1), 1.0),
        (1, "valid", None, datetime(2019, 12, 31, 23), 2.0),
        (2, "quarantine", "unparseable_timestamp", None, None),
        (3, "quarantine", "non_numeric_value", None, None),
        (4, "quarantine", "empty_value", None, None),
        (5, "quarantine", "non_finite_value", None, None),
        (6, "quarantine", "non_finite_value", None, None),
        (7, "duplicate", None, None, None),
        (8, "quarantine", "conflicting_duplicate", None, None),
        (9, "quarantine", "out_of_order", None, None),
        (10, "quarantine", "missing_series_id", None, None),
        (11, "quarantine", "malformed_record", None, None),
        (12, "valid", None, datetime(2020, 1, 1), 5.5),
        (13, "quarantine", "timestamp_out_of_range", None, None),
        (14, "quarantine", "missing_timestamp", None, None),
    ]
    assertDataFrameEqual(classified(spark, rows), spark.createDataFrame(expected, OUT))


def test_small_disorder_is_kept_and_sorted_by_timestamp(spark) -> None:
    rows = [("s", "value", "2020-01-01 02:00:00", "2"), ("s", "value", "2020-01-01 01:00:00", "1")]
    expected = [(0, "valid", None, datetime(2020, 1, 1, 2), 2.0), (1, "valid", None, datetime(2020, 1, 1, 1), 1.0)]
    assertDataFrameEqual(classified(spark, rows), spark.createDataFrame(expected, OUT))


def test_source_timezone_applies_only_to_text_without_a_zone(spark) -> None:
    rows = [("s", "value", "2020-06-01 12:00:00", "1"), ("s", "value", "2020-06-01T12:00:00Z", "2"),
            ("s", "value", "01/06/2020 12:00", "3")]
    berlin = classified(spark, rows, ParseSpec(timezone="Europe/Berlin"))
    expected = [(0, "valid", None, datetime(2020, 6, 1, 10), 1.0), (1, "valid", None, datetime(2020, 6, 1, 12), 2.0),
                (2, "quarantine", "unparseable_timestamp", None, None)]
    assertDataFrameEqual(berlin, spark.createDataFrame(expected, OUT))


def test_explicit_timestamp_format(spark) -> None:
    rows = [("s", "value", "01/06/2020 12:00", "3")]
    out = classified(spark, rows, ParseSpec(timestamp_format="dd/MM/yyyy HH:mm"))
    assertDataFrameEqual(out, spark.createDataFrame([(0, "valid", None, datetime(2020, 6, 1, 12), 3.0)], OUT))


def test_lateness_counts_earlier_rows_only_to_the_microsecond(spark) -> None:
    rows = [("s", "value", "2020-01-02 00:00:00", "1"),
            ("s", "value", "2020-01-01 00:00:00", "2"),  # exactly max_lateness_seconds older than row 0: kept
            ("s", "value", "2019-12-31 23:59:59.999999", "3"),  # a microsecond more: out of order
            ("t", "value", "2019-12-01 00:00:00", "4"),  # far older than a row that comes after it: kept
            ("t", "value", "2020-01-05 00:00:00", "5")]
    assert QUALITY.max_lateness_seconds == 86_400
    expected = [(0, "valid", None, datetime(2020, 1, 2), 1.0), (1, "valid", None, datetime(2020, 1, 1), 2.0),
                (2, "quarantine", "out_of_order", None, None), (3, "valid", None, datetime(2019, 12, 1), 4.0),
                (4, "valid", None, datetime(2020, 1, 5), 5.0)]
    assertDataFrameEqual(classified(spark, rows), spark.createDataFrame(expected, OUT))


def test_both_checks_share_one_sort(spark) -> None:
    rows = [("s", "value", "2020-01-01 00:00:00", "1"), ("s", "value", "2020-01-01 00:00:00", "1")]
    df = bronze(spark, rows).repartition(2, "series_id", "channel").transform(classify(QUALITY, ParseSpec()))
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Sort [") == 1, plan
