"""The healthy start of a multichannel entity: moments of its first rows, with missing channel values.

The multichannel detectors (:mod:`lakewatch.detectors.pca`, :mod:`lakewatch.detectors.mknn`) learn "healthy"
from the entity's own first ``train_rows`` rows that have at least one finite channel, never from labels.
While those rows arrive they keep pairwise-complete sums (for every pair of channels, over the rows where both
are finite, shifted by the first value seen so that sums stay accurate): three ``channels x channels`` arrays,
whatever the number of rows. At the end of the healthy start :func:`fit_moments` turns them into

* ``mean`` and ``scale`` per channel; ``scale`` is floored at ``scale_floor * (1 + |mean|)``, so a channel that
  was constant while healthy has a tiny scale: any later change in it is a large deviation;
* ``active``: channels finite in at least ``min_observed`` of the healthy rows (an all-NaN channel, or one
  that appears later, is inactive: the detector ignores it and says so in its docstring);
* ``corr``: the correlation matrix of the active channels (pairwise-complete, zero for inactive ones);
* ``lag_corr``: the lag-one cross-correlations, from which the PCA detector tells how many independent rows
  the healthy start really held for each component (a slow load wander is seen only a few times).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import tail_to_surprise
from lakewatch.detectors.base import per_window


def new_moments(p: int) -> dict[str, np.ndarray]:
    """Arrays of an empty healthy start for ``p`` channels (``shift`` NaN until a channel is seen)."""
    return {
        "shift": np.full(p, np.nan),
        "n": np.zeros((p, p)),
        "s": np.zeros((p, p)),
        "ss": np.zeros((p, p)),
        "prev": np.full(p, np.nan),
        "nl": np.zeros((p, p)),
        "sl": np.zeros((p, p)),
    }


@jit
def accumulate(x: np.ndarray, shift: np.ndarray, n: np.ndarray, s: np.ndarray, ss: np.ndarray, prev: np.ndarray,
               nl: np.ndarray, sl: np.ndarray) -> None:
    """Add rows ``x`` (NaN = missing) to the pairwise sums: ``n[a, b]`` rows with both finite, ``s[a, b]`` the
    sum of channel ``a`` over those rows, ``ss[a, b]`` the sum of products (values minus ``shift``), and
    ``nl``/``sl`` the count and sum of lag-one products (channel ``a`` now, ``b`` one row earlier; ``prev`` is
    the previous row)."""
    rows, p = x.shape
    for t in range(rows):
        for a in range(p):
            if not np.isnan(x[t, a]) and np.isnan(shift[a]):
                shift[a] = x[t, a]
        for a in range(p):
            va = x[t, a]
            if np.isnan(va):
                continue
            va -= shift[a]
            for b in range(p):
                vb = x[t, b]
                if np.isnan(vb):
                    continue
                vb -= shift[b]
                n[a, b] += 1.0
                s[a, b] += va
                ss[a, b] += va * vb
            for b in range(p):
                if not np.isnan(prev[b]):
                    nl[a, b] += 1.0
                    sl[a, b] += va * (prev[b] - shift[b])
        for a in range(p):
            prev[a] = x[t, a]


def fit_moments(moments: dict[str, np.ndarray], rows: int, min_observed: float, scale_floor: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mean, scale, active, corr, lag_corr)`` of a completed healthy start of ``rows`` rows (see the module
    docstring; ``lag_corr[a, b]``: channel ``a`` against channel ``b`` one row earlier, standardised);
    ``active`` is float 0/1 so that it lives in the state like the other arrays."""
    n, s, ss, shift = moments["n"], moments["s"], moments["ss"], moments["shift"]
    p = len(shift)
    diag_n = np.diag(n).copy()
    active = (diag_n >= max(2.0, min_observed * rows)).astype(np.float64)
    safe_n = np.maximum(n, 1.0)
    shifted_mean = np.diag(s) / np.maximum(diag_n, 1.0)
    var = np.maximum(np.diag(ss) / np.maximum(diag_n, 1.0) - shifted_mean**2, 0.0)
    mean = np.where(active > 0, shifted_mean + np.nan_to_num(shift), 0.0)
    scale = np.maximum(np.sqrt(var), scale_floor * (1.0 + np.abs(mean)))
    scale = np.where(active > 0, scale, 1.0)
    pair_mean_a = s / safe_n
    cov = ss / safe_n - pair_mean_a * pair_mean_a.T
    corr = cov / np.outer(scale, scale)
    corr = np.where(np.outer(active, active) > 0, corr, 0.0)
    corr = 0.5 * (corr + corr.T)
    # pairs seen together in few rows carry no usable correlation
    corr = np.where(n >= max(2.0, min_observed * rows) * 0.5, corr, 0.0) * (1 - np.eye(p)) + np.diag(np.diag(corr))
    shifted_means = np.where(diag_n > 0, shifted_mean, 0.0)
    lag_cov = moments["sl"] / np.maximum(moments["nl"], 1.0) - np.outer(shifted_means, shifted_means)
    lag_corr = np.where(np.outer(active, active) > 0, lag_cov / np.outer(scale, scale), 0.0)
    return mean, scale, active, corr, lag_corr


