"""Robust z-score detector: distance from the median of a trailing window in units of its MAD.

``z = (x - median) / (1.4826 * MAD)`` over the previous ``window`` values (the current value excluded);
when the MAD is 0 (more than half the window identical) the mean absolute deviation from the median
(times 1.2533) is used instead. The score is ``erf(|z| / (z_scale * sqrt 2))``: ``z_scale`` stretches the
scale so that large deviations still rank against each other (1 keeps the plain Gaussian mapping); the raw
channel for the likelihood post-processor is the surprise ``-log10(two-sided tail) / 10`` of the same
stretched score. No score before ``min_periods`` values; a window without any spread scores 0 for its median
and 1 otherwise.

State: the last ``window`` values, as a ring and a sorted copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Int, Number
from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import sorted_mad, sorted_median, sorted_push, z_to_score, z_to_surprise
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range, scratch_copy

_MAD_TO_SIGMA = 1.4826
_MEAN_AD_TO_SIGMA = 1.2533


@jit
def _robust_kernel(
    x: np.ndarray,
    ring: np.ndarray,
    srt: np.ndarray,
    pos_count: np.ndarray,
    min_periods: int,
    z_scale: float,
    out: np.ndarray,
) -> None:
    """Standard scores ``|x - median| / (scale * z_scale)`` into ``out``, then push each value."""
    for t in range(x.shape[0]):
        v = x[t]
        m = pos_count[1]
        if m >= min_periods and m > 0:
            med = sorted_median(srt, m)
            scale = _MAD_TO_SIGMA * sorted_mad(srt, m, med)
            if scale <= 0.0:
                s = 0.0
                for k in range(m):
                    s += abs(srt[k] - med)
                scale = _MEAN_AD_TO_SIGMA * s / m
            if scale > 0.0:
                out[t] = abs(v - med) / (scale * z_scale)
            else:
                out[t] = 0.0 if v == med else np.inf
        sorted_push(ring, srt, pos_count, v)


@dataclass(frozen=True)
class RobustZParams(DetectorParams):
    """Parameters of :class:`RobustZScoreDetector`."""

    window: Annotated[Int, Field(ge=2, le=10_000_000)] = 500
    min_periods: Annotated[Int, Field(ge=1)] = 30
    z_scale: Annotated[Number, Field(ge=1e-9)] = 2.0

    def validate(self) -> None:
        """Check that ``min_periods`` fits in the window (bounds are in the field types)."""
        check_range("robust_zscore", "min_periods", self.min_periods, 1, self.window)


class RobustZScoreDetector(Detector):
    """Median/MAD standard score over a trailing window, mapped to [0, 1]."""

    kind = "robust_zscore"
    params_type = RobustZParams
    params: RobustZParams

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        return {"ring": np.zeros(p.window), "srt": np.zeros(p.window), "pos_count": np.zeros(2, dtype=np.int64)}

    def _z(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        p = self.params
        out = np.zeros(len(x))
        _robust_kernel(x, arrays["ring"], arrays["srt"], arrays["pos_count"], p.min_periods, p.z_scale, out)
        return out

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_score(self._z(arrays, x))

    def _score_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p = self.params
        z = np.zeros(windows.shape[:2])
        scratch, pairs = scratch_copy(arrays)
        for i in range(len(windows)):
            for dst, src in pairs:
                dst[...] = src
            _robust_kernel(windows[i], scratch["ring"], scratch["srt"], scratch["pos_count"], p.min_periods,
                           p.z_scale, z[i])
        return z_to_score(z)

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_surprise(self._z(arrays, x))[:, None]
