"""Per-point kernel helpers shared by several detectors (numba-compiled when available).

All helpers work in place on preallocated arrays so that a detector's state stays a fixed set of arrays.
A *sorted window* is a ring buffer ``ring`` of the last ``cap`` values plus ``srt``, the same values kept in
ascending order in ``srt[:count]``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtrc, log_ndtr

from lakewatch.detectors._jit import jit

SQRT2 = math.sqrt(2.0)
SURPRISE_DECADES = 10.0  # a tail probability of 1e-10 is full surprise (raw channel 1)


def z_to_score(z: np.ndarray) -> np.ndarray:
    """Score of standard scores ``z``: ``erf(|z| / sqrt 2)``, the mass closer to the mean (in [0, 1))."""
    return np.clip(-np.expm1(np.log(2.0) + log_ndtr(-np.abs(z))), 0.0, 1.0) + 0.0


def z_to_surprise(z: np.ndarray) -> np.ndarray:
    """Raw channel of standard scores: ``-log10(two-sided tail) / 10`` clipped to [0, 1] (near 0 for
    ordinary points, 1 from about 6.5 sigma), the kind of raw score the likelihood post-processor expects."""
    log_tail = np.minimum(np.log(2.0) + log_ndtr(-np.abs(z)), 0.0)
    return np.clip(-log_tail / (SURPRISE_DECADES * math.log(10.0)), 0.0, 1.0) + 0.0


def tail_to_surprise(tail: np.ndarray) -> np.ndarray:
    """Raw channel of tail probabilities: ``-log10(tail) / 10`` clipped to [0, 1]."""
    return np.clip(-np.log10(np.maximum(tail, 1e-300)) / SURPRISE_DECADES, 0.0, 1.0)


def chi2_to_surprise(d2: np.ndarray, dof: int) -> np.ndarray:
    """Raw channel of chi-square statistics: ``-log10(upper tail) / 10`` clipped to [0, 1]."""
    return tail_to_surprise(chdtrc(dof, np.maximum(d2, 0.0)))


@jit
def sorted_push(ring: np.ndarray, srt: np.ndarray, pos_count: np.ndarray, value: float) -> None:
    """Add ``value`` to a sorted window, evicting the oldest value once the window is full.

    ``pos_count`` holds ``[next ring position, number of values]``.
    """
    cap = ring.shape[0]
    pos = pos_count[0]
    m = pos_count[1]
    if m < cap:
        j = np.searchsorted(srt[:m], value)
        for k in range(m, j, -1):
            srt[k] = srt[k - 1]
        srt[j] = value
        m += 1
    else:
        old = ring[pos]
        a = np.searchsorted(srt[:m], old)  # index of one copy of the evicted value
        b = np.searchsorted(srt[:m], value)
        if b > a:  # new value goes right of the hole: shift (a, b) left by one
            for k in range(a, b - 1):
                srt[k] = srt[k + 1]
            srt[b - 1] = value
        else:  # shift [b, a) right by one
            for k in range(a, b, -1):
                srt[k] = srt[k - 1]
            srt[b] = value
    ring[pos] = value
    pos_count[0] = (pos + 1) % cap
    pos_count[1] = m


@jit
def sorted_median(srt: np.ndarray, m: int) -> float:
    """Median of ``srt[:m]`` (mean of the two middle values for even ``m``); 0 when empty."""
    if m == 0:
        return 0.0
    if m % 2 == 1:
        return srt[m // 2]
    return 0.5 * (srt[m // 2 - 1] + srt[m // 2])


@jit
def sorted_mad(srt: np.ndarray, m: int, med: float) -> float:
    """Median absolute deviation of ``srt[:m]`` around ``med``, by merging the two sides outwards."""
    if m == 0:
        return 0.0
    hi = np.searchsorted(srt[:m], med)  # first index with value >= med
    lo = hi - 1
    target = (m - 1) // 2  # lower middle for even m, then averaged with the next
    prev = 0.0
    cur = 0.0
    for rank in range(target + 2):
        if rank > target and m % 2 == 1:
            break
        if lo >= 0 and (hi >= m or med - srt[lo] <= srt[hi] - med):
            cur = med - srt[lo]
            lo -= 1
        else:
            cur = srt[hi] - med
            hi += 1
        if rank == target:
            prev = cur
    if m % 2 == 1:
        return prev
    return 0.5 * (prev + cur)


# --------------------------------------------------------------------------------------------------------------
# Sliding-window quantile on a log-spaced histogram: each value is kept as a bin index (``bins_per_octave``
# bins per doubling, bin 0 holding zeros), so the quantile is exact up to the bin width (about
# ``100 / bins_per_octave * ln 2`` percent) while the state is an int32 count per bin and an int32 ring.
LOG_OCTAVES = 128  # exponents -64 .. +64 of 2


@jit
def log_bin(value: float, bins_per_octave: int) -> int:
    """Bin of a non-negative value: 0 for zero (and tiny values), then ``bins_per_octave`` bins per octave."""
    if value <= 0.0:
        return 0
    e = math.log2(value) + LOG_OCTAVES // 2
    if e < 0.0:
        return 0
    b = int(e * bins_per_octave) + 1
    top = LOG_OCTAVES * bins_per_octave
    return b if b <= top else top


@jit
def log_bin_value(b: int, bins_per_octave: int) -> float:
    """Representative value (geometric bin centre) of bin ``b``; 0 for bin 0."""
    if b <= 0:
        return 0.0
    return 2.0 ** ((b - 1 + 0.5) / bins_per_octave - LOG_OCTAVES // 2)


@jit
def hist_push(
    ring: np.ndarray, counts: np.ndarray, cur: np.ndarray, value: float, bins_per_octave: int, quantile: float
) -> None:
    """Add ``value`` to the window, evicting the oldest once full, and move the quantile pointer.

    ``cur`` holds ``[next ring position, number of values, quantile bin, values in bins below it]``.
    """
    cap = ring.shape[0]
    pos = cur[0]
    m = cur[1]
    qbin = cur[2]
    below = cur[3]
    b = log_bin(value, bins_per_octave)
    if m == cap:
        old = ring[pos]
        counts[old] -= 1
        if old < qbin:
            below -= 1
        m -= 1
    counts[b] += 1
    if b < qbin:
        below += 1
    ring[pos] = b
    m += 1
    r = min(m - 1, int(quantile * m))
    while r < below:
        qbin -= 1
        below -= counts[qbin]
    while r >= below + counts[qbin]:
        below += counts[qbin]
        qbin += 1
    cur[0] = (pos + 1) % cap
    cur[1] = m
    cur[2] = qbin
    cur[3] = below
