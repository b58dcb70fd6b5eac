"""lakewatch.explain: SHAP attributions of flagged points that reproduce the streamed score exactly and add up,
for every univariate registry detector and the multivariate one, with a bounded per-series trail."""

from __future__ import annotations

import numpy as np
import pytest

from lakewatch import explain as ex
from lakewatch.detectors import Detector, available_detectors, get_detector
from lakewatch.detectors.base import DetectorParams
from tests.detectors import make_series, timestamps, values_for

N = 420
SPIKE = 400
UNIVARIATE = [n for n in available_detectors() if n != "default" and not get_detector(n).multivariate]
# Small background and more lags than the channel count allows exactly: keeps the suite fast and covers the
# permutation explainer for the multivariate detector (2 channels x 8 lags = 16 inputs: one player per input,
# not the default lag groups).
FAST = ex.ExplainSettings(background=4, snapshot_every=32, lag_groups=None)


def _stream(detector: Detector, values: np.ndarray, stamps: np.ndarray, flagged: np.ndarray,
            settings: ex.ExplainSettings, sizes: list[int]):
    """Feed the series batch by batch like the stream does (trail through bytes between batches); returns
    {global row: (attribution, streamed score)} and the last trail."""
    state = detector.new_state()
    trail = ex.new_trail(detector, state)
    out = {}
    start = 0
    for size in sizes:
        rows = slice(start, start + size)
        scores, state = detector.update(state, values[rows], stamps[rows])
        attributions, trail = ex.explain_batch(detector, ex.ExplainTrail.from_bytes(trail.to_bytes()),
                                               values[rows], stamps[rows], scores, flagged[rows], settings)
        for a in attributions:
            out[start + a.index] = (a, scores[a.index])
        start += size
    return out, trail


def _sizes(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(min(n - sum(sizes), rng.integers(1, 6))))
    return sizes


@pytest.fixture(autouse=True)
def _clean_counters():
    ex.reset_warning_counts()
    yield
    ex.reset_warning_counts()


@pytest.mark.parametrize("name", [*UNIVARIATE, "mahalanobis"])
def test_attributions_reproduce_the_streamed_score_and_add_up(name: str) -> None:
    detector = get_detector(name)
    values = values_for(detector, N, seed=3, spike_at=SPIKE, shift=False)
    stamps = timestamps(N)
    scores = detector.score_series(values, stamps)
    flagged = np.zeros(N, bool)
    # The spike, the highest-scoring point before it, and one point early in the series.
    flagged[[SPIKE, int(np.argmax(scores[100:SPIKE])) + 100, 70]] = True
    explained, _ = _stream(detector, values, stamps, flagged, FAST, _sizes(N, seed=1))

    assert sorted(explained) == sorted(np.flatnonzero(flagged)), ex.warning_counts()
    for row, (attribution, streamed) in explained.items():
        assert attribution.score == streamed, f"{name} row {row}: g(actual window) differs from the stream"
        assert abs(attribution.total - streamed) <= 1e-6, f"{name} row {row}: base + SHAP values != score"
        names = [n for n, _ in attribution.contributions]
        expected = ex.input_names(8, detector.channels, None)
        assert sorted(names) == sorted(expected)
        magnitudes = [abs(v) for _, v in attribution.contributions]
        assert magnitudes == sorted(magnitudes, reverse=True)
    assert ex.warning_counts() == {}


def test_default_detector_blames_the_spike_with_default_settings() -> None:
    detector = get_detector("lakewatch_nab")
    values = make_series(N, seed=5, spike_at=SPIKE, shift=False)
    stamps = timestamps(N)
    flagged = np.zeros(N, bool)
    flagged[SPIKE] = True
    explained, _ = _stream(detector, values, stamps, flagged, ex.ExplainSettings(), [1] * N)
    attribution, streamed = explained[SPIKE]
    assert attribution.score == streamed > 0.5
    assert attribution.top(1)[0][0] == "value[t]"
    assert attribution.top(1)[0][1] > 0.5 * (streamed - attribution.base_value)
    assert [n for n, _ in attribution.contributions][:1] == ["value[t]"]
    assert sorted(n for n, _ in attribution.contributions) == sorted(
        ex.player_names(ex.ExplainSettings(), 8)) == ["value[t-1]", "value[t-3..t-2]", "value[t-7..t-4]", "value[t]"]


