"""Windowed Gaussian detector (NAB's baseline): the tail probability of a value under a Gaussian fitted to
a trailing window.

The mean and standard deviation come from the last ``window`` rows; as in NAB the estimate is refreshed
every row while the window fills and every ``step`` rows afterwards. The score of a value is
``erf(|z| / sqrt 2)`` = ``1 - 2 Q(|z|)`` with ``z`` its standard score against the estimate made before it
(NAB reports ``1 - Q(|z|)``, the same ranking); the raw channel for the likelihood post-processor is the
surprise ``-log10(two-sided tail) / 10``. A zero standard deviation scores 0 for the mean and 1 for anything
else. The window is kept as ``window / step`` block summaries (count, mean, M2), so the state is
small even for NAB's 6400-row window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Int
from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import z_to_score, z_to_surprise
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range


@jit
def _combine_blocks(blocks: np.ndarray, n_complete: int, current: np.ndarray, est: np.ndarray) -> None:
    """Pool complete blocks and the open block into ``est`` = [count, mean, std]."""
    cnt = current[0]
    mean = current[1]
    m2 = current[2]
    for b in range(min(n_complete, blocks.shape[0])):
        nb = blocks[b, 0]
        if nb == 0.0:
            continue
        tot = cnt + nb
        delta = blocks[b, 1] - mean
        mean += delta * nb / tot
        m2 += blocks[b, 2] + delta * delta * cnt * nb / tot
        cnt = tot
    est[0] = cnt
    est[1] = mean
    est[2] = math.sqrt(m2 / cnt) if cnt > 0.0 else 0.0


@jit
def _gaussian_kernel(
    x: np.ndarray, blocks: np.ndarray, current: np.ndarray, est: np.ndarray, counters: np.ndarray, out: np.ndarray
) -> None:
    """Standard scores of ``x`` into ``out``; ``counters`` = [rows seen, next block slot, complete blocks, step]."""
    n_blocks = blocks.shape[0]
    step = counters[3]
    window = n_blocks * step
    for t in range(x.shape[0]):
        v = x[t]
        if est[0] > 0.0:
            if est[2] > 0.0:
                out[t] = abs(v - est[1]) / est[2]
            else:
                out[t] = 0.0 if v == est[1] else np.inf
        cnt = current[0] + 1.0
        delta = v - current[1]
        current[1] += delta / cnt
        current[2] += delta * (v - current[1])
        current[0] = cnt
        counters[0] += 1
        if cnt >= step:
            slot = counters[1]
            blocks[slot, 0] = current[0]
            blocks[slot, 1] = current[1]
            blocks[slot, 2] = current[2]
            current[0] = 0.0
            current[1] = 0.0
            current[2] = 0.0
            counters[1] = (slot + 1) % n_blocks
            counters[2] += 1
            _combine_blocks(blocks, counters[2], current, est)
        elif counters[0] <= window:
            _combine_blocks(blocks, counters[2], current, est)


@dataclass(frozen=True)
class WindowedGaussianParams(DetectorParams):
    """Parameters of :class:`WindowedGaussianDetector`; ``window`` must be a multiple of ``step``."""

    window: Annotated[Int, Field(le=100_000_000)] = 6400
    step: Annotated[Int, Field(ge=1, le=10_000_000)] = 100

    def validate(self) -> None:
        """Check that ``step`` divides ``window`` (bounds are in the field types)."""
        check_range("windowed_gaussian", "window", self.window, self.step)
        check_range("windowed_gaussian", "window % step", self.window % self.step, 0, 0)


class WindowedGaussianDetector(Detector):
    """Gaussian tail probability of each value against a trailing window (NAB's windowedGaussian)."""

    kind = "windowed_gaussian"
    params_type = WindowedGaussianParams
    params: WindowedGaussianParams

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        return {
            "blocks": np.zeros((p.window // p.step, 3)),
            "current": np.zeros(3),
            "est": np.zeros(3),
            "counters": np.array([0, 0, 0, p.step], dtype=np.int64),
        }

    def _z(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        out = np.zeros(len(x))
        _gaussian_kernel(x, arrays["blocks"], arrays["current"], arrays["est"], arrays["counters"], out)
        return out

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_score(self._z(arrays, x))

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_surprise(self._z(arrays, x))[:, None]
