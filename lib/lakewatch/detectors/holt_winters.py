"""Forecast-residual detector: EWMA / Holt / Holt-Winters (additive) one-step forecasts.

The forecast of the next value is ``level + trend + season[row % season_length]``; with ``beta = 0`` and
``season_length = 0`` it is an exponentially weighted moving average. The residual ``e = x - forecast`` is
scored against an exponentially weighted mean absolute residual (weight ``scale_alpha``, times 1.2533 to
estimate a standard deviation): ``z = |e| / (sigma * z_scale)``, score ``erf(z / sqrt 2)``; the raw channel for
the likelihood post-processor is the surprise ``-log10(two-sided tail of z) / 10`` (clipped to [0, 1]), near
0 for ordinary residuals. The model then absorbs the value:

* level  <- alpha * (x - season) + (1 - alpha) * (level + trend)
* trend  <- beta * (level change) + (1 - beta) * trend
* season <- gamma * (x - level) + (1 - gamma) * season

Seasonality counts rows, not time (``season_length`` rows per cycle). No score for the first ``warmup_rows``
rows. State: a handful of floats plus ``season_length`` seasonal terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Fraction, Int, Number
from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import z_to_score, z_to_surprise
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams

_MEAN_AD_TO_SIGMA = 1.2533


@jit
def _hw_kernel(
    x: np.ndarray,
    model: np.ndarray,
    season: np.ndarray,
    counters: np.ndarray,
    alpha: float,
    beta: float,
    gamma: float,
    scale_alpha: float,
    warmup: int,
    z_scale: float,
    out: np.ndarray,
) -> None:
    """Standard scores ``|e| / (sigma * z_scale)`` of ``x`` into ``out``; ``model`` = [level, trend,
    mean |residual|], ``counters`` = [rows seen]."""
    n_season = season.shape[0]
    for t in range(x.shape[0]):
        v = x[t]
        i = counters[0]
        if i == 0:
            model[0] = v
            model[1] = 0.0
            model[2] = 0.0
            counters[0] = 1
            continue
        k = i % n_season if n_season > 0 else 0
        s_k = season[k] if n_season > 0 else 0.0
        forecast = model[0] + model[1] + s_k
        e = v - forecast
        sigma = _MEAN_AD_TO_SIGMA * model[2]
        if i >= warmup:
            if sigma > 0.0:
                out[t] = abs(e) / (sigma * z_scale)
            else:
                out[t] = 0.0 if e == 0.0 else np.inf
        model[2] = (1.0 - scale_alpha) * model[2] + scale_alpha * abs(e)
        level = alpha * (v - s_k) + (1.0 - alpha) * (model[0] + model[1])
        model[1] = beta * (level - model[0]) + (1.0 - beta) * model[1]
        model[0] = level
        if n_season > 0:
            season[k] = gamma * (v - level) + (1.0 - gamma) * s_k
        counters[0] = i + 1


@dataclass(frozen=True)
class HoltWintersParams(DetectorParams):
    """Parameters of :class:`HoltWintersDetector` (see the module docstring)."""

    alpha: Annotated[Number, Field(ge=1e-9, le=1.0)] = 0.3
    beta: Fraction = 0.0
    gamma: Fraction = 0.0
    season_length: Annotated[Int, Field(ge=0, le=10_000_000)] = 0
    scale_alpha: Annotated[Number, Field(ge=1e-9, le=1.0)] = 0.01
    warmup_rows: Annotated[Int, Field(ge=1)] = 30
    z_scale: Annotated[Number, Field(ge=1e-9)] = 2.0


class HoltWintersDetector(Detector):
    """Residual of an EWMA / Holt-Winters one-step forecast, scaled by the running residual size."""

    kind = "holt_winters"
    params_type = HoltWintersParams
    params: HoltWintersParams

    def _init_arrays(self) -> ArrayTree:
        return {
            "model": np.zeros(3),
            "season": np.zeros(self.params.season_length),
            "counters": np.zeros(1, dtype=np.int64),
        }

    def _z(self, arrays: ArrayTree, x: np.ndarray) -> np.ndarray:
        p = self.params
        out = np.zeros(len(x))
        _hw_kernel(
            x,
            arrays["model"],
            arrays["season"],
            arrays["counters"],
            p.alpha,
            p.beta,
            p.gamma,
            p.scale_alpha,
            p.warmup_rows,
            p.z_scale,
            out,
        )
        return out

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_score(self._z(arrays, x))

    def _raw(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        return z_to_surprise(self._z(arrays, x))[:, None]
