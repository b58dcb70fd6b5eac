"""Multichannel detectors beyond the shared contract: missing channel values, a constant channel, an all-NaN
channel, the flagging policy (onset / hold), the machine generator and the F1 benchmark."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from lakewatch.detectors import DetectorParamsError, EnsembleDetector, get_detector, healthy_starts
from lakewatch.sources.machines import FAULT_KINDS, MachineSpec, generate_machine, generate_machines
from tests.detectors import random_sizes, run_in_batches, timestamps

MULTI = ["pca_t2q", "mknn", "pca_t2q_likelihood", "lakewatch_machine"]
PLAIN = ["pca_t2q", "mknn"]
BENCH = Path(__file__).resolve().parents[2] / "bench" / "multichannel_f1.py"


@pytest.fixture(scope="module")
def machine():
    return generate_machine(7, 0)


def _healthy(n: int, seed: int = 0, p: int = 8) -> np.ndarray:
    """Correlated channels: two latent factors (a cycle and a load) plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    factors = np.stack([np.sin(2 * np.pi * t / 96), rng.normal(0.0, 0.5, n)], axis=1)
    loadings = rng.uniform(0.5, 1.5, (p, 2))
    return 50.0 + factors @ loadings.T * 10.0 + rng.normal(0.0, 0.5, (n, p))


@pytest.mark.parametrize("name", PLAIN)
def test_a_missing_channel_value_is_scored_from_the_other_channels(name: str) -> None:
    det = get_detector(name)
    x = _healthy(900)
    stamps = timestamps(900)
    _, state = det.update(det.new_state(), x[:700], stamps[:700])
    rows = x[700:720].copy()
    rows[:, 2] = np.nan  # channel 2 missing on every row
    rows[15, 4] += 60.0  # and a fault on another channel
    scores, after = det.update(state, rows, stamps[700:720])
    assert np.all(np.isfinite(scores))
    assert scores[15] > 0.999, "a fault in an observed channel is seen although another channel is missing"
    assert np.median(np.delete(scores, 15)) < 0.99, "healthy rows with a missing channel are not alarms"
    # the missing channel scores exactly as the same rows without the channel's values would: ignored
    rows_inf = rows.copy()
    rows_inf[:, 2] = np.inf
    scores_inf, _ = det.update(state, rows_inf, stamps[700:720])
    np.testing.assert_array_equal(scores_inf, scores)
    assert after.rows_seen == 720


@pytest.mark.parametrize("name", MULTI)
def test_rows_with_missing_channels_keep_batch_split_invariance(name: str) -> None:
    det = get_detector(name)
    assert det.partial_rows and not get_detector("lakewatch_nab").partial_rows
    x = _healthy(1300, seed=6)
    rng = np.random.default_rng(6)
    x[rng.random(x.shape) < 0.03] = np.nan
    x[rng.random(x.shape) < 0.01] = np.inf
    x[1200:, 5] += 30.0
    stamps = timestamps(1300)
    whole = det.score_series(x, stamps)
    split, state = run_in_batches(det, x, stamps, random_sizes(1300, 6), round_trip=True)
    np.testing.assert_allclose(split, whole, rtol=0, atol=1e-9)
    assert np.all(np.isfinite(whole))
    seen = np.isfinite(x[1210:, 5])  # where the faulty channel is missing, the others are healthy
    assert np.median(whole[1210:][seen]) >= 0.5 and np.median(whole[1000:1200]) < 0.5
    assert state.nbytes == det.new_state().nbytes


@pytest.mark.parametrize("name", PLAIN)
def test_missing_values_in_the_healthy_start_still_fit_the_model(name: str) -> None:
    det = get_detector(name)
    x = _healthy(900, seed=1)
    holes = x.copy()
    rng = np.random.default_rng(3)
    holes[rng.random(holes.shape) < 0.05] = np.nan  # 5% of the values missing at random
    scores = det.score_series(holes, timestamps(900))
    assert np.all(scores[:500] == 0.0), "the healthy start scores 0"
    assert np.all(np.isfinite(scores)) and np.median(scores[500:]) < 0.99


@pytest.mark.parametrize("name", PLAIN)
def test_a_channel_constant_while_healthy_alarms_when_it_moves(name: str) -> None:
    det = get_detector(name)
    x = _healthy(900, seed=2)
    x[:, 6] = 3.0  # a valve position that never moved while healthy
    x[850:, 6] = 3.5
    scores = det.score_series(x, timestamps(900))
    assert np.all(np.isfinite(scores))
    assert np.median(scores[500:850]) < 0.99
    assert np.all(scores[850:] > 0.9999)


