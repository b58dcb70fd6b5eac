"""The Detector contract for trained autoencoders (causal, split-invariant, bounded state that round-trips
through bytes, scores in [0, 1], non-finite rows skipped), artifacts, and that a spike stands out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lakewatch.deep import AutoencoderDetector, load_autoencoder_detector
from lakewatch.detectors import DetectorInputError, DetectorParamsError, StateError
from tests.deep import trained_detector
from tests.detectors import make_series, random_sizes, run_in_batches, timestamps

N = 900
SPIKE = 700
CASES = [("cnn_ae", 1, "window"), ("lstm_ae", 1, "window"), ("vae", 3, "global")]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}ch-{c[2]}")
def detector(request: pytest.FixtureRequest) -> AutoencoderDetector:
    kind, channels, scaling = request.param
    return trained_detector(kind, channels, 24 if kind != "lstm_ae" else 16, scaling)


def _series(det: AutoencoderDetector, n: int = N, seed: int = 0, spike_at: int | None = SPIKE) -> np.ndarray:
    return make_series(n, seed=seed, spike_at=spike_at, channels=det.channels, shift=False)


def test_scores_in_unit_interval_with_warm_up_at_zero(detector: AutoencoderDetector) -> None:
    scores = detector.score_series(_series(detector), timestamps(N))
    assert scores.dtype == np.float64 and scores.shape == (N,)
    assert np.all(scores[: detector.spec.window - 1] == 0.0)
    assert scores.min() >= 0.0 and scores.max() <= 1.0
    assert scores[detector.spec.window - 1 :].max() > 0.0


def test_any_batch_split_gives_the_same_scores(detector: AutoencoderDetector) -> None:
    values, stamps = _series(detector, seed=1), timestamps(N)
    whole = detector.score_series(values, stamps)
    split, _ = run_in_batches(detector, values, stamps, random_sizes(N, 1, singles=40), round_trip=True)
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-9)
    no_trip, _ = run_in_batches(detector, values, stamps, random_sizes(N, 2, singles=5), round_trip=False)
    np.testing.assert_allclose(no_trip, whole, rtol=0, atol=1e-9)


def test_changing_a_future_point_leaves_past_scores_alone(detector: AutoencoderDetector) -> None:
    values = _series(detector, seed=2, spike_at=None)
    changed = values.copy()
    changed[600] += 1e3
    changed[601:] *= 1.7
    before = detector.score_series(values, timestamps(N))
    after = detector.score_series(changed, timestamps(N))
    np.testing.assert_array_equal(after[:600], before[:600])
    assert not np.array_equal(after[600:], before[600:])


def test_state_round_trip_is_exact_and_bounded(detector: AutoencoderDetector) -> None:
    values, stamps = _series(detector, seed=3), timestamps(N)
    _, short = detector.update(detector.new_state(), values[:10], stamps[:10])
    _, long = detector.update(detector.new_state(), values, stamps)
    blob = detector.state_to_bytes(long)
    back = detector.state_from_bytes(blob)
    assert detector.state_to_bytes(back) == blob
    assert back.rows_seen == N and back.last_timestamp == int(stamps[-1])
    assert long.nbytes == short.nbytes == detector.new_state().nbytes
    np.testing.assert_array_equal(back.arrays["history"][-1], np.atleast_1d(values[-1]))


def test_non_finite_rows_score_zero_and_are_skipped(detector: AutoencoderDetector) -> None:
    values, stamps = _series(detector, seed=4), timestamps(N)
    bad = np.array([3, 100, 101, 500])
    dirty = values.copy()
    dirty[bad] = np.nan
    keep = np.ones(N, dtype=bool)
    keep[bad] = False
    clean = detector.score_series(values[keep], stamps[keep])
    scores, _ = run_in_batches(detector, dirty, stamps, random_sizes(N, 5, singles=10))
    assert np.all(scores[bad] == 0.0)
    np.testing.assert_allclose(scores[keep], clean, rtol=0, atol=1e-9)


def test_planted_spike_scores_above_normal_points(detector: AutoencoderDetector) -> None:
    scores = detector.score_series(_series(detector, seed=9), timestamps(N))
    normal = scores[100:SPIKE]
    assert scores[SPIKE] > np.quantile(normal, 0.99), (scores[SPIKE], np.quantile(normal, 0.99))
    assert scores[SPIKE] > 0.9


def test_artifacts_round_trip_to_the_same_scores(detector: AutoencoderDetector, tmp_path: Path) -> None:
    loader = detector.save_artifacts(tmp_path / "model")
    assert loader == "lakewatch.deep.detector:load_autoencoder_detector"
    back = load_autoencoder_detector(tmp_path / "model")
    assert back.fingerprint == detector.fingerprint
    assert back.channel_names == detector.channel_names
    values, stamps = _series(detector, seed=5), timestamps(N)
    np.testing.assert_array_equal(back.score_series(values, stamps), detector.score_series(values, stamps))
    _, state = detector.update(detector.new_state(), values[:50], stamps[:50])
    assert back.state_from_bytes(detector.state_to_bytes(state)).rows_seen == 50


def test_states_of_another_model_and_wrong_shapes_are_rejected(detector: AutoencoderDetector) -> None:
    other = trained_detector("cnn_ae", detector.channels, detector.spec.window, detector.scaler.mode, epochs=1)
    assert other.fingerprint != detector.fingerprint
    with pytest.raises(StateError, match="fingerprint"):
        other.state_from_bytes(detector.state_to_bytes(detector.new_state()))
    wrong = np.zeros((5, detector.channels + 1))
    with pytest.raises(DetectorInputError, match="shape"):
        detector.update(detector.new_state(), wrong, timestamps(5))


def test_tampered_artifacts_are_refused(tmp_path: Path) -> None:
    det = trained_detector()
    det.save_artifacts(tmp_path)
    meta = (tmp_path / "autoencoder.json").read_text()
    (tmp_path / "autoencoder.json").write_text(meta.replace('"tail": 1', '"tail": 2'))
    with pytest.raises(DetectorParamsError, match="digest"):
        load_autoencoder_detector(tmp_path)
    (tmp_path / "model.pt").unlink()
    with pytest.raises(DetectorParamsError, match="lacks"):
        load_autoencoder_detector(tmp_path)
