"""Overhead of lakewatch.explain on the default detector: trail bytes and time per micro-batch update, and the
cost per explained point, today's method against the one it replaced, in one run.

The points: a series with spikes fed in micro-batches as the stream does; every point the default detector flags
(its threshold) plus every 25th point is explained. "after" is explain_points with the default settings (exact
baseline Shapley over the default lag groups t, t-1, t-3..t-2, t-7..t-4: 16 coalitions as one batch of windows);
"per lag" the same with one player per lag (lag_groups: null, 256 coalitions: the default until session 23).
"before" is the method session 19 replaced, rebuilt here from the same replayed state and background windows:
shap.explainers.Exact over the 16 background windows (2**8 x 16 detector.update calls per point). They are timed
on the same (or alternating) points so that the machine's load is shared.
Run: .venv/bin/python bench/explain_bench.py [--points N] [--before N]

``--machines``: the same for machines (multichannel entities as the stream scores them: lakewatch_machine on a
generated 8-sensor machine, explained by sensor, exact over 2**8 coalitions), every flagged row of its faults.
"after" is explain_batch as the stream calls it; "before" scores each of the 256 coalition windows from its own
copy of the replayed state (the detector's ``_score`` window by window: what the multichannel detectors did
before session 22), timed on alternating points."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from lakewatch import explain as ex
from lakewatch.detectors import default_detector_name, get_detector

N_WARM, N = 3000, 3000


def series(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 10 + 3 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.3, n)
    return x, 1_700_000_000_000_000_000 + t.astype(np.int64) * 300_000_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=200, help="flagged points explained the new way")
    parser.add_argument("--before", type=int, default=12, help="of them, how many also the previous way")
    parser.add_argument("--skip-trail", action="store_true", help="only the per-point cost")
    parser.add_argument("--machines", action="store_true", help="machines (lakewatch_machine, by sensor) instead")
    parser.add_argument("--lags", type=int, default=8, help="with --machines: the window length")
    args = parser.parse_args()
    if args.machines:
        machines(args.points, args.before, args.lags)
        return
    d = get_detector(default_detector_name())
    settings = ex.ExplainSettings()
    x, ts = series(N_WARM + N)
    state = d.new_state()
    _, state = d.update(state, x[:N_WARM], ts[:N_WARM])
    print(f"detector {d.name}: state {len(d.state_to_bytes(state)):,} bytes serialised")
    for batch in () if args.skip_trail else (1, 4, 32):
        s = state
        trail_bytes = ex.new_trail(d, s).to_bytes()
        det_t = trail_t = 0.0
        sizes = []
        no_flags = np.zeros(batch, bool)
        for i in range(N_WARM, N_WARM + N, batch):
            xs, tss = x[i:i + batch], ts[i:i + batch]
            t0 = time.perf_counter()
            s = d.state_from_bytes(d.state_to_bytes(s))  # what the stream pays already, for comparison
            scores, s = d.update(s, xs, tss)
            state_bytes = d.state_to_bytes(s)
            t1 = time.perf_counter()
            trail = ex.ExplainTrail.from_bytes(trail_bytes)
            _, trail = ex.explain_batch(d, trail, xs, tss, scores, no_flags[:len(xs)], settings)
            trail_bytes = trail.to_bytes()
            t2 = time.perf_counter()
            det_t += t1 - t0
            trail_t += t2 - t1
            sizes.append(len(trail_bytes))
        batches = len(sizes)
        print(f"batch {batch:>2} rows: trail {np.mean(sizes):,.0f} bytes mean / {max(sizes):,} max "
              f"(state {len(state_bytes):,}); per batch: trail {trail_t / batches * 1e6:,.0f} us vs detector "
              f"state round trip + update {det_t / batches * 1e6:,.0f} us ({trail_t / det_t:.0%})")
    per_point(d, settings, args.points, args.before)


def shap_before(detector, state, window, stamps, background):
    """The previous method: shap's Exact explainer over the background windows, g replaying update per row."""
    import shap

    def g(batch):
        batch = np.atleast_2d(batch)
        return np.array([detector.update(state, row, stamps)[0][-1] for row in batch])

    masker = shap.maskers.Independent(background, max_samples=len(background))
    e = shap.explainers.Exact(g, masker)(window[None, :], silent=True)
    return float(np.ravel(e.base_values)[0]), np.asarray(e.values).reshape(-1)


