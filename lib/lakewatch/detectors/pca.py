"""Multichannel detector: Hotelling T² and the residual Q (SPE) statistic of a PCA of the healthy start.

The first ``train_rows`` rows of an entity (rows with at least one finite channel) are its healthy start
(:mod:`lakewatch.detectors._healthy`): they score 0 and give each channel's mean and scale and the channels'
correlation matrix. At the end of the healthy start the correlation matrix is diagonalised; the leading
components explaining ``variance_kept`` of the variance (at most ``max_components``, 0 = no limit, and at
least one fewer than the active channels) span the healthy subspace. For each later row, standardised with the
healthy means and scales (``z``):

* Hotelling's ``T²``, component by component: ``t_i² / lambda_i`` with ``t = P' z`` (the scores on the kept
  components), how far the row is inside the healthy subspace (channels high or low together). Its tail is
  ``F(1, n_i - 1)``, where ``n_i`` is the number of independent rows the healthy start held for component
  ``i`` (``train_rows (1 - rho_i) / (1 + rho_i)`` from its lag-one autocorrelation ``rho_i``): a slow load
  wander seen a few times in the healthy start is not known well enough to alarm on it;
* ``Q = |z - P t|²`` (SPE): what the healthy correlations cannot explain (a drifting or stuck sensor, a broken
  correlation); its tail is Box's approximation ``Q ~ g chi²(h)`` from the residual eigenvalues;
* each channel's own residual, squared over its healthy residual variance (chi-square with one degree of
  freedom, times the active channels): one sensor going wrong shows here before it moves ``Q``;
* with ``stuck_test`` (the default), runs of exactly repeated values per channel: a stuck sensor (or a data
  logger holding its last good value) repeats itself, a live one hardly ever does. A run of ``r`` repeats has
  the tail ``q^r`` (times the active channels), ``q`` the channel's share of repeated consecutive values in the
  healthy start (plus-one smoothed, so a channel constant or coarsely quantised while healthy never alarms).

The score is ``1 - min(1, m min(tails))`` (the ``m`` tests above Bonferroni-combined); the raw
channel for the likelihood post-processor is ``-log10`` of that tail over 10 (clipped to [0, 1]).

Missing values (``partial_rows``): a row with some channels NaN (or +-inf) is scored from its finite channels:
``t`` is the least-squares fit of the finite channels on the kept components, ``Q`` their residual, rescaled by
the fraction of residual dimensions observed. A row with no finite channel scores 0 and changes nothing. A
channel finite in fewer than ``min_observed`` of the healthy rows (all-NaN, or appearing later) is inactive:
ignored from then on. A channel constant while healthy has a tiny scale (``scale_floor``), so any later
change in it scores 1.

State: the healthy-start sums (``5 channels² + 2 channels``), then mean, scale, active, eigenvectors,
eigenvalues, residual variances and degrees of freedom (``channels² + 6 channels``) and the component count:
bounded, and the same size before and after the fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field
from scipy.special import chdtrc, fdtrc

from lakewatch.config import Flag, Fraction, Int, Number
from lakewatch.detectors._healthy import TailScored, accumulate, fit_moments, new_moments
from lakewatch.detectors._jit import jit
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams

_EIG_FLOOR = 1e-3  # smallest eigenvalue (correlation units) a kept or residual component counts with


@jit
def _t2q_kernel(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, active: np.ndarray, vecs: np.ndarray,
                vals: np.ndarray, res_var: np.ndarray, k: int, out: np.ndarray) -> None:
    """``out[t] = (Q, largest standardised channel residual², observed residual fraction, t_1²/lambda_1, ...,
    t_k²/lambda_k)`` of each row of ``x`` (NaN = missing)."""
    n, p = x.shape
    z = np.zeros(p)
    obs = np.zeros(p, dtype=np.bool_)
    t_sc = np.zeros(k)
    gram = np.zeros((k, k))
    rhs = np.zeros(k)
    n_act = 0
    for a in range(p):
        if active[a] > 0:
            n_act += 1
    for t in range(n):
        m = 0
        for a in range(p):
            obs[a] = active[a] > 0 and not np.isnan(x[t, a])
            z[a] = (x[t, a] - mean[a]) / scale[a] if obs[a] else 0.0
            if obs[a]:
                m += 1
        if m == 0:
            out[t, :] = 0.0
            continue
        # t = argmin |z_obs - P_obs t|² (P' z when every active channel is observed: P is orthonormal)
        for i in range(k):
            rhs[i] = 0.0
            for a in range(p):
                if obs[a]:
                    rhs[i] += vecs[a, i] * z[a]
            for j in range(k):
                g = 0.0
                for a in range(p):
                    if obs[a]:
                        g += vecs[a, i] * vecs[a, j]
                gram[i, j] = g
            gram[i, i] += 1e-9
        _solve(gram, rhs, t_sc)
        for i in range(k):
            out[t, 3 + i] = t_sc[i] * t_sc[i] / vals[i]
        q = 0.0
        worst = 0.0
        for a in range(p):
            if obs[a]:
                r = z[a]
                for i in range(k):
                    r -= vecs[a, i] * t_sc[i]
                q += r * r
                worst = max(worst, r * r / res_var[a])
        out[t, 0] = q
        out[t, 1] = worst
        out[t, 2] = max(m - k, 0) / max(n_act - k, 1)


@jit
def _repeat_kernel(x: np.ndarray, last: np.ndarray, run: np.ndarray, counts: np.ndarray, learning: bool,
                   log_q: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
    """Runs of repeated values per channel (a stuck sensor repeats its last value exactly). For each row:
    ``run[a]`` counts the consecutive rows channel ``a`` repeated its previous value (missing values skipped);
    while ``learning`` ``counts`` gathers [value pairs, repeated pairs] per channel; otherwise
    ``out[t] = min over active channels of run * log_q`` (the log-probability of such a run while healthy)."""
    n, p = x.shape
    for t in range(n):
        worst = 0.0
        for a in range(p):
            v = x[t, a]
            if np.isnan(v):
                continue
            if not np.isnan(last[a]):
                same = abs(v - last[a]) <= 1e-12 * (1.0 + abs(v))
                if learning:
                    counts[0, a] += 1.0
                    if same:
                        counts[1, a] += 1.0
                run[a] = run[a] + 1.0 if same else 0.0
            last[a] = v
            if not learning and active[a] > 0:
                worst = min(worst, run[a] * log_q[a])
        out[t] = worst


@jit
def _repeat_windows_kernel(windows: np.ndarray, last: np.ndarray, run: np.ndarray, counts: np.ndarray,
                           log_q: np.ndarray, active: np.ndarray, out: np.ndarray) -> None:
    """:func:`_repeat_kernel` (not learning) on each window ``(k, m, p)`` from the same ``last`` and ``run``
    (left unchanged) into ``out`` ``(k, m)``."""
    for i in range(windows.shape[0]):
        _repeat_kernel(windows[i], last.copy(), run.copy(), counts, False, log_q, active, out[i])


@jit
def _solve(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """``out`` <- solution of the small symmetric positive definite system ``a out = b`` (Cholesky)."""
    k = a.shape[0]
    low = np.zeros((k, k))
    for j in range(k):
        s = a[j, j]
        for m in range(j):
            s -= low[j, m] * low[j, m]
        low[j, j] = np.sqrt(max(s, 1e-300))
        for i in range(j + 1, k):
            s2 = a[i, j]
            for m in range(j):
                s2 -= low[i, m] * low[j, m]
            low[i, j] = s2 / low[j, j]
    y = np.zeros(k)
    for i in range(k):
        s = b[i]
        for m in range(i):
            s -= low[i, m] * y[m]
        y[i] = s / low[i, i]
    for i in range(k - 1, -1, -1):
        s = y[i]
        for m in range(i + 1, k):
            s -= low[m, i] * out[m]
        out[i] = s / low[i, i]


@dataclass(frozen=True)
class PcaParams(DetectorParams):
    """Parameters of :class:`PcaT2QDetector` (see the module docstring)."""

    channels: Annotated[Int, Field(ge=1, le=1000)] = 8
    train_rows: Annotated[Int, Field(ge=10, le=10_000_000)] = 500
    variance_kept: Annotated[Number, Field(gt=0.0, le=1.0)] = 0.95
    max_components: Annotated[Int, Field(ge=0, le=1000)] = 0
    min_observed: Fraction = 0.5
    scale_floor: Annotated[Number, Field(gt=0.0, le=1.0)] = 1e-6
    stuck_test: Flag = True


class PcaT2QDetector(TailScored, Detector):
    """Hotelling T² and Q (SPE) of a PCA of the entity's healthy start, as one calibrated score."""

    kind = "pca_t2q"
    params_type = PcaParams
    params: PcaParams
    multivariate = True
    FITTED = 1  # counters: [rows seen, principal components kept (0 until fitted)]

    @property
    def channels(self) -> int:
        """The configured number of channels."""
        return self.params.channels

    @property
    def partial_rows(self) -> bool:
        """Rows with some missing channels are scored from the others (module docstring)."""
        return True

    def _init_arrays(self) -> ArrayTree:
        p = self.params.channels
        return {
            "healthy": new_moments(p),
            "model": {
                "mean": np.zeros(p),
                "scale": np.ones(p),
                "active": np.zeros(p),
                "vecs": np.zeros((p, p)),
                "vals": np.ones(p),
                "box": np.ones(2),  # Box's g and h of the residual Q
                "res_var": np.ones(p),  # each channel's healthy residual variance
                "dof": np.ones(p),  # independent healthy rows behind each component's variance
                "log_q": np.zeros(p),  # log-probability that a channel repeats its previous value while healthy
            },
            "repeat": {"last": np.full(p, np.nan), "run": np.zeros(p), "counts": np.zeros((2, p))},
            "counters": np.zeros(2, dtype=np.int64),  # [healthy rows seen, kept components (0 = not fitted)]
        }

    def _fit(self, arrays: ArrayTree) -> None:
        p = self.params
        mean, scale, active, corr, lag_corr = fit_moments(
            arrays["healthy"], p.train_rows, p.min_observed, p.scale_floor
        )
        model = arrays["model"]
        model["mean"][:] = mean
        model["scale"][:] = scale
        model["active"][:] = active
        n_act = int(active.sum())
        vals, vecs = np.linalg.eigh(corr)
        order = np.argsort(-vals, kind="stable")
        vals = np.maximum(vals[order], 0.0)
        vecs = vecs[:, order]
        total = max(float(vals.sum()), 1e-12)
        k = int(np.searchsorted(np.cumsum(vals) / total, p.variance_kept - 1e-12) + 1)
        limit = max(n_act - 1, 1)
        if p.max_components:
            limit = min(limit, p.max_components)
        k = max(1, min(k, limit))
        residual = np.maximum(vals[k:n_act], _EIG_FLOOR) if n_act > k else np.array([_EIG_FLOOR])
        theta1, theta2 = float(residual.sum()), float((residual**2).sum())
        model["vecs"][:] = vecs
        model["vals"][:] = np.maximum(vals, _EIG_FLOOR)
        model["box"][:] = (theta2 / theta1, theta1 * theta1 / theta2)
        pairs, repeated = arrays["repeat"]["counts"]
        model["log_q"][:] = np.log((repeated + 1.0) / (pairs + 2.0))
        res_vals = np.maximum(vals, _EIG_FLOOR) * (np.arange(len(vals)) >= k)
        model["res_var"][:] = np.maximum((vecs**2) @ res_vals, _EIG_FLOOR)
        # each component's lag-one autocorrelation gives the independent rows behind its variance estimate
        rho = np.einsum("ai,ab,bi->i", vecs, lag_corr, vecs) / np.maximum(vals, _EIG_FLOOR)
        rho = np.clip(rho, -0.9, 0.9999)
        model["dof"][:] = np.clip(p.train_rows * (1.0 - rho) / (1.0 + rho), 2.0, p.train_rows)
        arrays["counters"][1] = k

    def _tail(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        """The combined tail probability of each row (1 while the healthy start lasts)."""
        tail = np.ones(len(x))
        counters = arrays["counters"]
        start = 0
        if counters[1] == 0:
            take = min(len(x), self.params.train_rows - int(counters[0]))
            h = arrays["healthy"]
            accumulate(x[:take], h["shift"], h["n"], h["s"], h["ss"], h["prev"], h["nl"], h["sl"])
            self._repeats(arrays, x[:take], True)
            counters[0] += take
            start = take
            if counters[0] >= self.params.train_rows:
                self._fit(arrays)
        if start < len(x):
            worst, n_act = self._model_tails(arrays, x[start:])
            log_run = self._repeats(arrays, x[start:], False) if self.params.stuck_test else None
            tail[start:] = self._combined(worst, n_act, log_run)
        return tail

    def _combined(self, worst: np.ndarray, n_act: int, log_run: np.ndarray | None) -> np.ndarray:
        """The row tails from the model tails `worst` and (with the stuck test) the repeat runs' log tails
        `log_run`, Bonferroni-corrected over the tests used."""
        if log_run is not None:
            worst = np.minimum(worst, np.minimum(1.0, n_act * np.exp(log_run)))
        return np.minimum(1.0, (4.0 if log_run is not None else 3.0) * worst)

    def _model_tails(self, arrays: ArrayTree, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The smallest of the T², Q and channel-residual tails of each row from the fitted model (row by row,
        no state), and the active channel count."""
        model = arrays["model"]
        k = int(arrays["counters"][1])
        stats = np.zeros((len(x), 3 + k))
        _t2q_kernel(x, model["mean"], model["scale"], model["active"], model["vecs"], model["vals"],
                    model["res_var"], k, stats)
        g, h = model["box"]
        n_act = max(int(model["active"].sum()), 1)
        tail_t2 = np.minimum(1.0, k * fdtrc(1.0, model["dof"][:k] - 1.0, stats[:, 3:]).min(axis=1))
        observed = stats[:, 2] > 0
        tail_q = np.where(observed, chdtrc(h, stats[:, 0] / np.maximum(stats[:, 2], 1e-12) / g), 1.0)
        tail_c = np.where(observed, np.minimum(1.0, n_act * chdtrc(1, stats[:, 1])), 1.0)
        return np.minimum(np.minimum(tail_t2, tail_q), tail_c), n_act

    def _window_tails(self, arrays: ArrayTree, windows: np.ndarray) -> np.ndarray:
        """Tails of fitted windows: the model tails of all rows in one call, the repeat runs (the only row-to-row
        state once fitted) window by window from the state's runs in one kernel call."""
        k, m, p = windows.shape
        worst, n_act = self._model_tails(arrays, np.ascontiguousarray(windows.reshape(k * m, p)))
        log_run = None
        if self.params.stuck_test:
            rep, model = arrays["repeat"], arrays["model"]
            log_run = np.zeros((k, m))
            _repeat_windows_kernel(np.ascontiguousarray(windows), rep["last"], rep["run"], rep["counts"],
                                   model["log_q"], model["active"], log_run)
        return self._combined(worst.reshape(k, m), n_act, log_run)

    def _repeats(self, arrays: ArrayTree, x: np.ndarray, learning: bool) -> np.ndarray:
        rep, model = arrays["repeat"], arrays["model"]
        out = np.zeros(len(x))
        _repeat_kernel(x, rep["last"], rep["run"], rep["counts"], learning, model["log_q"], model["active"], out)
        return out