def _group_game_shapley(detector: Detector, state, window: np.ndarray, stamps: np.ndarray, reference: np.ndarray,
                        groups: list[list[int]]) -> np.ndarray:
    """Shapley values of the game over `groups` of window rows by the textbook sum over coalitions, each
    coalition scored on its own (the check for the explainer's batched evaluation and lag groups)."""
    from itertools import combinations
    from math import factorial

    m = len(groups)

    def v(coalition: tuple[int, ...]) -> float:
        z = reference.copy()
        for g in coalition:
            z[groups[g]] = window[groups[g]]
        return float(detector.update(state, z, stamps)[0][-1])

    phi = np.zeros(m)
    for i in range(m):
        others = [j for j in range(m) if j != i]
        for size in range(m):
            weight = factorial(size) * factorial(m - size - 1) / factorial(m)
            for coalition in combinations(others, size):
                phi[i] += weight * (v((*coalition, i)) - v(coalition))
    return phi


@pytest.mark.parametrize("name", ["lakewatch_nab", "ewma", "knn"])
def test_default_lag_groups_are_the_exact_shapley_values_of_the_grouped_game(name: str) -> None:
    """The default players (t, t-1, t-3..t-2, t-7..t-4) get the Shapley values of the game in which each group's
    rows switch together, computed coalition by coalition; a window shorter than 8 rows cuts the last group."""
    detector = get_detector(name)
    values, stamps = make_series(600, seed=12, shift=False), timestamps(600)
    values[595:] += [1.5, -2.0, 3.0, 1.0, 6.0]
    _, before = detector.update(detector.new_state(), values[:592], stamps[:592])
    background = np.stack([values[end - 8:end] for end in range(592, 576, -1)])
    a = ex.explain_points(detector, before, values[592:], stamps[592:], background, ex.ExplainSettings())
    want = _group_game_shapley(detector, before, values[592:], stamps[592:], background.mean(axis=0),
                               [[7], [6], [4, 5], [0, 1, 2, 3]])
    got = dict(a.contributions)
    np.testing.assert_allclose([got[n] for n in ("value[t]", "value[t-1]", "value[t-3..t-2]", "value[t-7..t-4]")],
                               want, atol=1e-12)
    assert abs(a.total - a.score) <= 1e-9 and a.score == detector.update(before, values[592:], stamps[592:])[0][-1]
    _, later = detector.update(before, values[592:595], stamps[592:595])
    short = ex.explain_points(detector, later, values[595:], stamps[595:], background[:, 3:], ex.ExplainSettings())
    assert sorted(n for n, _ in short.contributions) == ["value[t-1]", "value[t-3..t-2]", "value[t-4]", "value[t]"]
    assert sorted(ex.player_names(ex.ExplainSettings(lag_groups=[2, 3]), 10)) == ["value[t-1..t]", "value[t-9..t-2]"]


def test_lag_groups_setting_is_checked() -> None:
    for bad in ([], [1, 0], "1,2", [1.5]):
        with pytest.raises(ex.ExplainError, match="lag_groups"):
            ex.ExplainSettings(lag_groups=bad)
    assert ex.ExplainSettings(lag_groups=[1, 3]).lag_groups == (1, 3)


def test_trail_stays_bounded_and_round_trips() -> None:
    detector = get_detector("lakewatch_nab")
    settings = ex.ExplainSettings()
    values = make_series(1000, seed=2)
    stamps = timestamps(1000)
    sizes = [1] * 400 + [3] * 200
    _, trail = _stream(detector, values, stamps, np.zeros(1000, bool), settings, sizes)
    assert trail.rows < settings.history + settings.snapshot_every + 3
    assert trail.start + trail.rows == 1000
    # The snapshot is the real detector state at trail.start: replaying the trail gives the live state.
    state = detector.state_from_bytes(trail.snapshot)
    _, replayed = detector.update(state, trail.values, trail.timestamps)
    _, live = detector.update(detector.new_state(), values, stamps)
    assert detector.state_to_bytes(replayed) == detector.state_to_bytes(live)
    again = ex.ExplainTrail.from_bytes(trail.to_bytes())
    assert again.to_bytes() == trail.to_bytes()
    np.testing.assert_array_equal(again.values, trail.values)
    np.testing.assert_array_equal(again.timestamps, trail.timestamps)
    assert again.start == trail.start and again.fingerprint == detector.fingerprint


