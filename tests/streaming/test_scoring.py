"""The stateful step without Spark: split invariance, ordering, lateness, watermark, events, state bytes."""

from __future__ import annotations

import numpy as np
import pytest

from lakewatch.detectors import get_detector
from lakewatch.errors import ConfigError
from lakewatch.streaming.events import advance_events
from lakewatch.streaming.explaining import make_explainer
from lakewatch.streaming.scoring import KIND_EVENT, KIND_LATE, KIND_SCORE, OUTPUT_SCHEMA, SeriesScorer, output_frame
from lakewatch.streaming.state import OpenEvent, SeriesState, StreamStateError

MIN = 60 * 10**9


def _series(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.sin(np.arange(n) / 20) + rng.normal(0, 0.1, n)
    values[[i for i in (n * 3 // 8, n * 3 // 8 + 1, n * 3 // 4)]] += 8
    return np.arange(n, dtype=np.int64) * 5 * MIN, values


def _roundtrip(state: SeriesState) -> SeriesState:
    return SeriesState.from_row(state.to_row())


def _run(scorer: SeriesScorer, ts, values, splits, shuffle_seed=None):
    state = SeriesState()
    got_ts, got_scores = [], []
    for part in np.array_split(np.arange(len(ts)), splits):
        if shuffle_seed is not None:
            part = np.random.default_rng(shuffle_seed).permutation(part)
        out = scorer.step(state, ts[part], values[part])
        state = _roundtrip(out.state)
        got_ts.append(out.timestamps)
        got_scores.append(out.scores)
    return np.concatenate(got_ts), np.concatenate(got_scores), state


@pytest.mark.parametrize("detector", ["robust_zscore", "lakewatch_nab"])
def test_any_split_and_in_batch_disorder_gives_the_batch_scores(detector):
    det = get_detector(detector)
    ts, values = _series()
    expected = det.score_series(values, ts)
    got_ts, got, state = _run(SeriesScorer(det, 0.5), ts, values, splits=7, shuffle_seed=1)
    np.testing.assert_array_equal(got_ts, ts)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert state.rows_scored == len(ts) and state.last_scored_ns == ts[-1]


def test_rows_behind_the_last_scored_one_are_late_unless_within_max_lateness():
    det = get_detector("robust_zscore")
    ts, values = _series(100)
    first = np.r_[0:40, 50:56]  # rows 40..49 arrive later, behind the last scored row 55
    behind = np.arange(40, 50)
    strict = SeriesScorer(det, 0.5)
    out = strict.step(SeriesState(), ts[first], values[first])
    late = strict.step(_roundtrip(out.state), ts[behind], values[behind])
    assert len(late.timestamps) == 0 and len(late.late_timestamps) == 10
    assert late.state.last_scored_ns == ts[55] and late.state.rows_scored == len(first)
    again = strict.step(_roundtrip(out.state), ts[55:56], values[55:56])  # the last scored row again: late
    assert len(again.late_timestamps) == 1
    tolerant = SeriesScorer(det, 0.5, max_lateness_ns=60 * MIN)  # 12 rows of 5 minutes: accepts rows after 43
    late = tolerant.step(_roundtrip(out.state), ts[behind], values[behind])
    np.testing.assert_array_equal(late.late_timestamps, ts[40:44])
    np.testing.assert_array_equal(late.timestamps, ts[44:50])


def test_watermark_holds_the_newest_rows_until_later_rows_or_a_flush():
    det = get_detector("robust_zscore")
    ts, values = _series(100)
    scorer = SeriesScorer(det, 0.5, watermark_ns=30 * MIN)
    first = scorer.step(SeriesState(), ts[:60], values[:60])
    np.testing.assert_array_equal(first.timestamps, ts[:54])  # rows within 30 min of the newest are held
    np.testing.assert_array_equal(first.state.held_ts, ts[54:60])
    # rows 60..99 arrive with 50..59 (out of order inside the watermark): all sorted, nothing late
    disorder = np.r_[60:100, 50:54]
    second = scorer.step(_roundtrip(first.state), ts[disorder], values[disorder])
    np.testing.assert_array_equal(second.late_timestamps, ts[50:54])  # already scored: late
    np.testing.assert_array_equal(second.timestamps, ts[54:94])
    flushed = scorer.step(_roundtrip(second.state), np.empty(0, np.int64), np.empty(0), flush=True)
    np.testing.assert_array_equal(flushed.timestamps, ts[94:])
    all_scores = np.concatenate([first.scores, second.scores, flushed.scores])
    np.testing.assert_allclose(all_scores, det.score_series(values, ts), atol=1e-12)


def test_events_span_batches_and_close_after_the_gap():
    ts = np.arange(10, dtype=np.int64) * MIN
    flags = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 1], bool)
    scores = np.where(flags, 0.8, 0.1)
    scores[8] = 0.95
    updates, open_event = advance_events(None, ts[:8], scores[:8], flags[:8], {8: (0.1, (("x", 1.0),))}, 0)
    assert [(u.event.start_ns, u.event.end_ns, u.event.points, u.is_open, u.is_new) for u in updates] == [
        (ts[2], ts[3], 2, False, True), (ts[7], ts[7], 1, True, True)]
    updates, open_event = advance_events(open_event, ts[8:] - 0, scores[8:], flags[8:],
                                         {0: (0.2, (("value[t]", 0.7),))}, 0)
    assert len(updates) == 1 and updates[0].is_open and not updates[0].is_new  # written by the first batch
    assert updates[0].event.start_ns == ts[7] and updates[0].event.points == 3
    assert updates[0].event.peak_ns == ts[8] and updates[0].event.top == (("value[t]", 0.7),)
    updates, open_event = advance_events(open_event, ts[:2] + 100 * MIN, np.zeros(2), np.zeros(2, bool), {}, 1)
    assert open_event is None and len(updates) == 1 and not updates[0].is_open  # gap of 2 rows > 1
    assert not updates[0].is_new
    untouched, still = advance_events(OpenEvent(0, 0, 0, 0.9, 1), ts[:1], np.zeros(1), np.zeros(1, bool), {}, 3)
    assert untouched == [] and still is not None and still.gap == 1


def test_output_frame_has_the_output_schema_columns_and_kinds():
    det = get_detector("robust_zscore")
    ts, values = _series(200)
    scorer = SeriesScorer(det, 0.3)
    out = scorer.step(SeriesState(), ts[100:], values[100:])
    out2 = scorer.step(_roundtrip(out.state), ts[:3], values[:3])
    frame = output_frame("a", "value", out, out.state.last_scored_ns)
    assert list(frame.columns) == [f.name for f in OUTPUT_SCHEMA.fields]
    assert frame["kind"].iloc[0] == KIND_SCORE and set(frame["kind"].iloc[1:]) == {KIND_EVENT}
    score_row = frame.iloc[0]
    np.testing.assert_array_equal(score_row["ts_us"], ts[100:] // 1000)
    np.testing.assert_array_equal(score_row["score"], out.scores)
    assert score_row["attributions"] is None and score_row["base_value"] is None  # explanations off
    assert [len(e) for e in frame["ts_us"].iloc[1:]] == [1] * len(out.events)  # one event version per row
    late = output_frame("a", "value", out2, out.state.last_scored_ns)
    assert list(late["kind"]) == [KIND_LATE]
    np.testing.assert_array_equal(late["ts_us"].iloc[0], ts[:3] // 1000)


def test_state_row_compresses_the_detector_bytes_and_still_reads_version_1():
    det = get_detector("lakewatch_nab")
    ts, values = _series(600)
    out = SeriesScorer(det, 0.5).step(SeriesState(), ts, values)
    row = out.state.to_row()
    assert row[0] == 2 and len(row[1]) < len(out.state.detector) / 2  # the default detector's state: >2x smaller
    assert _roundtrip(out.state).detector == out.state.detector
    v1 = (1, out.state.detector, *row[2:])  # a checkpoint written before compression
    assert SeriesState.from_row(v1).detector == out.state.detector
    damaged = (2, row[1][:-40], *row[2:])
    with pytest.raises(StreamStateError, match="damaged"):
        SeriesState.from_row(damaged)


def test_state_of_another_version_is_refused():
    row = list(SeriesState().to_row())
    row[0] = 99
    with pytest.raises(StreamStateError, match="version 99"):
        SeriesState.from_row(tuple(row))


def test_explainer_is_off_when_disabled_and_bad_options_name_the_section():
    assert make_explainer({"enabled": False}) is None
    with pytest.raises(ConfigError, match=r"streaming\.explain: .*top_k"):
        make_explainer({"top_k": 0})
    with pytest.raises(ConfigError, match=r"streaming\.explain: .*no_such_option"):
        make_explainer({"no_such_option": 1})


def test_flagged_points_carry_shap_attributions_that_add_up_to_the_score():
    explainer = make_explainer({"lags": 3, "top_k": 50, "background": 8, "snapshot_every": 32})
    det = get_detector("robust_zscore")
    ts, values = _series(300)
    scorer = SeriesScorer(det, 0.9, explainer=explainer)
    state, explained = SeriesState(), 0
    for part in np.array_split(np.arange(300), 5):
        out = scorer.step(state, ts[part], values[part])
        state = _roundtrip(out.state)
        assert state.trail  # the trail moves with every batch
        for i, (base, top) in out.explanations.items():
            assert out.flags[i]
            assert base + sum(v for _, v in top) == pytest.approx(out.scores[i], abs=1e-6)
            explained += 1
    assert explained > 0
