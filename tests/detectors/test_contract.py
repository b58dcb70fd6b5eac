"""The detector contract, checked for EVERY configured detector: batch-split invariance (with the state
round-tripped through bytes), causality, scores in [0, 1], the non-finite policy, bounded state, and that a
planted spike scores above normal points."""

from __future__ import annotations

import numpy as np
import pytest

from lakewatch.detectors import Detector, available_detectors, get_detector
from tests.detectors import random_sizes, run_in_batches, timestamps, values_for

N = 1200
SPIKE = 1000
NAMES = [name for name in available_detectors() if name != "default"]


@pytest.fixture(scope="module", params=NAMES)
def detector(request: pytest.FixtureRequest) -> Detector:
    return get_detector(request.param)


def _whole(detector: Detector, values: np.ndarray) -> np.ndarray:
    return detector.score_series(values, timestamps(len(values)))


def test_every_kind_is_covered() -> None:
    kinds = {get_detector(name).kind for name in NAMES}
    assert {
        "windowed_gaussian",
        "robust_zscore",
        "holt_winters",
        "knn",
        "record_deviation",
        "mahalanobis",
        "pca_t2q",
        "mknn",
        "likelihood",
        "ensemble",
    } <= kinds


def test_scores_are_float64_in_unit_interval(detector: Detector) -> None:
    values = values_for(detector, N, spike_at=SPIKE)
    scores = _whole(detector, values)
    assert scores.dtype == np.float64
    assert scores.shape == (N,)
    assert np.all(np.isfinite(scores))
    assert scores.min() >= 0.0
    assert scores.max() <= 1.0
    assert scores.max() > 0.0, "a series with a level shift and a spike must raise some score"


@pytest.mark.parametrize("seed", [1, 2])
def test_any_batch_split_gives_the_same_scores(detector: Detector, seed: int) -> None:
    values = values_for(detector, N, seed=seed, spike_at=SPIKE)
    stamps = timestamps(N)
    whole = detector.score_series(values, stamps)
    split, _ = run_in_batches(detector, values, stamps, random_sizes(N, seed), round_trip=True)
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-9)
    no_trip, _ = run_in_batches(detector, values, stamps, random_sizes(N, seed + 10), round_trip=False)
    np.testing.assert_allclose(no_trip, whole, rtol=0, atol=1e-9)


def test_one_row_at_a_time_with_state_round_trip(detector: Detector) -> None:
    n = 400
    values = values_for(detector, n, seed=3, spike_at=300)
    stamps = timestamps(n)
    whole = detector.score_series(values, stamps)
    single, _ = run_in_batches(detector, values, stamps, [1] * n, round_trip=True)
    np.testing.assert_allclose(single, whole, rtol=0, atol=1e-9)


def test_changing_a_future_point_leaves_past_scores_alone(detector: Detector) -> None:
    values = values_for(detector, N, seed=4)
    changed = values.copy()
    changed[800] += 1e4
    changed[801:] *= 1.7
    before = _whole(detector, values)
    after = _whole(detector, changed)
    np.testing.assert_array_equal(after[:800], before[:800])
    assert not np.array_equal(after[800:], before[800:])


def test_update_does_not_modify_the_given_state(detector: Detector) -> None:
    values = values_for(detector, 300, seed=5)
    stamps = timestamps(300)
    _, state = detector.update(detector.new_state(), values[:200], stamps[:200])
    blob = detector.state_to_bytes(state)
    first, _ = detector.update(state, values[200:], stamps[200:])
    second, _ = detector.update(state, values[200:], stamps[200:])
    np.testing.assert_array_equal(first, second)
    assert detector.state_to_bytes(state) == blob


def test_state_round_trip_is_exact_and_bounded(detector: Detector) -> None:
    values = values_for(detector, 3000, seed=6)
    stamps = timestamps(3000)
    _, short = detector.update(detector.new_state(), values[:300], stamps[:300])
    _, long = detector.update(detector.new_state(), values, stamps)
    blob = detector.state_to_bytes(long)
    back = detector.state_from_bytes(blob)
    assert detector.state_to_bytes(back) == blob
    assert back.rows_seen == 3000
    assert back.last_timestamp == int(stamps[-1])
    # fixed-size arrays: the state does not grow with the length of the series
    assert long.nbytes == short.nbytes == detector.new_state().nbytes
    assert len(detector.state_to_bytes(short)) == len(blob)


def test_non_finite_rows_score_zero_and_leave_the_model_alone(detector: Detector) -> None:
    values = values_for(detector, N, seed=7, spike_at=SPIKE)
    stamps = timestamps(N)
    bad_rows = np.array([5, 150, 151, 600, 1100])
    dirty = values.copy()
    dirty[bad_rows[0]] = np.nan
    dirty[bad_rows[1]] = np.inf
    dirty[bad_rows[2]] = -np.inf
    dirty[bad_rows[3]] = np.nan
    dirty[bad_rows[4]] = np.nan
    keep = np.ones(N, dtype=bool)
    keep[bad_rows] = False
    clean_scores = detector.score_series(values[keep], stamps[keep])
    dirty_scores, _ = run_in_batches(detector, dirty, stamps, random_sizes(N, 8, singles=10))
    assert np.all(dirty_scores[bad_rows] == 0.0)
    np.testing.assert_allclose(dirty_scores[keep], clean_scores, rtol=0, atol=1e-9)
    # a batch of only non-finite rows leaves the model arrays exactly as they were
    _, state = detector.update(detector.new_state(), values[:400], stamps[:400])
    nan_rows = np.full_like(values[:3], np.nan)
    scores, after = detector.update(state, nan_rows, stamps[400:403])
    assert np.all(scores == 0.0)
    before_arrays = {k: v for k, v in state.arrays.items() if k != "__meta__"}
    after_arrays = {k: v for k, v in after.arrays.items() if k != "__meta__"}
    assert detector.state_to_bytes(
        detector.state_from_bytes(detector.state_to_bytes(state))
    ) == detector.state_to_bytes(state)
    _assert_trees_equal(before_arrays, after_arrays)
    assert after.rows_seen == state.rows_seen + 3


def _assert_trees_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            _assert_trees_equal(a[key], b[key])
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_planted_spike_scores_above_normal_points(detector: Detector) -> None:
    values = values_for(detector, N, seed=9, spike_at=SPIKE, shift=False)
    scores = _whole(detector, values)
    normal = scores[300:SPIKE]  # after every warm-up, before the spike
    at_spike = scores[SPIKE : SPIKE + 3].max()  # smoothing detectors (likelihood) may answer a row later
    assert at_spike > normal.max(), (at_spike, normal.max())
    # and clearly so: above one half, or (likelihood of a noisy raw channel) at least twice the normal maximum
    assert at_spike > 0.5 or at_spike > 2 * normal.max(), (at_spike, normal.max())
