"""Multichannel detector: distance to the nearest healthy rows of the entity (multivariate nearest neighbours).

The first ``train_rows`` rows of an entity (rows with at least one finite channel) are its healthy start
(:mod:`lakewatch.detectors._healthy`): they score 0, give each channel's mean and scale, and every
``ceil(train_rows / memory)``-th of them is kept (at most ``memory`` rows) as the healthy reference. At the end
of the healthy start the reference rows are standardised and, with ``whiten`` (the default), whitened with the
healthy correlations (each principal direction divided by its standard deviation, eigenvalues floored at
``eig_floor``), so that a move across the healthy correlations (a broken correlation, one sensor off) counts as
much as a large move along them; then each reference row's leave-one-out distance (the mean Euclidean distance to
its ``k`` nearest other reference rows) is computed; their sorted values are the calibration. A later row's
distance ``d`` to its ``k`` nearest reference rows gets the tail probability

* the fraction of reference distances at least ``d``, while ``d`` is below the ``q``-quantile ``d_q`` of the
  reference distances (``q = 1 - tail_mass``),
* beyond it an exponential tail ``tail_mass * exp(-tail_rate * (d / d_q - 1))``,

and the score is ``1 - tail``; the raw channel for the likelihood post-processor is ``-log10(tail) / 10``.
Unlike the PCA detector it needs no linear model: any row unlike every healthy row (a combination of values
never seen together, a stuck or drifting sensor) is far from all of them.

Missing values (``partial_rows``): in a row with some channels NaN (or +-inf), each missing active channel takes
its conditional mean given the row's finite channels under the healthy correlations (so it adds no distance of
its own); reference rows are filled the same way. A row with no finite channel scores 0 and changes nothing. A
channel finite in fewer than ``min_observed`` of the healthy rows (all-NaN, or appearing later) is inactive and
ignored; a channel constant while healthy has a tiny scale (``scale_floor``), so any later change in it scores 1.

State: the healthy-start sums (``5 channels² + 2 channels``), ``memory x channels`` reference rows, ``memory``
calibration distances, the correlation and whitening matrices (``2 channels²``): bounded, the same size before
and after the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Flag, Fraction, Int, Number
from lakewatch.detectors._healthy import TailScored, accumulate, fit_moments, new_moments
from lakewatch.detectors._jit import jit
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range


@jit
def _keep_smallest(best: np.ndarray, d: float) -> None:
    """Insert ``d`` into ``best``, the sorted smallest values so far (inf = none yet), if it is smaller than one."""
    k = best.shape[0]
    if d < best[k - 1]:
        j = k - 1
        while j > 0 and best[j - 1] > d:
            best[j] = best[j - 1]
            j -= 1
        best[j] = d


@jit
def _mean_root(best: np.ndarray) -> float:
    """Mean square root of the finite values of ``best`` (0 when there are none)."""
    s = 0.0
    used = 0
    for j in range(best.shape[0]):
        if best[j] < np.inf:
            s += math.sqrt(best[j])
            used += 1
    return s / max(used, 1)


@jit
def _knn_distances(x: np.ndarray, ref: np.ndarray, n_ref: int, scale: np.ndarray, mean: np.ndarray,
                   active: np.ndarray, k: int, skip: int, out: np.ndarray) -> None:
    """``out[t]`` = mean distance of row ``t`` of ``x`` to its ``k`` nearest of the first ``n_ref`` reference
    rows, on standardised finite active channels (``skip``: a reference index to leave out, -1 for none)."""
    n, p = x.shape
    best = np.empty(k)
    z = np.zeros(p)
    obs = np.zeros(p, dtype=np.bool_)
    n_act = 0
    for a in range(p):
        if active[a] > 0:
            n_act += 1
    for t in range(n):
        m = 0
        for a in range(p):
            obs[a] = active[a] > 0 and not np.isnan(x[t, a])
            if obs[a]:
                z[a] = (x[t, a] - mean[a]) / scale[a]
                m += 1
        if m == 0:
            out[t] = 0.0
            continue
        for j in range(k):
            best[j] = np.inf
        for r in range(n_ref):
            if r == skip:
                continue
            d = 0.0
            for a in range(p):
                if obs[a]:
                    diff = z[a] - ref[r, a]
                    d += diff * diff
            _keep_smallest(best, d)
        out[t] = _mean_root(best) * math.sqrt(n_act / m)


@jit
def _knn_features(x: np.ndarray, ref_t: np.ndarray, n_ref: int, k: int, out: np.ndarray) -> None:
    """:func:`_knn_distances` of feature rows (standardised and whitened already: every value finite, or the whole
    row NaN for a row with nothing observed, which gets 0) against the transposed reference ``ref_t`` (p, memory).
    Each row's squared distances to all reference rows accumulate channel by channel in a loop over the reference
    rows that the compiler vectorises; each distance adds the same terms in the same order as
    :func:`_knn_distances`, so the results are equal to the last bit."""
    n, p = x.shape
    dist = np.empty(n_ref)
    best = np.empty(k)
    for t in range(n):
        if np.isnan(x[t, 0]):
            out[t] = 0.0
            continue
        for r in range(n_ref):
            dist[r] = 0.0
        for a in range(p):
            v = x[t, a]
            row = ref_t[a]
            for r in range(n_ref):
                diff = v - row[r]
                dist[r] += diff * diff
        for j in range(k):
            best[j] = np.inf
        for r in range(n_ref):
            _keep_smallest(best, dist[r])
        out[t] = _mean_root(best)


@jit
def _whiten_rows(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, active: np.ndarray, corr: np.ndarray,
                 wmat: np.ndarray, out: np.ndarray) -> None:
    """``out[t] = z_t @ wmat`` with ``z_t`` row ``t`` standardised; an active channel missing from the row takes its
    conditional mean given the row's observed channels under the healthy correlations (``corr``); a row with no
    observed active channel becomes NaN."""
    n, p = x.shape
    z = np.zeros(p)
    obs = np.zeros(p, dtype=np.bool_)
    for t in range(n):
        m = 0
        missing = 0
        for a in range(p):
            obs[a] = active[a] > 0 and not np.isnan(x[t, a])
            z[a] = (x[t, a] - mean[a]) / scale[a] if obs[a] else 0.0
            if obs[a]:
                m += 1
            elif active[a] > 0:
                missing += 1
        if m == 0:
            for b in range(p):
                out[t, b] = np.nan
            continue
        if missing > 0:  # z_missing = C_mo C_oo^-1 z_o
            idx = np.empty(m, dtype=np.int64)
            j = 0
            for a in range(p):
                if obs[a]:
                    idx[j] = a
                    j += 1
            coo = np.empty((m, m))
            for i in range(m):
                for j in range(m):
                    coo[i, j] = corr[idx[i], idx[j]]
                coo[i, i] += 1e-6
            sol = np.linalg.solve(coo, z[idx])
            for a in range(p):
                if active[a] > 0 and not obs[a]:
                    v = 0.0
                    for i in range(m):
                        v += corr[a, idx[i]] * sol[i]
                    z[a] = v
        for b in range(p):
            v = 0.0
            for a in range(p):
                v += z[a] * wmat[a, b]
            out[t, b] = v


@dataclass(frozen=True)
class MknnParams(DetectorParams):
    """Parameters of :class:`MultiKnnDetector` (see the module docstring)."""

    channels: Annotated[Int, Field(ge=1, le=1000)] = 8
    train_rows: Annotated[Int, Field(ge=10, le=10_000_000)] = 500
    memory: Annotated[Int, Field(ge=10, le=100_000)] = 250
    k: Annotated[Int, Field(ge=1, le=100)] = 5
    tail_mass: Annotated[Number, Field(gt=0.0, lt=1.0)] = 0.05
    tail_rate: Annotated[Number, Field(gt=0.0, le=1000.0)] = 3.0
    min_observed: Fraction = 0.5
    scale_floor: Annotated[Number, Field(gt=0.0, le=1.0)] = 1e-6
    whiten: Flag = True
    eig_floor: Annotated[Number, Field(gt=0.0, le=1.0)] = 1e-3

    def validate(self) -> None:
        """The reference must hold more than ``k`` rows."""
        check_range("mknn", "k", self.k, 1, min(self.memory, self.train_rows) - 1)


class MultiKnnDetector(TailScored, Detector):
    """Distance of each row to its nearest healthy-start rows, calibrated on the healthy rows' own distances."""

    kind = "mknn"
    params_type = MknnParams
    params: MknnParams
    multivariate = True
    FITTED = 2  # counters: [rows seen, reference rows, fitted]

    @property
    def channels(self) -> int:
        """The configured number of channels."""
        return self.params.channels

    @property
    def partial_rows(self) -> bool:
        """Rows with some missing channels are scored from the others (module docstring)."""
        return True

    @property
    def _stride(self) -> int:
        return -(-self.params.train_rows // self.params.memory)

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        return {
            "healthy": new_moments(p.channels),
            "ref": np.zeros((p.memory, p.channels)),
            "model": {
                "mean": np.zeros(p.channels),
                "scale": np.ones(p.channels),
                "active": np.zeros(p.channels),
                "calib": np.zeros(p.memory),  # sorted leave-one-out distances of the reference rows
                "corr": np.zeros((p.channels, p.channels)),  # healthy correlations (missing values, whitening)
                "wmat": np.zeros((p.channels, p.channels)),  # whitening: eigenvectors over sqrt(eigenvalues)
            },
            "counters": np.zeros(3, dtype=np.int64),  # [healthy rows seen, reference rows kept, fitted]
        }

    def _fit(self, arrays: ArrayTree) -> None:
        p = self.params
        mean, scale, active, corr, _ = fit_moments(arrays["healthy"], p.train_rows, p.min_observed, p.scale_floor)
        model = arrays["model"]
        model["mean"][:] = mean
        model["scale"][:] = scale
        model["active"][:] = active
        model["corr"][:] = corr
        if p.whiten:
            vals, vecs = np.linalg.eigh(corr + np.diag(1.0 - active))  # inactive channels: unit, unused
            model["wmat"][:] = vecs / np.sqrt(np.maximum(vals, p.eig_floor))
        else:
            model["wmat"][:] = np.eye(p.channels)
        n_ref = int(arrays["counters"][1])
        ref = arrays["ref"]
        ref[:n_ref] = np.nan_to_num(self._features(model, ref[:n_ref]), nan=0.0)
        calib = np.zeros(n_ref)
        ones = np.ones(p.channels)
        for r in range(n_ref):
            _knn_distances(ref[r : r + 1], ref, n_ref, ones, np.zeros(p.channels), ones, p.k, r, calib[r : r + 1])
        model["calib"][:n_ref] = np.sort(calib)
        arrays["counters"][2] = 1

    def _features(self, model: ArrayTree, x: np.ndarray) -> np.ndarray:
        """Rows standardised, missing active channels imputed, and whitened (rows with nothing observed: NaN)."""
        out = np.zeros_like(x)
        _whiten_rows(np.ascontiguousarray(x), model["mean"], model["scale"], model["active"], model["corr"],
                     model["wmat"], out)
        return out

    def _tail(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        """The tail probability of each row (1 while the healthy start lasts)."""
        p = self.params
        tail = np.ones(len(x))
        counters = arrays["counters"]
        start = 0
        if counters[2] == 0:
            take = min(len(x), p.train_rows - int(counters[0]))
            h = arrays["healthy"]
            accumulate(x[:take], h["shift"], h["n"], h["s"], h["ss"], h["prev"], h["nl"], h["sl"])
            stride = self._stride
            for i in range(take):
                if (int(counters[0]) + i) % stride == 0 and counters[1] < p.memory:
                    arrays["ref"][counters[1]] = x[i]
                    counters[1] += 1
            counters[0] += take
            start = take
            if counters[0] >= p.train_rows:
                self._fit(arrays)
        if start < len(x):
            model = arrays["model"]
            n_ref = int(counters[1])
            d = np.zeros(len(x) - start)
            _knn_features(self._features(model, x[start:]), np.ascontiguousarray(arrays["ref"][:n_ref].T), n_ref,
                          p.k, d)
            calib = model["calib"][:n_ref]
            d_q = max(float(np.quantile(calib, 1.0 - p.tail_mass)), 1e-12)
            empirical = 1.0 - np.searchsorted(calib, d, side="left") / max(n_ref, 1)
            beyond = p.tail_mass * np.exp(-p.tail_rate * (d / d_q - 1.0))
            tail[start:] = np.where(d < d_q, np.maximum(empirical, p.tail_mass), beyond)
        return tail