@pytest.mark.parametrize("name", PLAIN)
def test_an_all_nan_channel_is_ignored(name: str) -> None:
    det = get_detector(name)
    x = _healthy(900, seed=4)
    x[:, 1] = np.nan
    x[850:, 3] += 40.0
    scores, state = run_in_batches(det, x, timestamps(900), [300, 300, 300])
    assert np.all(np.isfinite(scores))
    assert state.arrays["model"]["active"][1] == 0.0 and state.arrays["model"]["active"].sum() == 7
    assert np.median(scores[500:850]) < 0.99
    assert np.all(scores[850:] > 0.9999)


def test_a_stuck_sensor_is_seen_by_its_repeated_values() -> None:
    x = _healthy(900, seed=5)
    x[:, 7] = np.round(x[:, 7], 1)  # a coarse sensor repeats values while healthy too: its runs are calibrated
    x[696:706, 3] = x[696, 3]  # channel 3 holds its value for 10 rows, at a peak of its cycle (slow change)
    stamps = timestamps(900)
    with_test = get_detector("pca_t2q").score_series(x, stamps)
    without = get_detector("pca_t2q", {"stuck_test": False}).score_series(x, stamps)
    assert np.all(with_test[699:706] > 0.9999)
    assert (without[699:706] > 0.9999).mean() < 0.75, "the residuals alone see the stuck value later"
    assert np.median(with_test[500:690]) < 0.99 and np.median(with_test[720:]) < 0.99


def test_hold_flags_a_fault_while_it_lasts_and_onset_only_its_start(machine) -> None:
    seg = next(s for s in machine.segments if s.kind == "level_shift_pair")
    hold = get_detector("lakewatch_machine")
    onset = get_detector("lakewatch_machine", {"flagging": "onset", "suppress_rows": 100})
    threshold = 0.5
    held = hold.score_series(machine.values, machine.timestamps)[seg.start : seg.end] >= threshold
    started = onset.score_series(machine.values, machine.timestamps)[seg.start : seg.end] >= threshold
    assert held.mean() > 0.9, held.mean()
    assert started.sum() < 0.5 * held.sum(), (started.sum(), held.sum())


def test_hold_hysteresis_releases_after_hold_rows_below_release() -> None:
    member = get_detector("pca_t2q")
    det = EnsembleDetector([member], {"flagging": "hold", "suppress_rows": 0, "hold_threshold": 0.5,
                                      "hold_release": 0.3, "hold_rows": 3})
    from lakewatch.detectors.ensemble import _hold_kernel

    scores = np.array([0.1, 0.6, 0.4, 0.2, 0.45, 0.2, 0.2, 0.2, 0.4, 0.6])
    state = np.zeros(2, dtype=np.int64)
    _hold_kernel(scores, state, 0.5, 0.3, 3)
    np.testing.assert_allclose(scores, [0.1, 0.6, 0.5, 0.5, 0.5, 0.5, 0.5, 0.2, 0.4, 0.6])
    assert list(state) == [1, 0]
    assert det.fingerprint != EnsembleDetector([member]).fingerprint


def test_onset_settings_keep_the_univariate_default_fingerprint() -> None:
    default = get_detector("lakewatch_nab")
    explicit = get_detector("lakewatch_nab", {"flagging": "onset", "hold_threshold": 0.5})
    assert explicit.fingerprint == default.fingerprint
    assert get_detector("lakewatch_nab", {"flagging": "hold"}).fingerprint != default.fingerprint


@pytest.mark.parametrize("params, message", [
    ({"flagging": "always"}, r"flagging='always' is not supported; expected one of \['onset', 'hold'\]"),
    ({"hold_release": 0.8}, r"hold_release=0.8 is above hold_threshold=0.5"),
])
def test_bad_flagging_settings_are_named(params: dict, message: str) -> None:
    with pytest.raises(DetectorParamsError, match=message):
        get_detector("lakewatch_machine", params)


def test_likelihood_flagging_is_checked() -> None:
    with pytest.raises(DetectorParamsError, match=r"flagging='sometimes'"):
        get_detector("pca_t2q_likelihood", {"flagging": "sometimes"})


def test_generator_is_deterministic_and_labels_every_fault_kind_once() -> None:
    a, b = generate_machine(3, 1), generate_machine(3, 1)
    np.testing.assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, generate_machine(4, 1).values)
    spec = MachineSpec()
    assert a.values.shape == (spec.rows, spec.channels)
    assert sorted(s.kind for s in a.segments) == sorted(FAULT_KINDS)
    assert not a.labels[: spec.healthy_rows].any()
    expected = np.zeros(spec.rows, dtype=bool)
    for seg in a.segments:
        expected[seg.start : seg.end] = True
        assert set(a.kinds[seg.start : seg.end]) == {seg.kind}
    np.testing.assert_array_equal(a.labels, expected)
    assert np.all(np.diff(a.timestamps) == 300 * 10**9)
    with pytest.raises(ValueError, match="channels=2"):
        MachineSpec(channels=2)
    with pytest.raises(ValueError, match="count=0"):
        generate_machines(0)