def test_trail_bytes_errors_and_empty() -> None:
    assert ex.ExplainTrail.from_bytes(b"").empty
    assert ex.ExplainTrail.from_bytes(b"").to_bytes() == b""
    with pytest.raises(ex.ExplainError, match="start with"):
        ex.ExplainTrail.from_bytes(b"XXXX" + bytes(20))
    good = ex.new_trail(get_detector("ewma"), get_detector("ewma").new_state()).to_bytes()
    with pytest.raises(ex.ExplainError, match=r"malformed or truncated|unexpected"):
        ex.ExplainTrail.from_bytes(good[:-3])


def test_short_history_explains_what_exists() -> None:
    detector = get_detector("ewma")
    values = np.array([1.0, 1.1, 9.0])
    stamps = timestamps(3)
    scores, _ = detector.update(detector.new_state(), values, stamps)
    trail = ex.new_trail(detector, detector.new_state())
    attributions, trail = ex.explain_batch(detector, trail, values, stamps, scores, [False, False, True], FAST)
    (a,) = attributions
    assert a.index == 2 and a.score == scores[2]
    assert sorted(n for n, _ in a.contributions) == ["value[t-1]", "value[t-2]", "value[t]"]
    assert abs(a.total - a.score) <= 1e-6
    assert trail.rows == 3


def test_non_finite_rows_are_not_inputs() -> None:
    detector = get_detector("robust_zscore")
    values = make_series(200, seed=4, shift=False)
    values[195] = np.nan
    values[199] += 30.0
    stamps = timestamps(200)
    flagged = np.zeros(200, bool)
    flagged[[195, 199]] = True
    explained, _ = _stream(detector, values, stamps, flagged, FAST, [190, 10])
    nan_point, streamed = explained[195]
    assert streamed == 0.0 and nan_point.score == 0.0 and nan_point.base_value == 0.0
    assert "value[t]" not in dict(nan_point.contributions)
    spike, streamed = explained[199]
    assert spike.score == streamed
    assert "value[t-4]" not in dict(spike.contributions)  # row 195, the NaN
    assert len(spike.contributions) == 7 and abs(spike.total - streamed) <= 1e-6


def test_explain_points_is_usable_from_batch_code() -> None:
    detector = get_detector("mahalanobis")
    values = make_series(300, seed=6, channels=2, shift=False)
    values[299] += [5.0, -5.0]
    stamps = timestamps(300)
    scores = detector.score_series(values, stamps)
    _, before = detector.update(detector.new_state(), values[:296], stamps[:296])
    background = np.stack([values[end - 4:end] for end in range(296, 286, -1)])
    a = ex.explain_points(detector, before, values[296:], stamps[296:], background,
                          ex.ExplainSettings(lags=4, lag_groups=None), index=7, channel_names=["pressure", "flow"])
    assert a.index == 7 and a.score == scores[299]
    assert sorted(n for n, _ in a.contributions) == sorted(
        f"{c}[{lag}]" for c in ("pressure", "flow") for lag in ("t", "t-1", "t-2", "t-3"))
    assert abs(a.total - a.score) <= 1e-6
    with pytest.raises(ex.ExplainError, match="window has 5 rows"):
        ex.explain_points(detector, before, values[295:], stamps[295:], None, ex.ExplainSettings(lags=4))


class _FailsOnLength(Detector):
    """A test detector (constant score 0.9) that raises when it is fed exactly ``fail_len`` rows at once."""

    kind = "fails_on_length"
    params_type = DetectorParams

    def __init__(self, fail_len: int) -> None:
        super().__init__(name="fails_on_length")
        self.fail_len = fail_len

    def _init_arrays(self):
        return {"last": np.zeros(1)}

    def _score(self, arrays, x, ts):
        if len(x) == self.fail_len:
            raise RuntimeError("boom")
        arrays["last"][0] = x[-1]
        return np.full(len(x), 0.9)


