"""Overhead of lakewatch.explain on the default detector: trail bytes and time per micro-batch update, and the
time of one SHAP explanation. Run: .venv/bin/python bench/explain_bench.py"""

from __future__ import annotations

import time

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
    d = get_detector(default_detector_name())
    settings = ex.ExplainSettings()
    x, ts = series(N_WARM + N)
    state = d.new_state()
    _, state = d.update(state, x[:N_WARM], ts[:N_WARM])
    print(f"detector {d.name}: state {len(d.state_to_bytes(state)):,} bytes serialised")
    for batch in (1, 4, 32):
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
    # One explanation of a flagged point (exact SHAP, 8 lags): a spike where no alarm in the 100 rows before it
    # suppresses it.
    base = d.score_series(x, ts)
    end = next(p for p in range(1000, len(x)) if base[p - 100:p].max() < 0.5)
    _, s = d.update(d.new_state(), x[:end - 63], ts[:end - 63])
    trail = ex.new_trail(d, s)
    xs, tss = x[end - 63:end + 1].copy(), ts[end - 63:end + 1]
    xs[-1] += 15
    scores, _ = d.update(s, xs, tss)
    flags = np.zeros(64, bool)
    flags[-1] = True
    ex.explain_batch(d, trail, xs, tss, scores, flags, settings)  # warm-up (imports, JIT)
    for bg in (16, 4):
        t0 = time.perf_counter()
        out, _ = ex.explain_batch(d, trail, xs, tss, scores, flags,
                                  ex.ExplainSettings(background=bg))
        took = time.perf_counter() - t0
        a = out[0]
        print(f"explain one flagged point (background {bg}): {took:.2f} s; score {a.score:.4f} base "
              f"{a.base_value:.4f} top {a.top(2)}")


if __name__ == "__main__":
    main()