@dataclass(frozen=True)
class HealthyStart:
    """What a multichannel detector learnt from an entity's healthy start, for messages and quarantine reasons.

    ``detector``: the member's name; ``rows_seen`` of ``train_rows`` healthy rows so far; ``fitted`` once they are
    complete (before that every row scores 0); ``inactive_channels``: channel indexes ignored (finite in too few
    healthy rows: all-NaN, or appearing later); ``constant_channels``: channels constant while healthy (any change
    in them will alarm).
    """

    detector: str
    rows_seen: int
    train_rows: int
    fitted: bool
    inactive_channels: tuple[int, ...]
    constant_channels: tuple[int, ...]

    def describe(self) -> str:
        """One line for a log or a quarantine reason."""
        if not self.fitted:
            return (f"{self.detector}: healthy start incomplete ({self.rows_seen} of {self.train_rows} rows); "
                    "rows score 0 until it is")
        parts = [f"{self.detector}: fitted on {self.train_rows} healthy rows"]
        if self.inactive_channels:
            parts.append(f"channel(s) {list(self.inactive_channels)} ignored (missing in the healthy start)")
        if self.constant_channels:
            parts.append(f"channel(s) {list(self.constant_channels)} constant while healthy (any change alarms)")
        return "; ".join(parts)


def healthy_start(name: str, arrays: dict, train_rows: int, rows_seen: int, fitted: bool, scale_floor: float
                  ) -> HealthyStart:
    """The :class:`HealthyStart` of a multichannel detector's state arrays (``model``: mean, scale, active)."""
    model = arrays["model"]
    active = model["active"] > 0
    floor = scale_floor * (1.0 + np.abs(model["mean"]))
    constant = active & (model["scale"] <= floor * (1.0 + 1e-9))
    return HealthyStart(
        name, rows_seen, train_rows, fitted,
        tuple(int(i) for i in np.flatnonzero(~active)) if fitted else (),
        tuple(int(i) for i in np.flatnonzero(constant)) if fitted else (),
    )


def healthy_starts(detector, state) -> list[HealthyStart]:
    """The :class:`HealthyStart` of every multichannel detector inside ``detector`` (itself, a wrapper's base,
    an ensemble's members), read from ``state``; empty for detectors without a healthy start."""
    found: list[HealthyStart] = []

    def walk(det, arrays) -> None:
        if hasattr(det, "healthy_start"):
            found.append(det.healthy_start(arrays))
        for key, child in det.children().items():
            walk(child, arrays[key])

    walk(detector, state.arrays)
    return found


class TailScored:
    """The scoring and the healthy start shared by the multichannel detectors that learn from the entity's start
    and compute a tail probability per row (``_tail``): score ``1 - tail``, raw channel
    ``-log10(tail) / 10``; their state arrays hold ``model`` (mean, scale, active) and ``counters`` whose [0] is
    the rows seen and whose [``FITTED``] is non-zero once the healthy start is fitted. Mixed in before Detector."""

    FITTED: ClassVar[int]

    def healthy_start(self, state) -> HealthyStart:
        """What this detector learnt from the entity's healthy start so far (a state, or its arrays inside a
        wrapper's state): see :class:`HealthyStart`."""
        arrays = getattr(state, "arrays", state)
        counters = arrays["counters"]
        return healthy_start(self.name, arrays, self.params.train_rows, int(counters[0]),
                             bool(counters[self.FITTED] > 0), self.params.scale_floor)

    def _score(self, arrays, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return 1.0 - self._tail(arrays, x)

    def _raw(self, arrays, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return tail_to_surprise(self._tail(arrays, x))[:, None]

    def _score_windows(self, arrays, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        tails = self._fitted_windows(arrays, windows)
        return 1.0 - tails if tails is not None else per_window(self._score, arrays, windows, ts)

    def _raw_windows(self, arrays, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        tails = self._fitted_windows(arrays, windows)
        return tail_to_surprise(tails)[..., None] if tails is not None else per_window(self._raw, arrays, windows, ts)

    def _fitted_windows(self, arrays, windows: np.ndarray) -> np.ndarray | None:
        """Tails ``(k, m)`` of every row of each window from a fitted state (None before the fit: the healthy
        start then changes with every row, so each window is scored on its own copy). Once fitted, a row's tail
        is a function of the row and the fitted model, except for the state a subclass carries row to row
        (:meth:`_window_tails`), so all ``k * m`` rows go through the kernels in one call: the same per-row
        arithmetic as window by window, hence the same scores."""
        if arrays["counters"][self.FITTED] == 0:
            return None
        return self._window_tails(arrays, windows)

    def _window_tails(self, arrays, windows: np.ndarray) -> np.ndarray:
        """Tails ``(k, m)`` of fitted windows; the default holds for a detector with no row-to-row state."""
        k, m = windows.shape[:2]
        return self._tail(arrays, np.ascontiguousarray(windows.reshape(k * m, *windows.shape[2:]))).reshape(k, m)