def test_failures_never_raise_and_are_counted() -> None:
    settings = ex.ExplainSettings(lags=3, background=4)
    values, stamps = np.arange(20.0), timestamps(20)
    flagged = np.zeros(20, bool)
    flagged[[15, 16]] = True
    # SHAP's evaluations (3-row windows) fail: both points are left out, the trail moves on.
    detector = _FailsOnLength(3)
    scores, _ = detector.update(detector.new_state(), values, stamps)
    attributions, trail = ex.explain_batch(detector, ex.new_trail(detector, detector.new_state()), values, stamps,
                                           scores, flagged, settings)
    assert attributions == [] and ex.warning_counts() == {"not_explained": 2}
    assert trail.rows == 20
    # Replaying the trail fails (13 rows up to the first window): nothing explained, the trail is dropped.
    ex.reset_warning_counts()
    detector = _FailsOnLength(13)
    attributions, trail = ex.explain_batch(detector, ex.new_trail(detector, detector.new_state()), values, stamps,
                                           scores, flagged, settings)
    assert attributions == [] and trail.empty and ex.warning_counts() == {"trail_error": 2}

    # A trail that does not match the streamed scores is dropped (the caller starts a new one).
    ex.reset_warning_counts()
    ewma = get_detector("ewma")
    series = make_series(120, seed=1)
    s_all = ewma.score_series(series, timestamps(120))
    wrong = ex.new_trail(ewma, ewma.new_state())  # but the batch is rows 100..119, not rows 0..19
    flags = np.zeros(20, bool)
    flags[10] = True
    out, trail = ex.explain_batch(ewma, wrong, series[100:], timestamps(120)[100:], s_all[100:], flags, FAST)
    assert s_all[110] != ewma.score_series(series[100:], timestamps(120)[100:])[10]
    assert out == [] and trail.empty and ex.warning_counts() == {"score_mismatch": 1}

    # A trail of another detector, or none: nothing explained, counted, an empty trail back.
    ex.reset_warning_counts()
    out, trail = ex.explain_batch(ewma, ex.ExplainTrail.from_bytes(b""), series[:5], timestamps(5), s_all[:5],
                                  [True] * 5, FAST)
    assert out == [] and trail.empty and ex.warning_counts() == {"no_trail": 5}


def test_every_flagged_point_is_explained_without_a_cap() -> None:
    detector = get_detector("ewma")
    values, stamps = make_series(100, seed=1), timestamps(100)
    scores = detector.score_series(values, stamps)
    out, _ = ex.explain_batch(detector, ex.new_trail(detector, detector.new_state()), values, stamps, scores,
                              np.ones(100, bool), ex.ExplainSettings(background=2))
    assert [a.index for a in out] == list(range(100))
    assert all(abs(a.total - a.score) <= 1e-9 for a in out)
    assert ex.warning_counts() == {}


def test_last_scores_equal_update_for_every_window() -> None:
    detector = get_detector("lakewatch_nab")
    values, stamps = make_series(700, seed=8), timestamps(700)
    _, state = detector.update(detector.new_state(), values[:692], stamps[:692])
    rng = np.random.default_rng(2)
    windows = values[692:] + rng.normal(0, 2.0, (40, 8))
    windows[3, 2] = np.nan  # a skipped row inside the window
    windows[4, -1] = np.inf  # a skipped last row: score 0
    got = detector.last_scores(state, windows, stamps[692:])
    want = np.array([detector.update(state, w, stamps[692:])[0][-1] for w in windows])
    np.testing.assert_array_equal(got, want)
    assert got[4] == 0.0 and (got > 0).any()
    after = detector.update(state, values[692:], stamps[692:])[1]
    assert detector.state_to_bytes(after) == detector.state_to_bytes(
        detector.update(state, values[692:], stamps[692:])[1]), "last_scores left the state untouched"


@pytest.mark.parametrize("name", [n for n in available_detectors() if n != "default"])
def test_last_scores_equal_update_for_every_detector(name: str) -> None:
    """The batched evaluation explanations use is the loop, exactly, for every registry detector (the
    multichannel ones hold their flags, the NAB ones suppress repeats)."""
    detector = get_detector(name)
    values = values_for(detector, 700, seed=8, spike_at=640, shift=False)
    stamps = timestamps(700)
    _, state = detector.update(detector.new_state(), values[:692], stamps[:692])
    rng = np.random.default_rng(4)
    windows = values[692:] + rng.normal(0, 2.0, (12, *values[692:].shape))
    windows[0] = values[692:] + 25.0  # far out: drives the flagging policy
    got = detector.last_scores(state, windows, stamps[692:])
    want = np.array([detector.update(state, w, stamps[692:])[0][-1] for w in windows])
    np.testing.assert_array_equal(got, want)


