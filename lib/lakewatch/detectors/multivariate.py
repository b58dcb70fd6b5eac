"""Multivariate detector for entities with several channels: Mahalanobis distance to a running Gaussian.

Each row ``x`` (``channels`` values) is compared with an exponentially weighted mean and covariance of the
previous rows (weight ``alpha``, or ``1 / rows`` while that is larger, so early estimates are plain
averages): ``D2 = (x - mean)' P (x - mean)``, where the precision ``P`` inverts the covariance shrunk
towards its diagonal (``shrinkage``) plus a tiny ridge, refreshed every ``refit_every`` rows. The score is
the chi-square CDF of ``D2`` with ``channels`` degrees of freedom: the probability that a normal row is
closer. A jump in one channel or a break in the correlation between channels both raise it. No score for
the first ``warmup_rows`` rows. The raw channel for the likelihood post-processor is the surprise
``-log10(chi-square upper tail) / 10``.

State: the mean, the covariance and the precision (``channels * (2 * channels + 1)`` floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field
from scipy.special import gammainc

from lakewatch.config import Fraction, Int, Number
from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import chi2_to_surprise
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams

_RIDGE = 1e-9  # relative to the mean variance


@jit
def _refit_precision(cov: np.ndarray, shrinkage: float, prec: np.ndarray) -> None:
    """``prec`` <- inverse of the shrunk covariance, via a Cholesky factorisation (ridge grows if needed)."""
    p = cov.shape[0]
    mean_var = 0.0
    for i in range(p):
        mean_var += cov[i, i]
    mean_var = mean_var / p if p > 0 else 0.0
    ridge = _RIDGE * mean_var + 1e-300
    a = np.empty((p, p))
    low = np.zeros((p, p))
    for _attempt in range(60):
        for i in range(p):
            for j in range(p):
                a[i, j] = (1.0 - shrinkage) * cov[i, j] if i != j else cov[i, i]
            a[i, i] += ridge
        ok = True
        for j in range(p):
            s = a[j, j]
            for k in range(j):
                s -= low[j, k] * low[j, k]
            if s <= 0.0:
                ok = False
                break
            low[j, j] = math.sqrt(s)
            for i in range(j + 1, p):
                s2 = a[i, j]
                for k in range(j):
                    s2 -= low[i, k] * low[j, k]
                low[i, j] = s2 / low[j, j]
        if ok:
            break
        ridge = ridge * 10.0 + 1e-300
    inv_low = np.zeros((p, p))  # inverse of the lower factor, by forward substitution
    for i in range(p):
        inv_low[i, i] = 1.0 / low[i, i]
        for j in range(i):
            s = 0.0
            for k in range(j, i):
                s -= low[i, k] * inv_low[k, j]
            inv_low[i, j] = s / low[i, i]
    for i in range(p):
        for j in range(p):
            s = 0.0
            for k in range(max(i, j), p):
                s += inv_low[k, i] * inv_low[k, j]
            prec[i, j] = s


@jit
def _mahalanobis_kernel(
    x: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    prec: np.ndarray,
    counters: np.ndarray,
    alpha: float,
    shrinkage: float,
    refit_every: int,
    warmup: int,
    out: np.ndarray,
) -> None:
    """Squared Mahalanobis distances of the rows of ``x`` into ``out``; ``counters`` = [rows seen]."""
    n, p = x.shape
    delta = np.empty(p)
    for t in range(n):
        i = counters[0]
        if i == 0:
            for a in range(p):
                mean[a] = x[t, a]
            counters[0] = 1
            continue
        for a in range(p):
            delta[a] = x[t, a] - mean[a]
        if i >= warmup:
            d2 = 0.0
            for a in range(p):
                s = 0.0
                for b in range(p):
                    s += prec[a, b] * delta[b]
                d2 += delta[a] * s
            out[t] = max(d2, 0.0)
        w = max(alpha, 1.0 / (i + 1))
        for a in range(p):
            mean[a] += w * delta[a]
        for a in range(p):
            for b in range(p):
                cov[a, b] = (1.0 - w) * (cov[a, b] + w * delta[a] * delta[b])
        counters[0] = i + 1
        if (i + 1) % refit_every == 0 or i + 1 == warmup:
            _refit_precision(cov, shrinkage, prec)


@dataclass(frozen=True)
class MahalanobisParams(DetectorParams):
    """Parameters of :class:`MahalanobisDetector` (see the module docstring)."""

    channels: Annotated[Int, Field(ge=1, le=1000)] = 2
    alpha: Annotated[Number, Field(ge=1e-9, le=1.0)] = 0.01
    shrinkage: Fraction = 0.1
    refit_every: Annotated[Int, Field(ge=1, le=1_000_000)] = 10
    warmup_rows: Annotated[Int, Field(ge=2)] = 50


class MahalanobisDetector(Detector):
    """Chi-square probability of the Mahalanobis distance of each row to a running mean and covariance."""

    kind = "mahalanobis"
    params_type = MahalanobisParams
    params: MahalanobisParams
    multivariate = True

    @property
    def channels(self) -> int:
        """The configured number of channels."""
        return self.params.channels

    def _init_arrays(self) -> ArrayTree:
        p = self.params.channels
        return {
            "mean": np.zeros(p),
            "cov": np.zeros((p, p)),
            "prec": np.zeros((p, p)),
            "counters": np.zeros(1, dtype=np.int64),
        }

    def _d2(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        p = self.params
        d2 = np.zeros(len(x))
        _mahalanobis_kernel(
            np.ascontiguousarray(x, dtype=np.float64),
            arrays["mean"],
            arrays["cov"],
            arrays["prec"],
            arrays["counters"],
            p.alpha,
            p.shrinkage,
            p.refit_every,
            p.warmup_rows,
            d2,
        )
        return d2

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return gammainc(self.params.channels / 2.0, self._d2(arrays, x) / 2.0)

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return chi2_to_surprise(self._d2(arrays, x), self.params.channels)[:, None]
