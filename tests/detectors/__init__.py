"""Tests of lakewatch.detectors; shared series builders and helpers live here."""

from __future__ import annotations

import numpy as np

from lakewatch.detectors import Detector, DetectorState

NS_PER_MIN = 60_000_000_000
START_NS = 1_400_000_000 * 1_000_000_000


def timestamps(n: int, start: int = START_NS) -> np.ndarray:
    """``n`` five-minute timestamps in epoch nanoseconds."""
    return start + np.arange(n, dtype=np.int64) * 5 * NS_PER_MIN


def make_series(
    n: int = 1200, seed: int = 0, spike_at: int | None = None, channels: int = 1, shift: bool = True
) -> np.ndarray:
    """A daily-seasonal noisy series with a level shift at 70% of its length (unless ``shift`` is false) and an
    optional spike.

    Shape ``(n,)`` for one channel, ``(n, channels)`` otherwise (channels correlated, each with its noise).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 10.0 + 3.0 * np.sin(2 * np.pi * t / 96.0)
    if shift:
        base[int(0.7 * n) :] += 4.0
    cols = []
    for c in range(channels):
        col = base * (1.0 + 0.2 * c) + rng.normal(0.0, 0.5, n)
        if spike_at is not None:
            col[spike_at] += 40.0 * (1 + c)
        cols.append(col)
    x = np.stack(cols, axis=1)
    return x[:, 0] if channels == 1 else x


def values_for(
    detector: Detector, n: int = 1200, seed: int = 0, spike_at: int | None = None, shift: bool = True
) -> np.ndarray:
    """A test series shaped for ``detector`` (univariate, or with its channel count)."""
    return make_series(n, seed, spike_at, channels=detector.channels if detector.multivariate else 1, shift=shift)


def run_in_batches(
    detector: Detector, values: np.ndarray, stamps: np.ndarray, sizes: list[int], round_trip: bool = True
) -> tuple[np.ndarray, DetectorState]:
    """Score ``values`` in consecutive batches of the given sizes, optionally passing the state through bytes
    between batches; returns the concatenated scores and the final state."""
    state = detector.new_state()
    out = []
    start = 0
    for size in sizes:
        scores, state = detector.update(state, values[start : start + size], stamps[start : start + size])
        out.append(scores)
        if round_trip:
            state = detector.state_from_bytes(detector.state_to_bytes(state))
        start += size
    assert start == len(values), "batch sizes must cover the series"
    return np.concatenate(out), state


def random_sizes(n: int, seed: int, singles: int = 80, largest: int = 60) -> list[int]:
    """Batch sizes covering ``n`` rows: ``singles`` batches of one row, then random sizes up to ``largest``."""
    rng = np.random.default_rng(seed)
    sizes = [1] * min(singles, n)
    left = n - len(sizes)
    while left > 0:
        size = int(min(left, rng.integers(1, largest + 1)))
        sizes.append(size)
        left -= size
    return sizes