def test_benchmark_reports_point_wise_figures(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("multichannel_f1", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "f1.json"
    assert bench.main(["--entities", "3", "--seed", "5", "--detectors", "lakewatch_machine", "mahalanobis",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    machine_f1 = report["detectors"]["lakewatch_machine"]
    assert report["rows_scored"] == 3 * (MachineSpec().rows - 1000)
    assert set(machine_f1["per_kind"]) == set(FAULT_KINDS)
    assert machine_f1["overall"]["f1"] > 0.6
    assert machine_f1["overall"]["f1"] > report["detectors"]["mahalanobis"]["overall"]["f1"]
    figures = bench.evaluate(np.array([0.9, 0.1, 0.8, 0.2]), np.array([True, False, False, True]),
                             np.array(["drift", "", "", "stuck"]), 0.5)
    assert figures["overall"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert figures["false_alarm_rate"] == 0.5
    assert figures["per_kind"]["drift"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667}


def test_channels_are_set_through_wrappers_and_refused_for_univariate_detectors() -> None:
    det = get_detector("lakewatch_machine", channels=3)
    assert det.channels == 3 and det.members[0].base.params.channels == 3
    assert get_detector("mahalanobis_likelihood", channels=5).channels == 5
    assert get_detector("lakewatch_nab", channels=1).fingerprint == get_detector("lakewatch_nab").fingerprint
    with pytest.raises(DetectorParamsError, match=r"knn: asked for 4 channels; kind 'knn' is univariate"):
        get_detector("lakewatch_nab", channels=4)
    with pytest.raises(DetectorParamsError, match=r"channels=0; expected a positive integer"):
        get_detector("pca_t2q", channels=0)


def test_the_healthy_start_says_what_it_ignored_and_what_was_constant() -> None:
    det = get_detector("lakewatch_machine")
    x = _healthy(600, seed=8)
    x[:, 1] = np.nan
    x[:, 6] = 2.0
    _, early = det.update(det.new_state(), x[:300], timestamps(300))
    assert [h.describe() for h in healthy_starts(det, early)] == [
        "pca_t2q: healthy start incomplete (300 of 500 rows); rows score 0 until it is",
        "mknn: healthy start incomplete (300 of 500 rows); rows score 0 until it is",
    ]
    _, state = det.update(early, x[300:], timestamps(600)[300:])
    reports = healthy_starts(det, state)
    assert [(h.detector, h.fitted, h.inactive_channels, h.constant_channels) for h in reports] == [
        ("pca_t2q", True, (1,), (6,)), ("mknn", True, (1,), (6,))]
    assert reports[0].describe() == ("pca_t2q: fitted on 500 healthy rows; channel(s) [1] ignored (missing in the "
                                     "healthy start); channel(s) [6] constant while healthy (any change alarms)")
    assert healthy_starts(get_detector("lakewatch_nab"), get_detector("lakewatch_nab").new_state()) == []


def test_healthy_rows_fit_the_whole_healthy_start_into_the_first_rows() -> None:
    """get_detector(..., healthy_rows=n) scales every healthy-start row count of the multichannel chain in its
    configured proportions, so the detector has learnt all it learns by row n; univariate detectors are untouched."""
    from lakewatch.detectors.registry import healthy_start_rows

    configured = healthy_start_rows("lakewatch_machine")
    assert configured == 1000 and healthy_start_rows("lakewatch_nab") is None
    short = get_detector("lakewatch_machine", channels=4, healthy_rows=400)
    for member in short.members:
        assert member.base.params.train_rows == 200 and member.params.freeze_after_rows == 400
        assert member.params.learning_rows == 200 < member.params.warmup_rows <= 400
    nab = get_detector("lakewatch_nab", healthy_rows=400)
    assert nab.fingerprint == get_detector("lakewatch_nab").fingerprint
    with pytest.raises(DetectorParamsError, match="healthy_rows=5"):
        get_detector("lakewatch_machine", channels=4, healthy_rows=5)


def test_a_fault_after_a_short_healthy_start_is_flagged_only_when_the_start_fits_it() -> None:
    """Healthy for 400 rows, then a level shift in two channels that lasts: with the configured 1000-row healthy
    start the fault is learnt as normal; with healthy_rows=400 it is flagged while it lasts."""
    x = _healthy(1600, seed=3, p=4)
    x[400:, :2] += 25.0
    stamps = timestamps(1600)
    long = get_detector("lakewatch_machine", channels=4)
    short = get_detector("lakewatch_machine", channels=4, healthy_rows=400)
    threshold = 0.5
    flagged_long = long.score_series(x, stamps)[400:] >= threshold
    flagged_short = short.score_series(x, stamps)[400:] >= threshold
    assert flagged_short.mean() > 0.9, "the shifted rows are flagged when the healthy start ends before them"
    assert flagged_long.mean() < 0.5, "a 1000-row healthy start takes the shift in as normal"
