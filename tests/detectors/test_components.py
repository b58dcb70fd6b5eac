"""Behaviour of the building blocks: sorted-window and histogram kernels, the likelihood post-processor,
ensemble suppression, and what each plain detector responds to."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lakewatch.detectors import (
    EnsembleDetector,
    HoltWintersDetector,
    KnnDetector,
    LikelihoodDetector,
    MahalanobisDetector,
    RecordDetector,
    RobustZScoreDetector,
    WindowedGaussianDetector,
)
from lakewatch.detectors._kernels import (
    LOG_OCTAVES,
    hist_push,
    log_bin,
    log_bin_value,
    sorted_mad,
    sorted_median,
    sorted_push,
)
from lakewatch.detectors.base import Detector, DetectorParams
from tests.detectors import make_series, timestamps


@pytest.mark.parametrize("cap", [1, 2, 7, 64])
def test_sorted_window_matches_numpy(cap: int) -> None:
    rng = np.random.default_rng(cap)
    values = rng.integers(0, 12, 400).astype(float)  # many ties
    ring, srt, pos = np.zeros(cap), np.zeros(cap), np.zeros(2, dtype=np.int64)
    for i, v in enumerate(values):
        sorted_push(ring, srt, pos, v)
        window = values[max(0, i - cap + 1) : i + 1]
        m = int(pos[1])
        np.testing.assert_array_equal(srt[:m], np.sort(window))
        med = sorted_median(srt, m)
        assert med == np.median(window)
        assert sorted_mad(srt, m, med) == pytest.approx(np.median(np.abs(window - med)), abs=1e-12)


@pytest.mark.parametrize("cap", [1, 5, 300])
def test_histogram_quantile_tracks_the_exact_bin(cap: int) -> None:
    rng = np.random.default_rng(cap)
    values = np.where(rng.random(2000) < 0.1, 0.0, rng.lognormal(0.0, 4.0, 2000))
    bpo = 16
    ring = np.zeros(cap, dtype=np.int32)
    counts = np.zeros(LOG_OCTAVES * bpo + 1, dtype=np.int32)
    cur = np.zeros(4, dtype=np.int64)
    bins = np.array([log_bin(v, bpo) for v in values])
    for i, v in enumerate(values):
        hist_push(ring, counts, cur, v, bpo, 0.9)
        window = np.sort(bins[max(0, i - cap + 1) : i + 1])
        assert cur[2] == window[min(len(window) - 1, int(0.9 * len(window)))]
    for v in (1e-3, 1.0, 3.7, 12345.0):
        assert log_bin_value(log_bin(v, bpo), bpo) == pytest.approx(v, rel=math.log(2) / bpo)
    assert log_bin(0.0, bpo) == 0 and log_bin_value(0, bpo) == 0.0


class _Replay(Detector):
    """A test detector whose raw channel is the value itself (to drive the likelihood exactly)."""

    kind = "replay"
    params_type = DetectorParams

    def _init_arrays(self):
        return {}

    def _score(self, arrays, x, ts):
        return np.clip(x, 0.0, 1.0)


def test_likelihood_flags_the_onset_of_a_rise_once() -> None:
    raw = np.full(1000, 0.02)
    raw[::7] = 0.08  # a little texture
    raw[800:830] = 1.0  # a sustained excursion
    det = LikelihoodDetector(_Replay())
    scores = det.score_series(raw, timestamps(len(raw)))
    assert np.all(scores[:150] == pytest.approx(math.log(0.5 + 1e-10) / math.log(1e-10)))  # warm-up: tail 0.5
    red = np.flatnonzero(scores >= 0.5)
    assert red[0] in (800, 801)
    # the rows after the onset that stay in the red zone are lifted to the yellow level
    assert np.all(scores[red[0] + 1 : 830] <= math.log(1e-3 + 1e-10) / math.log(1e-10) + 1e-12)
    assert scores[:800].max() < 0.5


def test_likelihood_log_scale_maps_tail_1e5_to_one_half() -> None:
    assert math.log(1e-5 + 1e-10) / math.log(1e-10) == pytest.approx(0.5, abs=1e-5)


def test_likelihood_combines_channels_by_median() -> None:
    det = LikelihoodDetector(KnnDetector({"scales": (2, 4, 8)}))
    assert det.base.raw_channels == 3
    state = det.new_state()
    assert state.arrays["avg_ring"].shape == (3, det.params.avg_window)
    scores = det.score_series(make_series(600), timestamps(600))
    assert scores.shape == (600,)


def test_ensemble_suppresses_rows_after_an_alarm() -> None:
    raw = np.zeros(400)
    raw[[100, 150, 250, 340, 390]] = [0.9, 0.95, 0.7, 0.6, 0.8]
    ens = EnsembleDetector([_Replay()], {"suppress_threshold": 0.5, "suppress_rows": 100, "suppress_factor": 0.0})
    out = ens.score_series(raw, timestamps(400))
    assert out[100] == 0.9 and out[150] == 0.0  # inside the 100 rows after the alarm at 100
    assert out[250] == 0.7 and out[340] == 0.0  # 250 is free again and re-arms the suppression
    assert out[390] == 0.8  # more than 100 rows after 250
    mean = EnsembleDetector([_Replay(), _Replay()], {"combine": "mean", "suppress_rows": 0})
    np.testing.assert_array_equal(mean.score_series(raw, timestamps(400)), raw)


def test_suppression_carries_across_batches() -> None:
    raw = np.zeros(300)
    raw[[10, 50]] = 0.9
    ens = EnsembleDetector([_Replay()], {"suppress_rows": 100})
    state = ens.new_state()
    first, state = ens.update(state, raw[:20], timestamps(300)[:20])
    second, _ = ens.update(state, raw[20:], timestamps(300)[20:])
    assert first[10] == 0.9 and second[30] == 0.0


def test_record_detector_ignores_recurring_spikes_but_flags_a_bigger_one() -> None:
    x = np.zeros(3000)
    x[::100] = 10.0  # regular spikes set the bar
    x[2500] = 30.0
    scores = RecordDetector().score_series(x, timestamps(3000))
    regular = scores[1000:2500][x[1000:2500] > 0]
    assert regular.max() < 0.5 < scores[2500]
    drop = np.full(2000, 5.0) + np.random.default_rng(0).normal(0, 0.1, 2000)
    drop[1500:] -= 3.0  # a downward level shift is a downward record
    assert RecordDetector().score_series(drop, timestamps(2000))[1500] > 0.8


def test_holt_winters_learns_the_season() -> None:
    t = np.arange(3000)
    x = 10 + 5 * np.sin(2 * np.pi * t / 50) + np.random.default_rng(1).normal(0, 0.2, 3000)
    seasonal = HoltWintersDetector({"season_length": 50, "gamma": 0.2, "beta": 0.0, "alpha": 0.2})
    plain = HoltWintersDetector({"season_length": 0})
    s_seasonal = seasonal.score_series(x, timestamps(3000))[2000:]
    s_plain = plain.score_series(x, timestamps(3000))[2000:]
    assert s_seasonal.mean() < s_plain.mean()


def test_windowed_gaussian_scores_against_the_trailing_window() -> None:
    x = np.random.default_rng(2).normal(0, 1, 1000)
    x[900] = 8.0
    scores = WindowedGaussianDetector({"window": 400, "step": 100}).score_series(x, timestamps(1000))
    assert scores[900] > 0.999999 and np.median(scores) < 0.8


def test_robust_zscore_is_not_fooled_by_outliers_in_the_window() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, 800)
    x[rng.choice(700, 40, replace=False)] = 50.0  # 5% outliers inflate a standard deviation, not the MAD
    x[750] = 6.0
    robust = RobustZScoreDetector({"window": 500, "z_scale": 1.0}).score_series(x, timestamps(800))
    assert robust[750] > 0.9999


def test_mahalanobis_flags_a_broken_correlation() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, 1500)
    x = np.stack([a, a + rng.normal(0, 0.05, 1500)], axis=1)
    x[1400] = [1.0, -1.0]  # each channel ordinary on its own, the pair impossible
    scores = MahalanobisDetector({"channels": 2}).score_series(x, timestamps(1500))
    assert scores[1400] > 0.9999 and np.percentile(scores[200:1400], 99) < scores[1400]