def test_exact_values_match_the_shap_package_with_the_reference_as_background() -> None:
    """Baseline Shapley from one reference is what shap's Exact explainer computes with that single row as its
    background (inputs chosen far from the reference, so shap's np.isclose shortcut does not apply)."""
    import shap

    detector = get_detector("robust_zscore")
    values, stamps = make_series(300, seed=9, shift=False), timestamps(300)
    values[299] += 12.0
    _, before = detector.update(detector.new_state(), values[:292], stamps[:292])
    background = np.stack([values[end - 8:end] for end in range(292, 276, -1)])
    a = ex.explain_points(detector, before, values[292:], stamps[292:], background,
                          ex.ExplainSettings(lag_groups=None))
    reference = background.mean(axis=0)

    def g(rows: np.ndarray) -> np.ndarray:
        return detector.last_scores(before, np.atleast_2d(rows), stamps[292:])

    theirs = shap.explainers.Exact(g, shap.maskers.Independent(reference[None, :], max_samples=1))(
        values[292:][None, :], silent=True)
    names = ex.input_names(8)
    mine = dict(a.contributions)
    np.testing.assert_allclose([mine[n] for n in names], theirs.values[0], atol=1e-12)
    assert abs(a.base_value - float(np.ravel(theirs.base_values)[0])) <= 1e-12
    assert a.top(1)[0][0] == "value[t]"