def per_point(d, settings: ex.ExplainSettings, points: int, before: int) -> None:
    """ms per explained point, after and before, on alternating flagged points of one series."""
    n = 6000
    x, ts = series(n, seed=1)
    rng = np.random.default_rng(1)
    spikes = rng.choice(np.arange(1000, n), 80, replace=False)
    x[spikes] += rng.choice([-1, 1], 80) * rng.uniform(2, 8, 80)
    scores = d.score_series(x, ts)
    flagged = scores >= 0.5034722222222222
    flagged[1000::25] = True
    flagged[:1000] = False
    rows = np.flatnonzero(flagged)[:points]
    _, s0 = d.update(d.new_state(), x[:900], ts[:900])
    state, done = s0, 900
    after_t, before_t, after_n, before_n, worst_after, worst_before = 0.0, 0.0, 0, 0, 0.0, 0.0
    warm = (d, s0, x[900:908], ts[900:908])
    ex.explain_points(*warm, None, settings)  # warm-up (and shap's import, outside the timings)
    shap_before(*warm, ex._background(x, np.zeros(n, bool), 900, settings.lags, settings.background))
    cpu_after = cpu_before = 0.0
    per_lag = replace(settings, lag_groups=None)  # one player per lag: the default until session 23
    lag_t = cpu_lag = 0.0
    for k, t in enumerate(rows):
        first = t - settings.lags + 1
        if first < done:  # a window reaching back before the state: replay from the start (not timed)
            state, done = s0, 900
        _, state = d.update(state, x[done:first], ts[done:first])
        done = first
        window, stamps = x[first:t + 1], ts[first:t + 1]
        background = ex._background(x, flagged, t, settings.lags, settings.background)
        t0, c0 = time.perf_counter(), time.process_time()
        a = ex.explain_points(d, state, window, stamps, background, settings)
        after_t += time.perf_counter() - t0
        cpu_after += time.process_time() - c0
        after_n += 1
        assert a.score == scores[t], f"row {t}: replayed score {a.score} != {scores[t]}"
        worst_after = max(worst_after, abs(a.total - scores[t]))
        t0, c0 = time.perf_counter(), time.process_time()
        lagged = ex.explain_points(d, state, window, stamps, background, per_lag)
        lag_t += time.perf_counter() - t0
        cpu_lag += time.process_time() - c0
        worst_after = max(worst_after, abs(lagged.total - scores[t]))
        if k % max(1, len(rows) // before) == 0 and before_n < before:
            t0, c0 = time.perf_counter(), time.process_time()
            base, values = shap_before(d, state, window, stamps, background)
            before_t += time.perf_counter() - t0
            cpu_before += time.process_time() - c0
            before_n += 1
            worst_before = max(worst_before, abs(base + values.sum() - scores[t]))
    ms_after, ms_before = after_t / after_n * 1e3, before_t / max(before_n, 1) * 1e3
    cpu_a, cpu_b = cpu_after / after_n * 1e3, cpu_before / max(before_n, 1) * 1e3
    ms_lag, cpu_l = lag_t / after_n * 1e3, cpu_lag / after_n * 1e3
    print(f"per explained point ({d.name}, default settings), wall (CPU) ms:\n"
          f"  after  {ms_after:7.1f} ({cpu_a:7.1f}) over {after_n} points, max |base + sum - score| {worst_after:.1e}\n"
          f"  per lag{ms_lag:7.1f} ({cpu_l:7.1f}) the same points, one player per lag (lag_groups: null)\n"
          f"  before {ms_before:7.1f} ({cpu_b:7.1f}) over {before_n} points, max |base + sum - score| "
          f"{worst_before:.1e}\n  before / after: {ms_before / ms_after:.1f}x wall, {cpu_b / cpu_a:.1f}x CPU")


def machines(points: int, before: int, lags: int = 8) -> None:
    """ms per explained machine row (wall and CPU), after and before, on alternating flagged rows of generated
    machines, and the scoring cost per row without explanations for comparison."""
    from lakewatch.detectors.base import Detector
    from lakewatch.sources.machines import generate_machine

    d = get_detector("lakewatch_machine", channels=8)
    settings = ex.ExplainSettings(by_channel=True, lags=lags)
    names = [f"s{j}" for j in range(8)]
    after_t = after_c = before_t = before_c = score_t = score_c = 0.0
    after_n = before_n = rows_scored = 0
    worst_after = worst_before = worst_diff = 0.0
    for index in range(3):
        m = generate_machine(0, index)
        t0, c0 = time.perf_counter(), time.process_time()
        scores = d.score_series(m.values, m.timestamps)
        score_t += time.perf_counter() - t0
        score_c += time.process_time() - c0
        rows_scored += len(scores)
        flagged = np.flatnonzero(scores >= 0.5)
        state, done = d.new_state(), 0
        for k, t in enumerate(flagged):
            if after_n >= points:
                break
            first = t - settings.lags + 1
            _, state = d.update(state, m.values[done:first], m.timestamps[done:first])
            done = first
            window, stamps = m.values[first:t + 1], m.timestamps[first:t + 1]
            background = ex._background(m.values, scores >= 0.5, t, settings.lags, settings.background)
            t0, c0 = time.perf_counter(), time.process_time()
            a = ex.explain_points(d, state, window, stamps, background, settings, channel_names=names)
            after_t += time.perf_counter() - t0
            after_c += time.process_time() - c0
            after_n += 1
            assert a.score == scores[t], f"row {t}: replayed score {a.score} != {scores[t]}"
            worst_after = max(worst_after, abs(a.total - scores[t]))
            if k % 4 == 0 and before_n < before:
                t0, c0 = time.perf_counter(), time.process_time()
                old = _machine_before(d, Detector._score_windows, state, window, stamps, background, settings)
                before_t += time.perf_counter() - t0
                before_c += time.process_time() - c0
                before_n += 1
                worst_before = max(worst_before, abs(old[1] + old[0].sum() - scores[t]))
                mine = dict(a.contributions)
                worst_diff = max(worst_diff, max(abs(mine[n] - v) for n, v in zip(names, old[0], strict=True)))
    ms = lambda total, n: total / max(n, 1) * 1e3  # noqa: E731
    print(f"machines ({d.name}, by sensor, 2**8 coalitions of {lags}-row windows), per explained row, wall (CPU) ms:\n"
          f"  after  {ms(after_t, after_n):7.2f} ({ms(after_c, after_n):7.2f}) over {after_n} rows, "
          f"max |base + sum - score| {worst_after:.1e}\n"
          f"  before {ms(before_t, before_n):7.2f} ({ms(before_c, before_n):7.2f}) over {before_n} rows, "
          f"max |base + sum - score| {worst_before:.1e}; max |after - before| per value {worst_diff:.1e}\n"
          f"  before / after: {before_t / before_n / (after_t / after_n):.1f}x wall, "
          f"{before_c / before_n / (after_c / after_n):.1f}x CPU\n"
          f"  scoring without explanations: {score_t / rows_scored * 1e3:.3f} ms ({score_c / rows_scored * 1e3:.3f}) "
          f"per row over {rows_scored} rows")


def _machine_before(d, score_windows, state, window, stamps, background, settings):
    """The explanation with each coalition window scored from its own copy of the state (the loop the
    multichannel detectors ran before their batched window hooks): (values, base)."""
    channels = window.shape[1]
    reference = ex._reference(window, background, np.arange(window.size), settings.background).reshape(window.shape)
    bits = ((np.arange(1 << channels)[:, None] >> np.arange(channels)[None, :]) & 1).astype(bool)
    windows = np.where(bits[:, None, :], window[None], reference[None])
    v = np.clip(score_windows(d, state.arrays, np.ascontiguousarray(windows), stamps)[:, -1], 0.0, 1.0)
    return ex._exact_shapley(v, channels), float(v[0])


if __name__ == "__main__":
    main()
