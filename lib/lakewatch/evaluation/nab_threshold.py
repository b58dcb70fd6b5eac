"""NAB's per-row weights and the vectorised threshold sweep, on plain arrays (no files, no frames).

Every row of a file gets a *unit* weight, its NAB sweep score divided by the profile weight that
applies to it: inside a window S(y)/S(-1), which scales ``tp_weight``; outside S(y) or -1, which scales
``fp_weight``. Only the weights depend on the profile, so a corpus is sorted and grouped once
(:func:`pool_rows`) and each profile's sweep (:func:`sweep`) is then a few vector operations.

The sweep reproduces NAB v1.1's optimiser (``nab/optimizer.py`` driving ``nab/sweeper.py``): pool the
scored rows of every file, visit them by descending anomaly score and record the corpus score at each
distinct score value, after a first threshold of 1.1 that detects nothing. The best threshold has the
highest score, the highest threshold winning a tie. Sorts and cumulative sums replace NAB's row loop.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: NAB's first threshold: above every valid anomaly score, so nothing is detected there.
NO_DETECTION_THRESHOLD = 1.1
PROBATION_FRACTION = 0.15
PROBATION_CAP_ROWS = 5000
#: Position given to rows after a one-row window, where NAB's own formula divides by zero.
ONE_ROW_WINDOW_POSITION = 2.0


def scaled_sigmoid(position: np.ndarray | float) -> np.ndarray:
    """NAB's S(y) = 2 / (1 + exp(5y)) - 1, forced to -1 beyond y = 3; elementwise over ``position``."""
    position = np.asarray(position, dtype=float)
    # Clipping keeps exp() finite; the clipped region is replaced by -1 anyway.
    value = 2.0 / (1.0 + np.exp(5.0 * np.minimum(position, 4.0))) - 1.0
    return np.where(position > 3.0, -1.0, value)


def probation_length(n_rows: int) -> int:
    """Number of leading rows NAB leaves unscored in a file of ``n_rows`` rows."""
    # Same float expression as NAB, so that floor() lands on the same side for every length.
    return int(min(math.floor(PROBATION_FRACTION * n_rows), PROBATION_FRACTION * PROBATION_CAP_ROWS))