def _many_series(count: int, n: int, seed: int) -> list[np.ndarray]:
    """Series of several shapes: seasonal with noise and spikes, a level near 1000 quantised to 0.01 (inputs
    within 1e-5 of the reference: what made shap reuse outputs and break additivity), and a noisy random walk."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        t = np.arange(n)
        if i % 3 == 0:
            x = 10 + 3 * np.sin(2 * np.pi * t / 96) + rng.normal(0, 0.5, n)
        elif i % 3 == 1:
            x = np.round(1000 + 0.02 * np.sin(2 * np.pi * t / 50) + rng.normal(0, 0.01, n), 2)
        else:
            x = np.cumsum(rng.normal(0, 1, n))
        spikes = rng.choice(np.arange(50, n), size=n // 40, replace=False)
        x[spikes] += rng.choice([-1, 1], len(spikes)) * rng.uniform(3, 30, len(spikes)) * (np.std(x) + 0.01)
        x[rng.choice(n, 2, replace=False)] = np.nan
        out.append(x)
    return out


@pytest.mark.parametrize(("name", "series", "every"), [("lakewatch_nab", 6, 8), ("robust_zscore", 5, 4)])
def test_additivity_and_the_streamed_score_hold_for_thousands_of_flagged_points(name: str, series: int,
                                                                               every: int) -> None:
    """Every flagged point of several series fed in random batch sizes (the detector's own flags plus every
    ``every``-th point, to reach thousands) is explained, reproduces the streamed score exactly and adds up."""
    detector = get_detector(name)
    threshold = 0.5
    n = 900
    total = 0
    for k, values in enumerate(_many_series(series, n, seed=11)):
        stamps = timestamps(n)
        scores = detector.score_series(values, stamps)
        flagged = scores >= threshold
        flagged[::every] = True
        explained, _ = _stream(detector, values, stamps, flagged, ex.ExplainSettings(),
                               _sizes(n, seed=k) if k % 2 else [n // 3] * 3)
        assert sorted(explained) == list(np.flatnonzero(flagged)), (k, ex.warning_counts())
        for row, (attribution, streamed) in explained.items():
            assert attribution.score == streamed, (k, row)
            assert abs(attribution.total - streamed) <= 1e-9, (k, row, attribution)
        total += len(explained)
    assert total >= (650 if name == "lakewatch_nab" else 1100)
    assert ex.warning_counts() == {}


def test_disabled_explains_nothing_but_keeps_the_trail() -> None:
    detector = get_detector("ewma")
    values, stamps = make_series(10, seed=1), timestamps(10)
    scores = detector.score_series(values, stamps)
    out, trail = ex.explain_batch(detector, ex.new_trail(detector, detector.new_state()), values, stamps, scores,
                                  np.ones(10, bool), ex.ExplainSettings(enabled=False))
    assert out == [] and trail.rows == 10


@pytest.mark.parametrize("bad", [{"lags": 0}, {"background": -1}, {"enabled": "yes"}, {"top_k": 1.5}])
def test_settings_are_validated(bad: dict) -> None:
    with pytest.raises(ex.ExplainError, match=next(iter(bad))):
        ex.ExplainSettings(**bad)


def test_machine_explanations_add_up_and_name_the_faulted_sensor() -> None:
    """A generated 8-sensor machine scored by lakewatch_machine (hold flagging: most of a fault's rows are flagged)
    and explained by sensor (``by_channel``, exact over 2**8 coalitions) in random micro-batches: every flagged row
    is explained, reproduces the streamed score and adds up; in a single-sensor fault the faulted sensor comes
    first. The coalition windows of the fitted machine detector are scored in one batch (vectorised kernels),
    which must equal scoring each window on its own, stuck channels (the PCA's repeat runs) included."""
    from lakewatch.sources.machines import MachineSpec, generate_machine

    spec = MachineSpec(fault_rows=(120, 160), gap_rows=(150, 200))
    machine = generate_machine(0, 1, spec)
    detector = get_detector("lakewatch_machine", channels=8)
    n = machine.segments[3].end + 20  # four faults: correlation_break, stuck, level_shift_pair, drift
    values, stamps = machine.values[:n], machine.timestamps[:n]
    names = [f"s{j}" for j in range(8)]
    scores = detector.score_series(values, stamps)
    flagged = scores >= 0.5
    state, start, explained = detector.new_state(), 0, {}
    trail = ex.new_trail(detector, state)
    for size in np.random.default_rng(5).integers(20, 400, 60):
        rows = slice(start, min(start + int(size), n))
        batch_scores, state = detector.update(state, values[rows], stamps[rows])
        attributions, trail = ex.explain_batch(detector, ex.ExplainTrail.from_bytes(trail.to_bytes()), values[rows],
                                               stamps[rows], batch_scores, flagged[rows],
                                               ex.ExplainSettings(by_channel=True), channel_names=names)
        explained.update({start + a.index: a for a in attributions})
        start = rows.stop
        if start >= n:
            break
    assert sorted(explained) == list(np.flatnonzero(flagged)) and len(explained) >= 300, ex.warning_counts()
    for row, a in explained.items():
        assert a.score == scores[row], row
        assert abs(a.total - a.score) <= 1e-9, (row, a)
        assert sorted(name for name, _ in a.contributions) == names
    # clear single-sensor faults: a stuck sensor while its run is young, a drift once it has grown
    kinds = {segment.kind: segment for segment in machine.segments[:4]}
    for kind, first_row, last_row in (("stuck", kinds["stuck"].start + 8, kinds["stuck"].start + 68),
                                      ("drift", (kinds["drift"].start + kinds["drift"].end) // 2, kinds["drift"].end)):
        rows = [r for r in range(first_row, last_row) if r in explained]
        first = [explained[r].top(1)[0][0] for r in rows]
        faulted = names[kinds[kind].channels[0]]
        assert len(rows) >= 40 and first.count(faulted) >= 0.9 * len(rows), (kind, faulted, first)
    # the batch of coalition windows equals the loop, from a fitted state, with a stuck channel in some windows
    _, fitted = detector.update(detector.new_state(), values[:1200], stamps[:1200])
    rng = np.random.default_rng(6)
    windows = values[1200:1208] + rng.normal(0, 1.0, (64, 8, 8)) * rng.integers(0, 2, (64, 1, 8))
    windows[:8, :, 3] = values[1199, 3]
    want = np.array([detector.update(fitted, w, stamps[1200:1208])[0][-1] for w in windows])
    np.testing.assert_array_equal(detector.last_scores(fitted, windows, stamps[1200:1208]), want)


def test_the_stream_explainer_scores_and_explains_without_replays_and_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Explainer.score feeds a batch in updates split where the trail's snapshot moves and every STATE_EVERY rows,
    and explains from the states it met on the way: the same scores as one update, the same attributions and trail
    as explain_batch replaying from the snapshot, (counted) no detector rows fed beyond the batch's own for a batch
    without flags, and short replays for a late flag."""
    from lakewatch.streaming.explaining import STATE_EVERY, Explainer

    detector = get_detector("lakewatch_nab")
    values, stamps = make_series(1500, seed=13, spike_at=1200, shift=False), timestamps(1500)
    settings = ex.ExplainSettings()
    explainer = Explainer(settings)
    state, trail = detector.new_state(), b""
    reference_state, reference_trail = detector.new_state(), ex.new_trail(detector, detector.new_state())
    for rows in (slice(0, 700), slice(700, 740), slice(740, 1500)):
        scores, state, explained, trail = explainer.score(detector, trail, state, values[rows], stamps[rows], 0.5)
        want, reference_state = detector.update(reference_state, values[rows], stamps[rows])
        np.testing.assert_array_equal(scores, want)
        attributions, reference_trail = ex.explain_batch(detector, reference_trail, values[rows], stamps[rows], want,
                                                         want >= 0.5, settings)
        assert explained == {a.index: (a.base_value, a.top(settings.top_k)) for a in attributions}
        assert trail == reference_trail.to_bytes()
    assert detector.state_to_bytes(state) == detector.state_to_bytes(reference_state)
    assert any(scores >= 0.5) and explained, "the spike is flagged and explained"

    fed = []
    original = type(detector).update

    def counting(self, s, x, ts):
        fed.append(len(x))
        return original(self, s, x, ts)

    monkeypatch.setattr(type(detector), "update", counting)
    explainer.score(detector, trail, state, make_series(600, seed=14, shift=False), timestamps(600), 2.0)
    assert sum(fed) == 600, f"rows fed to the detector: {fed}"
    # a flagged point late in a long batch replays from the state kept at most STATE_EVERY rows before its window,
    # not from the batch's start (its coalition windows aside: prefix updates of at most `lags` rows)
    fed.clear()
    spiked = make_series(1500, seed=13, spike_at=1400, shift=False)
    _, _, explained, _ = explainer.score(detector, trail, state, spiked, timestamps(1500) + (stamps[-1] - stamps[0])
                                         + (stamps[1] - stamps[0]), 0.5)
    assert explained and max(explained) > 1000, explained
    scoring = int(np.searchsorted(np.cumsum(fed), 1500)) + 1  # the batch's own updates come first
    replayed = [n for n in fed[scoring:] if n > settings.lags]
    assert sum(fed[:scoring]) == 1500 and replayed, fed
    assert STATE_EVERY <= 256 and all(n < STATE_EVERY for n in replayed), fed


@pytest.mark.parametrize("rows", [100, 192, 256, 1000])
def test_the_stream_explainer_agrees_with_the_replaying_path_at_any_batch_length(rows: int) -> None:
    """Batches shorter than STATE_EVERY, with the snapshot cut on a multiple of it (192 - history = 128 with the
    defaults) or not, on an exact multiple: the kept states change no score, attribution, trail or state."""
    from lakewatch.streaming.explaining import Explainer

    detector = get_detector("lakewatch_nab")
    settings = ex.ExplainSettings()
    n = 600 + rows
    values, stamps = make_series(n, seed=21, spike_at=600 + rows // 2, shift=False), timestamps(n)
    _, warm = detector.update(detector.new_state(), values[:600], stamps[:600])
    scores, after, explained, trail = Explainer(settings).score(detector, b"", warm, values[600:], stamps[600:], 0.3)
    want, reference_state = detector.update(warm, values[600:], stamps[600:])
    attributions, reference_trail = ex.explain_batch(detector, ex.new_trail(detector, warm), values[600:],
                                                     stamps[600:], want, want >= 0.3, settings)
    np.testing.assert_array_equal(scores, want)
    assert explained == {a.index: (a.base_value, a.top(settings.top_k)) for a in attributions} and explained
    assert trail == reference_trail.to_bytes()
    assert detector.state_to_bytes(after) == detector.state_to_bytes(reference_state)
