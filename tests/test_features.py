"""gold.features against values worked out by hand: rolling statistics, lags, differences, calendar angles, zscore."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from pyspark.testing import assertDataFrameEqual

from lakewatch import schemas, tables
from lakewatch.config import FeatureSettings
from lakewatch.features import FEATURE_VERSION, build_features, write_features
from tests.conftest import make_config

SETTINGS = FeatureSettings(windows=(2, 3), lags=(1,))

# Written out, not taken from lakewatch.schemas, so a renamed or reordered column fails the test.
EXPECTED_SCHEMA = (
    "series_id string, channel string, timestamp timestamp, value double, "
    "hour_sin double, hour_cos double, dow_sin double, dow_cos double, lag_1 double, diff_1 double, "
    "mean_2 double, std_2 double, min_2 double, max_2 double, "
    "mean_3 double, std_3 double, min_3 double, max_3 double, zscore double, feature_version int"
)

MONDAY = 2 * math.pi / 7  # dayofweek: Sunday 1, Monday 2 .. Saturday 7; angle (dayofweek - 1) * 2pi / 7
SATURDAY = 6 * 2 * math.pi / 7
SQRT2 = math.sqrt(2.0)


def _hour(h: int) -> tuple[float, float]:
    angle = h * 2 * math.pi / 24
    return math.sin(angle), math.cos(angle)


def _row(series: str, channel: str, ts: datetime, value: float, dow: float, stats: tuple) -> tuple:
    return (series, channel, ts, value, *_hour(ts.hour), math.sin(dow), math.cos(dow), *stats, FEATURE_VERSION)


def test_features_of_two_channels_match_hand_computed_values(spark) -> None:
    mon = [datetime(2024, 1, 1, h) for h in (0, 6, 12, 18)]
    sat = [datetime(2024, 1, 6, h) for h in (0, 1)]
    # Series "a" has two channels: "temp" (Saturday) sorts after every "value" (Monday) row, so features that
    # mixed the channels would take lags and windows across them.
    silver = spark.createDataFrame(
        [("a", "value", ts, v, "test", "i1") for ts, v in zip(mon, (1.0, 3.0, 4.0, 8.0), strict=True)]
        + [("a", "temp", ts, 10.0, "test", "i1") for ts in sat],
        schemas.SILVER_READINGS)

    got = silver.transform(build_features(SETTINGS))

    # lag_1, diff_1 | mean_2, std_2, min_2, max_2 | mean_3, std_3, min_3, max_3 | zscore
    # std is the sample standard deviation (null over one row); zscore uses the up to 3 rows before t and is
    # 0 while they are fewer than two: at 12:00 (4 - 2) / sqrt(2), at 18:00 (8 - 8/3) / sqrt(7/3).
    value_stats = [
        (None, None, 1.0, None, 1.0, 1.0, 1.0, None, 1.0, 1.0, 0.0),
        (1.0, 2.0, 2.0, SQRT2, 1.0, 3.0, 2.0, SQRT2, 1.0, 3.0, 0.0),
        (3.0, 1.0, 3.5, math.sqrt(0.5), 3.0, 4.0, 8 / 3, math.sqrt(7 / 3), 1.0, 4.0, SQRT2),
        (4.0, 4.0, 6.0, math.sqrt(8.0), 4.0, 8.0, 5.0, math.sqrt(7.0), 3.0, 8.0, (8 - 8 / 3) / math.sqrt(7 / 3)),
    ]
    temp_stats = [
        (None, None, 10.0, None, 10.0, 10.0, 10.0, None, 10.0, 10.0, 0.0),
        (10.0, 0.0, 10.0, 0.0, 10.0, 10.0, 10.0, 0.0, 10.0, 10.0, 0.0),
    ]
    expected = spark.createDataFrame(
        [_row("a", "value", ts, v, MONDAY, s) for ts, v, s in zip(mon, (1.0, 3.0, 4.0, 8.0), value_stats, strict=True)]
        + [_row("a", "temp", ts, 10.0, SATURDAY, s) for ts, s in zip(sat, temp_stats, strict=True)],
        EXPECTED_SCHEMA)
    assertDataFrameEqual(got, expected, rtol=1e-9, atol=1e-12)
    assert [(f.name, f.dataType) for f in schemas.gold_features(SETTINGS)] == [(f.name, f.dataType) for f in got.schema]


def test_gold_features_is_a_view_that_replaces_an_old_table_and_its_files(spark, tmp_path) -> None:
    config = make_config(tmp_path, "features.windows=[2, 3]", "features.lags=[1]")
    names = config.tables
    silver = spark.createDataFrame(
        [("a", "value", datetime(2024, 1, 1, h), float(h * h), "test", "i1") for h in range(5)],
        schemas.SILVER_READINGS)
    tables.ensure_database(spark, config, names.silver_readings)
    silver.write.format("delta").option("path", config.lakehouse.table(names.silver_readings)).saveAsTable(
        names.silver_readings)
    old = config.lakehouse.table(names.gold_features)  # a materialised gold.features, as earlier versions wrote it
    tables.ensure_database(spark, config, names.gold_features)
    silver.write.format("delta").option("path", old).saveAsTable(names.gold_features)

    assert write_features(spark, config) == 5
    assert spark.catalog.getTable(names.gold_features).tableType == "VIEW" and not Path(old).exists()
    assertDataFrameEqual(spark.table(names.gold_features), silver.transform(build_features(config.features)),
                         rtol=1e-9, atol=1e-12)
    assert write_features(spark, config) == 5  # idempotent