def row_units(n_rows: int, spans: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Window id (-1 outside) and unit weight of every row of a file, given its windows' row spans.

    ``spans`` are inclusive ``(first, last)`` row indices, sorted and disjoint. Inside a window the unit
    is S(y)/S(-1) with y = -(last - i + 1) / width; outside it is S((i - last) / (width - 1)) for the
    last window ending before row i, or -1 when there is none.
    """
    window_ids = np.full(n_rows, -1, dtype=np.int64)
    units = np.empty(n_rows)
    max_tp = float(scaled_sigmoid(-1.0))
    for index, (first, last) in enumerate(spans):
        rows = np.arange(first, last + 1)
        window_ids[rows] = index
        units[rows] = scaled_sigmoid(-(last - rows + 1) / (last - first + 1)) / max_tp

    outside = np.flatnonzero(window_ids < 0)
    ends = np.array([last for _, last in spans], dtype=np.int64)
    widths = np.array([last - first + 1 for first, last in spans], dtype=np.int64)
    preceding = np.searchsorted(ends, outside, side="left") - 1  # last window ending before the row
    has_window = preceding >= 0
    units[outside[~has_window]] = -1.0
    rows, owner = outside[has_window], preceding[has_window]
    spread = (widths[owner] - 1).astype(float)
    position = np.where(spread > 0, (rows - ends[owner]) / np.maximum(spread, 1.0), ONE_ROW_WINDOW_POSITION)
    units[rows] = scaled_sigmoid(position)
    return window_ids, units


@dataclass(frozen=True)
class PooledRows:
    """Scored rows of a corpus, reduced to what every threshold's score needs.

    Arrays are indexed by distinct threshold, highest first; ``*_cum`` arrays hold totals over all rows
    whose anomaly score is at least that threshold.
    """

    thresholds: np.ndarray
    fp_unit_cum: np.ndarray
    tp_gain_cum: np.ndarray
    windows_hit_cum: np.ndarray
    in_window_cum: np.ndarray
    detected_cum: np.ndarray
    n_in_window: int
    n_outside: int
    n_windows: int


@dataclass(frozen=True)
class ThresholdSweep:
    """Corpus score and confusion counts at each candidate threshold, highest threshold first."""

    thresholds: np.ndarray
    scores: np.ndarray
    tp: np.ndarray
    tn: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    def best(self) -> tuple[float, float]:
        """Return ``(threshold, score)`` of the best candidate; on a tie the highest threshold wins."""
        index = int(np.argmax(self.scores))  # argmax returns the first maximum: the highest threshold
        return float(self.thresholds[index]), float(self.scores[index])


def pool_rows(files: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> PooledRows:
    """Pool the scored rows of several files, sort them once and precompute the running totals.

    Each file is ``(scores, window_ids, units)``: aligned arrays over its scored (post-probation) rows,
    ``window_ids`` numbering the file's windows from 0 (-1 outside every window). Returns a
    :class:`PooledRows` with one entry per distinct anomaly score.
    """
    shifted, offset = [], 0
    for _, window_ids, _ in files:
        # Window ids must be unique across the corpus: move each file's past the previous file's.
        shifted.append(np.where(window_ids >= 0, window_ids + offset, -1))
        offset += int(window_ids.max(initial=-1)) + 1
    scores = np.concatenate([file[0] for file in files]) if files else np.empty(0)
    window_ids = np.concatenate(shifted) if files else np.empty(0, dtype=np.int64)
    units = np.concatenate([file[2] for file in files]) if files else np.empty(0)
    n_windows = len(np.unique(window_ids[window_ids >= 0]))

    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    window_ids = window_ids[order]
    units = units[order]
    inside = window_ids >= 0

    tp_gain, first_hit = _window_gains(window_ids, units, inside)
    fp_unit = np.where(inside, 0.0, units)

    # A threshold t detects every row whose score is >= t: the end of each run of equal scores.
    group_ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], len(sorted_scores) > 0))
    return PooledRows(
        thresholds=sorted_scores[group_ends],
        fp_unit_cum=np.cumsum(fp_unit)[group_ends],
        tp_gain_cum=np.cumsum(tp_gain)[group_ends],
        windows_hit_cum=np.cumsum(first_hit)[group_ends],
        in_window_cum=np.cumsum(inside)[group_ends],
        detected_cum=group_ends + 1,
        n_in_window=int(inside.sum()),
        n_outside=int((~inside).sum()),
        n_windows=n_windows,
    )


def _window_gains(window_ids: np.ndarray, units: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row (in descending-score order), how much its window's best unit rises when it is detected.

    A window is worth the unit of its earliest detection, which is also its largest unit, so the value
    of a window as the threshold falls is a running maximum; its increments telescope to the final
    value, which keeps ties between equal scores exact whatever order they are visited in.
    Returns ``(gain, first_hit)``: the increment, and 1 where the row is its window's first detection.
    """
    rows = np.flatnonzero(inside)
    owners = window_ids[rows]
    running_best = pd.Series(units[rows]).groupby(owners, sort=False).cummax()
    previous = running_best.groupby(owners, sort=False).shift(1).to_numpy()
    running_best = running_best.to_numpy()
    is_first = np.isnan(previous)

    gain = np.zeros(len(units))
    gain[rows] = running_best - np.nan_to_num(previous, nan=0.0)  # a first hit gains its whole unit
    first_hit = np.zeros(len(units), dtype=np.int64)
    first_hit[rows] = is_first
    return gain, first_hit


def sweep(pooled: PooledRows, tp_weight: float, fp_weight: float, fn_weight: float) -> ThresholdSweep:
    """Score every candidate threshold of ``pooled`` under one cost profile's weights.

    The first candidate is :data:`NO_DETECTION_THRESHOLD` (every window missed), followed by each
    distinct anomaly score in descending order. Returns a :class:`ThresholdSweep`.
    """
    missed_all = -fn_weight * pooled.n_windows
    scores = (
        missed_all
        + fp_weight * pooled.fp_unit_cum
        + tp_weight * pooled.tp_gain_cum
        + fn_weight * pooled.windows_hit_cum  # each window hit no longer costs its miss
    )
    tp = pooled.in_window_cum
    fp = pooled.detected_cum - pooled.in_window_cum
    return ThresholdSweep(
        thresholds=np.concatenate(([NO_DETECTION_THRESHOLD], pooled.thresholds)),
        scores=np.concatenate(([missed_all], scores)),
        tp=np.concatenate(([0], tp)),
        tn=np.concatenate(([pooled.n_outside], pooled.n_outside - fp)),
        fp=np.concatenate(([0], fp)),
        fn=np.concatenate(([pooled.n_in_window], pooled.n_in_window - tp)),
    )
