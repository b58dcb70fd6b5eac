"""EntityScorer without Spark: rows held until complete, released with NaN after `wait`, bounded, late readings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakewatch.detectors import get_detector
from lakewatch.errors import ConfigError
from lakewatch.evaluation.entities import align
from lakewatch.streaming.entities import NEVER_ALIGNED, EntityScorer, EntitySettings, held_readings
from lakewatch.streaming.job import batch_line
from lakewatch.streaming.packing import pack_table
from lakewatch.streaming.sink import BatchStats
from lakewatch.streaming.state import SeriesState

CHANNELS = ("a", "b", "c")
STEP_US = 60_000_000  # one minute


def _scorer(**settings) -> EntityScorer:
    entities = EntitySettings(series={"m-*": list(CHANNELS)}, **settings)
    return EntityScorer(entities, {3: get_detector("pca_t2q", channels=3)}, 0.5)


def _readings(rows: range, channels=CHANNELS, seed=0):
    rng = np.random.default_rng(seed)
    ts = np.repeat(np.array(rows, np.int64) * STEP_US, len(channels))
    chans = np.tile(np.array(channels, dtype=object), len(rows))
    return ts, rng.normal(size=len(ts)), chans


def _step(scorer, state, ts, values, chans):
    return scorer.step("m-1", state, ts, values, chans)


def test_an_incomplete_row_waits_for_its_channels_and_scores_as_the_aligned_batch():
    scorer = _scorer()
    ts, values, chans = _readings(range(40))
    cut = 3 * 30 + 1  # row 30 has only channel a in the first batch
    first = _step(scorer, SeriesState(), ts[:cut], values[:cut], chans[:cut])
    assert len(first.timestamps) == 30 and len(held_readings(first.state)[0]) == 1
    second = _step(scorer, first.state, ts[cut:], values[cut:], chans[cut:])
    assert len(second.timestamps) == 10 and len(second.state.held_values) == 0
    micros, wide = align(pd.DataFrame({"channel": chans, "micros": ts, "value": values}), CHANNELS)
    expected = get_detector("pca_t2q", channels=3).score_series(wide, micros * 1000)
    np.testing.assert_array_equal(np.r_[first.scores, second.scores], expected)


def test_a_row_missing_a_channel_is_scored_with_nan_after_the_wait():
    scorer = _scorer(wait="10 minutes")
    ts, values, chans = _readings(range(20))
    state = _step(scorer, SeriesState(), ts, values, chans).state
    ts2, values2, chans2 = _readings(range(20, 40), channels=("a", "b"), seed=1)  # sensor c went quiet
    out = _step(scorer, state, ts2, values2, chans2)
    assert len(out.timestamps) == 20 - 10  # the newest 10 minutes still wait for c
    assert np.isnan(out.values).all() and out.state.rows_scored == 30
    assert len(held_readings(out.state)[0]) == 2 * 10


def test_held_readings_are_bounded_and_late_readings_come_back_by_channel():
    scorer = _scorer(wait="1 day", max_held=7)
    ts, values, chans = _readings(range(10))
    state = _step(scorer, SeriesState(), ts, values, chans).state
    ts2, values2, chans2 = _readings(range(10, 20), channels=("a",))
    out = _step(scorer, state, ts2, values2, chans2)
    assert len(out.state.held_values) <= 7 and len(out.timestamps) == 10 - 7
    late = _step(scorer, out.state, ts[:2], values[:2], chans[:2])
    assert [(name, len(t)) for name, t, _ in late.late] == [("a", 1), ("b", 1)]


def test_an_entity_whose_channels_never_align_is_quarantined_not_scored():
    scorer = _scorer(wait="5 minutes")
    ts, values, chans = _readings(range(30))
    ts = ts + np.where(chans == "c", 20_000_000, 0)  # c 20 s after a and b: never the same instant
    out = _step(scorer, SeriesState(), ts, values, chans)
    assert len(out.timestamps) == 0 and {r.reason for r in out.rejected} == {NEVER_ALIGNED}
    assert "never align" in out.rejected[0].message
    tolerant = _step(_scorer(wait="5 minutes", tolerance="30 seconds"), SeriesState(), ts, values, chans)
    assert len(tolerant.timestamps) == 30 and not tolerant.rejected


def test_packing_keys_an_entity_by_star_and_keeps_its_channels():
    table = pa.table({"series_id": ["m-1", "m-1", "p"], "channel": ["a", "b", "v"], "ts_us": [1, 1, 1],
                      "value": [1.0, 2.0, 3.0]})
    packed = pack_table(table, ("m-*",)).to_pylist()
    assert {(r["series_id"], r["channel"]): r["source_channel"] for r in packed} == {
        ("m-1", "*"): ["a", "b"], ("p", "v"): ["v"]}


def test_entity_settings_name_the_bad_value():
    with pytest.raises(ConfigError, match="at least two distinct"):
        EntitySettings(series={"m-*": ["a", "a"]})
    with pytest.raises(ConfigError, match="tolerance"):
        EntitySettings(series={"m-*": ["a", "b"]}, tolerance="soon")


def test_by_channel_attributions_name_the_sensors_and_add_up_to_the_score():
    from lakewatch import explain

    detector = get_detector("mknn", {"train_rows": 300}, channels=3)
    rng = np.random.default_rng(3)
    healthy = rng.normal(size=(400, 3))
    stamps = np.arange(408, dtype=np.int64) * STEP_US * 1000
    _, state = detector.update(detector.new_state(), healthy, stamps[:400])
    window = rng.normal(size=(8, 3))
    window[-3:, 1] += 6.0  # sensor b jumps
    settings = explain.ExplainSettings(by_channel=True)
    got = explain.explain_points(detector, state, window, stamps[400:], healthy[-64:].reshape(8, 8, 3), settings,
                                 channel_names=CHANNELS)
    assert {name for name, _ in got.contributions} == set(CHANNELS)
    assert got.contributions[0][0] == "b" and abs(got.total - got.score) < 1e-6


def test_packing_keys_a_reading_of_a_machine_source_by_star_and_carries_its_rule():
    table = pa.table({"series_id": ["w-1", "w-1", "w-2", "p", "m-1"], "channel": ["x", "y", "x", "v", "a"],
                      "ts_us": [1, 1, 1, 1, 1], "value": [1.0, 2.0, 3.0, 4.0, 5.0],
                      "entity_rule": pa.array([1, 1, 0, None, None], pa.int32())})
    packed = pack_table(table, ("m-*",)).to_pylist()
    assert {(r["series_id"], r["channel"]): (r["source_channel"], r["entity_rule"]) for r in packed} == {
        ("w-1", "*"): (["x", "y"], 1), ("w-2", "*"): (["x"], 0), ("p", "v"): (["v"], None),
        ("m-1", "*"): (["a"], None)}


def test_a_machine_by_source_is_scored_with_its_rules_channels_and_a_glob_comes_first():
    detectors = {3: get_detector("pca_t2q", channels=3), 2: get_detector("pca_t2q", channels=2)}
    scorer = EntityScorer(EntitySettings(series={"m-*": list(CHANNELS)}), detectors, 0.5,
                          rule_channels=[("x", "y")])
    assert scorer.channels_of("w-1", 0) == ("x", "y") and scorer.channels_of("m-1", 0) == CHANNELS
    assert scorer.channels_of("w-1") is None and scorer.channel_counts() == {2, 3}
    ts, values, chans = _readings(range(30), channels=("x", "y"))
    out = scorer.step("w-1", SeriesState(), ts, values, chans, rule=0)
    micros, wide = align(pd.DataFrame({"channel": chans, "micros": ts, "value": values}), ("x", "y"))
    np.testing.assert_array_equal(out.scores, detectors[2].score_series(wide, micros * 1000))
    assert scorer.stamp("w-1", 0)["model_version"] == f"pca_t2q@{detectors[2].fingerprint}"
    with pytest.raises(ConfigError, match="no machine source"):
        scorer.step("w-1", SeriesState(), ts, values, chans)


def test_the_batch_line_counts_quarantined_readings_by_reason():
    stats = BatchStats(3, 100, 2, 1, 0, 2.0, 1.0, quarantined={"late": 1, "entity_non_finite": 2,
                                                                  "entity_unknown_channel": 0})
    line = batch_line(stats)
    assert "1 late, 3 quarantined (entity_non_finite 2, late 1), 0 event updates" in line, line
    assert "0 quarantined, 0 event" in batch_line(BatchStats(4, 5, 0, 0, 0, 1.0))


def test_a_reading_within_the_tolerance_after_its_row_was_scored_starts_a_new_row():
    scorer = _scorer(tolerance="30 seconds")
    ts, values, chans = _readings(range(10))
    first = _step(scorer, SeriesState(), ts, values, chans)
    assert len(first.timestamps) == 10  # every row complete: all scored
    straggler = 9 * STEP_US + 10_000_000  # channel a of row 9, 10 s late: within the tolerance of row 9
    ts2, values2, chans2 = _readings(range(10, 12), seed=1)
    out = _step(scorer, first.state, np.r_[straggler, ts2], np.r_[5.0, values2], np.r_[["a"], chans2])
    assert not out.late and list(out.timestamps // 1000) == [straggler, 10 * STEP_US, 11 * STEP_US]
    # ...scored as a row of its own with b and c missing (a batch align would have put it into row 9)
    wide = np.vstack([values.reshape(10, 3), [[5.0, np.nan, np.nan]], values2.reshape(2, 3)])
    stamps = np.r_[ts[::3], straggler, ts2[::3]] * 1000
    expected = get_detector("pca_t2q", channels=3).score_series(wide, stamps)
    np.testing.assert_array_equal(np.r_[first.scores, out.scores], expected)
