"""NAB scoring rules on tiny inline series, and the vectorised code against a row-by-row reference."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from lakewatch.evaluation import (
    CostProfile,
    probation_length,
    score_all_profiles,
    score_corpus,
    score_file,
    sweep_thresholds,
)

STANDARD = CostProfile("standard", tp_weight=1.0, fp_weight=0.11, fn_weight=1.0, tn_weight=1.0)
LOW_FN = CostProfile("reward_low_FN_rate", tp_weight=1.0, fp_weight=0.11, fn_weight=2.0, tn_weight=1.0)
N_ROWS = 100  # probation: floor(0.15 * 100) = 15 rows


def _s(y: float) -> float:
    """NAB's scaled sigmoid, written independently: 2/(1+e^(5y)) - 1 equals -tanh(5y/2)."""
    return -1.0 if y > 3.0 else -math.tanh(2.5 * y)


def _series(hits: dict[int, float], n_rows: int = N_ROWS) -> tuple[pd.DatetimeIndex, np.ndarray]:
    timestamps = pd.date_range("2021-03-01", periods=n_rows, freq="5min")
    scores = np.zeros(n_rows)
    for row, value in hits.items():
        scores[row] = value
    return timestamps, scores


def _window(timestamps: pd.DatetimeIndex, first: int, last: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    return timestamps[first], timestamps[last]


def _score(hits: dict[int, float], spans: list[tuple[int, int]], profile: CostProfile = STANDARD, n_rows=N_ROWS):
    timestamps, scores = _series(hits, n_rows)
    windows = [_window(timestamps, first, last) for first, last in spans]
    return score_file(timestamps, scores, windows, 0.5, profile)


@pytest.mark.parametrize(("n_rows", "expected"), [(6, 0), (20, 3), (100, 15), (4999, 749), (5000, 750), (22695, 750)])
def test_probation_is_fifteen_percent_capped_at_750_rows(n_rows: int, expected: int) -> None:
    assert probation_length(n_rows) == expected


def test_detection_early_in_window_scores_more_than_late() -> None:
    early = _score({40: 1.0}, [(40, 49)])
    late = _score({49: 1.0}, [(40, 49)])
    assert early.score > late.score > 0
    assert early.score == pytest.approx(STANDARD.tp_weight)  # the window's first row earns the full weight
    assert late.score == pytest.approx(_s(-1 / 10) / _s(-1.0))  # y = -(b - i + 1) / width


def test_only_first_detection_in_window_counts() -> None:
    single = _score({42: 1.0}, [(40, 49)])
    several = _score({42: 1.0, 45: 1.0, 48: 1.0}, [(40, 49)])
    assert several.score == pytest.approx(single.score)
    assert (single.tp, several.tp) == (1, 3)
    assert several.fn == 10 - 3


def test_fp_far_after_window_costs_fp_weight_and_near_one_costs_less() -> None:
    base = _score({20: 1.0}, [(20, 29)]).score
    spread = 9  # width - 1
    far = _score({20: 1.0, 29 + 28: 1.0}, [(20, 29)]).score - base  # y = 28/9 > 3
    at_three = _score({20: 1.0, 29 + 27: 1.0}, [(20, 29)]).score - base  # y = 3 exactly
    near = _score({20: 1.0, 30: 1.0}, [(20, 29)]).score - base  # y = 1/9
    assert far == pytest.approx(-STANDARD.fp_weight)
    assert at_three == pytest.approx(STANDARD.fp_weight * _s(27 / spread))
    assert near == pytest.approx(STANDARD.fp_weight * _s(1 / spread))
    assert far < at_three < near < 0


def test_fp_before_any_window_costs_minus_fp_weight() -> None:
    base = _score({60: 1.0}, [(60, 69)]).score
    with_fp = _score({20: 1.0, 60: 1.0}, [(60, 69)])
    assert with_fp.score - base == pytest.approx(-STANDARD.fp_weight)
    assert with_fp.fp == 1


def test_fp_after_one_row_window_uses_fixed_position() -> None:
    base = _score({30: 1.0}, [(30, 30)]).score
    after = _score({30: 1.0, 31: 1.0}, [(30, 30)]).score
    assert base == pytest.approx(1.0)
    assert after - base == pytest.approx(STANDARD.fp_weight * _s(2.0))


@pytest.mark.parametrize("profile", [STANDARD, LOW_FN])
def test_missed_window_costs_fn_weight(profile: CostProfile) -> None:
    result = _score({}, [(30, 39), (70, 79)], profile)
    assert result.score == pytest.approx(-2 * profile.fn_weight)
    assert (result.tp, result.fp, result.fn, result.tn) == (0, 0, 20, N_ROWS - 15 - 20)


def test_probationary_rows_are_not_scored() -> None:
    inside = _score({14: 1.0}, [])
    outside = _score({15: 1.0}, [])
    assert (inside.score, inside.fp, inside.tn) == (0.0, 0, N_ROWS - 15)
    assert (outside.score, outside.fp) == (pytest.approx(-STANDARD.fp_weight), 1)
    assert inside.total == outside.total == N_ROWS


def test_window_inside_probation_is_neither_hit_nor_miss() -> None:
    result = _score({}, [(2, 8)])
    assert (result.score, result.fn) == (0.0, 0)


def test_window_straddling_probation_scores_by_position_in_whole_window() -> None:
    ignored = _score({10: 1.0}, [(10, 19)])  # row 10 is probationary
    counted = _score({16: 1.0}, [(10, 19)])
    assert ignored.score == pytest.approx(-STANDARD.fn_weight)
    assert counted.score == pytest.approx(_s(-(19 - 16 + 1) / 10) / _s(-1.0))


def test_score_equal_to_threshold_is_a_detection() -> None:
    timestamps, scores = _series({40: 0.5})
    result = score_file(timestamps, scores, [_window(timestamps, 40, 49)], 0.5, STANDARD, file="x/y.csv")
    assert (result.tp, result.file, result.threshold) == (1, "x/y.csv", 0.5)


def _corpus(detector) -> tuple[dict[str, pd.DataFrame], dict[str, list]]:
    """Two files with windows and one without; ``detector(n_rows, spans)`` gives the scores."""
    layout = {"cat/a.csv": (120, [(30, 41), (80, 95)]), "cat/b.csv": (200, [(150, 170)]), "other/c.csv": (90, [])}
    frames, windows = {}, {}
    for key, (n_rows, spans) in layout.items():
        timestamps = pd.date_range("2020-01-01", periods=n_rows, freq="h")
        frames[key] = pd.DataFrame({"timestamp": timestamps, "anomaly_score": detector(n_rows, spans)})
        windows[key] = [_window(timestamps, first, last) for first, last in spans]
    return frames, windows


def _null(n_rows: int, spans: list[tuple[int, int]]) -> np.ndarray:
    return np.zeros(n_rows)


def _perfect(n_rows: int, spans: list[tuple[int, int]]) -> np.ndarray:
    scores = np.zeros(n_rows)
    scores[[first for first, _ in spans]] = 1.0
    return scores


@pytest.mark.parametrize("profile", [STANDARD, LOW_FN])
@pytest.mark.parametrize("threshold", [0.5, None])
def test_null_detector_normalises_to_0_and_perfect_to_100(profile: CostProfile, threshold: float | None) -> None:
    null = score_corpus(*_corpus(_null), profile, threshold)
    perfect = score_corpus(*_corpus(_perfect), profile, threshold)
    assert null.raw_score == pytest.approx(null.null_score) == pytest.approx(-3 * profile.fn_weight)
    assert perfect.raw_score == pytest.approx(perfect.perfect_score) == pytest.approx(3 * profile.tp_weight)
    assert null.normalized == pytest.approx(0.0, abs=1e-12)
    assert perfect.normalized == pytest.approx(100.0)
    assert [f.file for f in perfect.files] == ["cat/a.csv", "cat/b.csv", "other/c.csv"]


def test_optimiser_prefers_highest_threshold_on_a_tie() -> None:
    def detector(n_rows: int, spans: list[tuple[int, int]]) -> np.ndarray:
        scores = _perfect(n_rows, spans) * 0.9
        scores[[last for _, last in spans]] = 0.8  # later hits in already-detected windows change nothing
        return scores

    result = score_corpus(*_corpus(detector), STANDARD)
    assert result.threshold == 0.9
    assert result.normalized == pytest.approx(100.0)


# --- the vectorised implementation against a literal, row-by-row reading of NAB's sweeper ----------------


def _reference(n_rows: int, spans: list[tuple[int, int]], scores: list[float], threshold: float, p: CostProfile):
    """Walk the rows like NAB's sweeper: returns (score, tp, tn, fp, fn)."""
    first_scored = min(math.floor(0.15 * n_rows), 0.15 * 5000)
    best = {k: -p.fn_weight for k, (a, b) in enumerate(spans) if b >= first_scored}
    fp_total, counts = 0.0, {"tp": 0, "tn": 0, "fp": 0, "fn": 0}
    previous = None
    for i in range(n_rows):
        current = next((k for k, (a, b) in enumerate(spans) if a <= i <= b), None)
        if i >= first_scored:
            hit = scores[i] >= threshold
            if current is not None:
                a, b = spans[current]
                counts["tp" if hit else "fn"] += 1
                if hit:
                    best[current] = max(best[current], p.tp_weight * _s(-(b - i + 1) / (b - a + 1)) / _s(-1.0))
            else:
                counts["fp" if hit else "tn"] += 1
                if hit and previous is None:
                    fp_total -= p.fp_weight
                elif hit:
                    fp_total += p.fp_weight * _s((i - previous[1]) / (previous[1] - previous[0]))
        if current is not None and i == spans[current][1]:
            previous = spans[current]
    return sum(best.values()) + fp_total, counts["tp"], counts["tn"], counts["fp"], counts["fn"]


def _random_case(rng: random.Random) -> tuple[int, list[tuple[int, int]], list[float]]:
    n_rows = rng.randint(40, 160)
    spans, cursor, wanted = [], rng.randint(0, 30), rng.randint(0, 3)
    while len(spans) < wanted and cursor < n_rows - 3:
        first = cursor + rng.randint(0, 20)
        last = min(first + rng.randint(1, 15), n_rows - 1)
        if first >= n_rows:
            break
        spans.append((first, last))
        cursor = last + 1
    scores = [round(rng.random() ** 3, 2) for _ in range(n_rows)]  # rounding makes ties common
    return n_rows, spans, scores


@pytest.mark.parametrize("seed", range(40))
def test_score_file_matches_row_by_row_reference(seed: int) -> None:
    rng = random.Random(seed)
    n_rows, spans, scores = _random_case(rng)
    timestamps = pd.date_range("2019-05-01", periods=n_rows, freq="15min")
    windows = [_window(timestamps, first, last) for first, last in spans]
    for threshold in sorted({*scores, 0.0, 0.333, 1.0, 1.1}):
        for profile in (STANDARD, LOW_FN):
            result = score_file(timestamps, scores, windows, threshold, profile)
            expected = _reference(n_rows, spans, scores, threshold, profile)
            assert result.score == pytest.approx(expected[0], abs=1e-9)
            assert (result.tp, result.tn, result.fp, result.fn) == expected[1:]


@pytest.mark.parametrize("seed", range(10))
def test_sweep_matches_scoring_each_threshold_and_optimum_is_its_best(seed: int) -> None:
    rng = random.Random(1000 + seed)
    frames, windows = {}, {}
    for index in range(4):
        n_rows, spans, scores = _random_case(rng)
        timestamps = pd.date_range("2018-01-01", periods=n_rows, freq="min")
        frames[f"cat/f{index}.csv"] = pd.DataFrame({"timestamp": timestamps, "anomaly_score": scores})
        windows[f"cat/f{index}.csv"] = [_window(timestamps, first, last) for first, last in spans]

    curve = sweep_thresholds(frames, windows, LOW_FN)
    assert curve["threshold"].iloc[0] == 1.1 and curve["threshold"].is_monotonic_decreasing
    for row in curve.itertuples():
        direct = score_corpus(frames, windows, LOW_FN, row.threshold)
        assert row.score == pytest.approx(direct.raw_score, abs=1e-9)
        totals = tuple(sum(getattr(f, count) for f in direct.files) for count in ("tp", "tn", "fp", "fn"))
        assert (row.tp, row.tn, row.fp, row.fn) == totals

    optimised = score_all_profiles(frames, windows, {"a": STANDARD, "b": LOW_FN})["b"]
    best = curve["score"].max()
    assert optimised.raw_score == pytest.approx(best, abs=1e-9)
    assert optimised.threshold == curve.loc[curve["score"] == best, "threshold"].max()
