"""Multi-scale nearest-neighbour novelty detector (in the spirit of KNN-CAD).

For every new point and each window length ``w`` in ``scales`` the detector measures the Euclidean distance
between the last ``w`` values and the closest earlier window of the same length that ends at least ``w``
rows back and at most ``memory`` rows back (so the memory holds the last ``memory`` windows). A pattern the
series has shown recently is close to one of them; a novel pattern is far from all of them.

Distances are made scale-free per window length: each is divided by ``raw_scale`` times the
``quantile``-quantile of the previous ``quantile_window`` distances of that length (kept on a log-spaced
histogram, ``quantile_bins_per_octave`` bins per doubling). Clipped to ``[0, 1]`` these ratios are the
detector's raw channels (one per scale, used by the likelihood post-processor); its own score is
``r / (1 + r)`` for ``r`` the median ratio over the scales.

State: the last ``memory + max(scales)`` values (twice, for contiguous reads) and, per scale, the histogram
bins of the last ``quantile_window`` distances (int16) plus the histogram counts (int32): about
``16 * memory + len(scales) * (2 * quantile_window + 512 * quantile_bins_per_octave)`` bytes (85 kB by
default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Fraction, Int, Number
from lakewatch.detectors._jit import HAVE_NUMBA, jit, jit_fast
from lakewatch.detectors._kernels import LOG_OCTAVES, hist_push, log_bin_value
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range, scratch_copy
from lakewatch.detectors.errors import DetectorParamsError

_MIN_HISTORY = 20  # distances needed before the quantile scale is trusted
_NO_SCALE_RATIO = 1e6  # ratio reported for a positive distance when the reference quantile is 0


@jit_fast
def _add_terms_loops(acc: np.ndarray, buf: np.ndarray, p: int, k0: int, k1: int, top: int) -> None:
    """``acc[j] += sum_{k0<=k<k1} (r[k] - r[k + 1 + j])**2`` for ``j < top``, with ``r[i] = buf[p + i]``.

    Terms are added two (or four) at a time so that the loop over lags vectorises; ``k0 == 0`` starts
    the sums afresh.
    """
    a = acc[:top]
    k = k0
    while k < k1:
        if k1 - k >= 4:
            x0 = buf[p + k]
            x1 = buf[p + k + 1]
            x2 = buf[p + k + 2]
            x3 = buf[p + k + 3]
            b0 = buf[p + k + 1 : p + k + 1 + top]
            b1 = buf[p + k + 2 : p + k + 2 + top]
            b2 = buf[p + k + 3 : p + k + 3 + top]
            b3 = buf[p + k + 4 : p + k + 4 + top]
            if k == 0:
                for j in range(top):
                    d0 = x0 - b0[j]
                    d1 = x1 - b1[j]
                    d2 = x2 - b2[j]
                    d3 = x3 - b3[j]
                    a[j] = (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            else:
                for j in range(top):
                    d0 = x0 - b0[j]
                    d1 = x1 - b1[j]
                    d2 = x2 - b2[j]
                    d3 = x3 - b3[j]
                    a[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3)
            k += 4
        elif k1 - k >= 2:
            x0 = buf[p + k]
            x1 = buf[p + k + 1]
            b0 = buf[p + k + 1 : p + k + 1 + top]
            b1 = buf[p + k + 2 : p + k + 2 + top]
            if k == 0:
                for j in range(top):
                    d0 = x0 - b0[j]
                    d1 = x1 - b1[j]
                    a[j] = d0 * d0 + d1 * d1
            else:
                for j in range(top):
                    d0 = x0 - b0[j]
                    d1 = x1 - b1[j]
                    a[j] += d0 * d0 + d1 * d1
            k += 2
        else:
            x0 = buf[p + k]
            b0 = buf[p + k + 1 : p + k + 1 + top]
            if k == 0:
                for j in range(top):
                    d0 = x0 - b0[j]
                    a[j] = d0 * d0
            else:
                for j in range(top):
                    d0 = x0 - b0[j]
                    a[j] += d0 * d0
            k += 1


@jit_fast
def _min_from_loops(acc: np.ndarray, start: int, stop: int) -> float:
    """Minimum of ``acc[start:stop]`` (inf when empty), with four independent running minima."""
    if stop <= start:
        return np.inf
    seg = acc[start:stop]
    n = seg.shape[0]
    n4 = n - n % 4
    b0 = np.inf
    b1 = np.inf
    b2 = np.inf
    b3 = np.inf
    for j in range(0, n4, 4):
        v0 = seg[j]
        v1 = seg[j + 1]
        v2 = seg[j + 2]
        v3 = seg[j + 3]
        b0 = v0 if v0 < b0 else b0
        b1 = v1 if v1 < b1 else b1
        b2 = v2 if v2 < b2 else b2
        b3 = v3 if v3 < b3 else b3
    for j in range(n4, n):
        v = seg[j]
        b0 = v if v < b0 else b0
    b0 = b1 if b1 < b0 else b0
    b2 = b3 if b3 < b2 else b2
    return b2 if b2 < b0 else b0


def _add_terms_numpy(acc: np.ndarray, buf: np.ndarray, p: int, k0: int, k1: int, top: int) -> None:
    """Vectorised twin of :func:`_add_terms_loops` for running without numba."""
    for k in range(k0, k1):
        d = buf[p + k] - buf[p + k + 1 : p + k + 1 + top]
        if k == 0:
            np.multiply(d, d, out=acc[:top])
        else:
            acc[:top] += d * d


def _min_from_numpy(acc: np.ndarray, start: int, stop: int) -> float:
    """Vectorised twin of :func:`_min_from_loops` for running without numba."""
    return float(acc[start:stop].min()) if stop > start else np.inf


# compiled: explicit loops that LLVM vectorises; plain Python: numpy slices (same sums up to rounding)
_add_terms = _add_terms_loops if HAVE_NUMBA else _add_terms_numpy
_min_from = _min_from_loops if HAVE_NUMBA else _min_from_numpy


@jit
def _knn_kernel(
    x: np.ndarray,
    scales: np.ndarray,
    memory: int,
    buf: np.ndarray,
    cursor: np.ndarray,
    qring: np.ndarray,
    qcounts: np.ndarray,
    qcur: np.ndarray,
    quantile: float,
    bins_per_octave: int,
    raw_scale: float,
    out: np.ndarray,
) -> None:
    """Distance ratios (unclipped) for each value of ``x`` into ``out`` (shape ``(n, len(scales))``), updating
    the state."""
    n = x.shape[0]
    n_scales = scales.shape[0]
    wmax = scales[n_scales - 1]
    cap = memory + wmax
    acc = np.empty(memory)
    p = cursor[0]
    count = cursor[1]
    for t in range(n):
        # newest value at buf[p] (and its twin at buf[p + cap]); r[i] = buf[p + i] is the value i rows back
        p -= 1
        if p < 0:
            p = cap - 1
        v = x[t]
        buf[p] = v
        buf[p + cap] = v
        if count < cap:
            count += 1
        done = 0
        for s in range(n_scales):
            w = scales[s]
            top = min(memory, count - w)  # lags 1..top are complete windows of length w
            dist = 0.0
            if top > 0:
                _add_terms(acc, buf, p, done, w, top)
                done = w
                best = _min_from(acc, w - 1, top)  # lags >= w do not overlap the current window
                if best < np.inf:
                    dist = math.sqrt(best)
            # scale-free raw score against the quantile of previous distances of this length
            raw = 0.0
            if qcur[s, 1] >= _MIN_HISTORY:
                ref = log_bin_value(qcur[s, 2], bins_per_octave)
                if ref > 0.0:
                    raw = dist / (raw_scale * ref)
                elif dist > 0.0:
                    raw = _NO_SCALE_RATIO
            out[t, s] = raw
            hist_push(qring[s], qcounts[s], qcur[s], dist, bins_per_octave, quantile)
    cursor[0] = p
    cursor[1] = count


@dataclass(frozen=True)
class KnnParams(DetectorParams):
    """Parameters of :class:`KnnDetector` (see the module docstring)."""

    scales: tuple[Annotated[Int, Field(ge=1)], ...] = (2, 4, 8)
    memory: Annotated[Int, Field(le=1_000_000)] = 1000
    quantile: Fraction = 0.9
    quantile_window: Annotated[Int, Field(ge=_MIN_HISTORY, le=10_000_000)] = 5000
    quantile_bins_per_octave: Annotated[Int, Field(ge=1, le=255)] = 16
    raw_scale: Annotated[Number, Field(ge=1e-9)] = 2.5

    def validate(self) -> None:
        """Check ranges: strictly increasing positive scales, memory above the largest scale, etc."""
        if not self.scales or any(b <= a for a, b in zip(self.scales, self.scales[1:], strict=False)):
            raise DetectorParamsError(
                f"knn: parameter scales={self.scales!r} must be non-empty and strictly increasing"
            )
        check_range("knn", "memory", self.memory, self.scales[-1] + 1)


class KnnDetector(Detector):
    """Nearest-neighbour distance of the recent window(s) to past windows, scale-free and clipped to [0, 1]."""

    kind = "knn"
    params_type = KnnParams
    params: KnnParams

    @property
    def raw_channels(self) -> int:
        """One raw channel per window length in ``scales``."""
        return len(self.params.scales)

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        cap = p.memory + p.scales[-1]
        n_scales = len(p.scales)
        return {
            "buf": np.zeros(2 * cap),
            "cursor": np.array([cap, 0], dtype=np.int64),
            "qring": np.zeros((n_scales, p.quantile_window), dtype=np.int16),  # bin indices < 2**15
            "qcounts": np.zeros((n_scales, LOG_OCTAVES * p.quantile_bins_per_octave + 1), dtype=np.int32),
            "qcur": np.zeros((n_scales, 4), dtype=np.int64),
        }

    def _ratios(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        p = self.params
        out = np.zeros((len(x), len(p.scales)))
        _knn_kernel(
            x,
            np.asarray(p.scales, dtype=np.int64),
            p.memory,
            arrays["buf"],
            arrays["cursor"],
            arrays["qring"],
            arrays["qcounts"],
            arrays["qcur"],
            p.quantile,
            p.quantile_bins_per_octave,
            p.raw_scale,
            out,
        )
        return out

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return np.minimum(self._ratios(arrays, x), 1.0)

    def _raw_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p = self.params
        scales = np.asarray(p.scales, dtype=np.int64)
        out = np.zeros((len(windows), windows.shape[1], len(p.scales)))
        scratch, pairs = scratch_copy(arrays)
        for i in range(len(windows)):
            for dst, src in pairs:
                dst[...] = src
            _knn_kernel(windows[i], scales, p.memory, scratch["buf"], scratch["cursor"], scratch["qring"],
                        scratch["qcounts"], scratch["qcur"], p.quantile, p.quantile_bins_per_octave, p.raw_scale,
                        out[i])
        return np.minimum(out, 1.0)

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        ratio = np.median(self._ratios(arrays, x), axis=1)
        return ratio / (1.0 + ratio)
