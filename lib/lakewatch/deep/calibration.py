"""Map a reconstruction error to an anomaly score in [0, 1], fitted on training errors and stored with the model.

The score is the empirical CDF of the training errors (on a log scale, from ``points`` quantiles), squeezed
into ``[0, p_top]`` with ``p_top = points / (points + 1)``; an error above every training error scores
``p_top + (1 - p_top) * erf(d / sqrt 2)``, ``d`` being its distance above the largest training error in
log-error standard deviations, so scores keep ranking the errors that training never produced instead of
all saturating at 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from lakewatch.errors import CalibrationError

_EPS = 1e-12


@dataclass(frozen=True)
class Calibration:
    """Quantiles of log training errors and their spread; ``score`` maps errors to ``[0, 1]``."""

    quantiles: tuple[float, ...]
    log_std: float

    def score(self, errors: np.ndarray) -> np.ndarray:
        """Scores in ``[0, 1]`` of reconstruction errors (non-negative floats), monotone in the error."""
        le = np.log(np.asarray(errors, dtype=np.float64) + _EPS)
        q = np.asarray(self.quantiles)
        k = len(q)
        probs = np.arange(1, k + 1) / (k + 1)
        grid = np.concatenate([[q[0] - self.log_std], q])
        out = np.interp(le, grid, np.concatenate([[0.0], probs]))
        above = le > q[-1]
        if above.any():
            top = probs[-1]
            out[above] = top + (1.0 - top) * erf((le[above] - q[-1]) / (self.log_std * math.sqrt(2.0)))
        return np.clip(out, 0.0, 1.0)

    def to_dict(self) -> dict:
        """A JSON-ready description (inverse: :meth:`from_dict`)."""
        return {"quantiles": list(self.quantiles), "log_std": self.log_std}

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        """Rebuild a calibration written by :meth:`to_dict`."""
        return cls(tuple(float(v) for v in data["quantiles"]), float(data["log_std"]))


def fit_calibration(errors: np.ndarray, points: int = 200) -> Calibration:
    """Fit a calibration on training reconstruction errors (at least one finite error needed)."""
    given = np.asarray(errors, dtype=np.float64).ravel()
    e = given[np.isfinite(given)]
    if len(e) == 0:
        raise CalibrationError(f"fit_calibration got {len(given)} reconstruction errors, none finite; expected at "
                               "least one (a training set too short for one window gives none)")
    le = np.log(np.maximum(e, 0.0) + _EPS)
    quantiles = np.quantile(le, (np.arange(1, points + 1) - 0.5) / points)
    spread = float(np.std(le))
    return Calibration(tuple(float(v) for v in np.maximum.accumulate(quantiles)), max(spread, 1e-3))
