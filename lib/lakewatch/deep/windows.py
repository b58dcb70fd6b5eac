"""Sliding windows over a series and the robust scaling applied to them before the model sees them.

A window is the last ``window`` rows of one series, shape ``(window, channels)``; the model takes a batch of
windows as ``(batch, channels, window)``. Two scalings, both causal (a window is scaled from its own rows and
from statistics frozen at training time, never from later rows):

* ``global``: per channel ``(x - median) / scale`` with the median and robust scale (IQR / 1.349) of the
  training data, stored with the model;
* ``window``: per window and channel, centred on the median of the window's rows before its last one and
  divided by their robust scale (with a floor), so one model can serve series of very different levels and
  spreads (the NAB corpus). Scaled values are clipped to ``[-clip, clip]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakewatch.errors import ModelSpecError

SCALINGS = ("global", "window")
_IQR_TO_SIGMA = 1.349
_CLIP = 20.0


def sliding_windows(values: np.ndarray, window: int, stride: int = 1) -> np.ndarray:
    """All windows of ``window`` consecutive rows of ``values`` (``(n,)`` or ``(n, c)``), every ``stride`` rows.

    Returns ``(m, window, c)`` (a view when possible) with ``m = (n - window) // stride + 1`` (0 when
    ``n < window``); window ``i`` ends at row ``window - 1 + i * stride``.
    """
    x = values[:, None] if values.ndim == 1 else values
    if len(x) < window:
        return np.empty((0, window, x.shape[1]), dtype=x.dtype)
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (n - window + 1, c, window)
    return view[::stride].transpose(0, 2, 1)


@dataclass(frozen=True)
class RobustScaler:
    """Per-channel robust scaling of windows (see the module docstring); ``center``/``scale`` are used by
    ``global`` scaling only and ``min_scale`` floors the scale of ``window`` scaling."""

    mode: str
    center: tuple[float, ...]
    scale: tuple[float, ...]
    min_scale: float = 1e-3

    def __post_init__(self) -> None:
        if self.mode not in SCALINGS:
            raise ModelSpecError(f"RobustScaler mode {self.mode!r} is not a scaling; expected one of {SCALINGS}")
        if len(self.center) != len(self.scale):
            raise ModelSpecError(f"RobustScaler has {len(self.center)} centres but {len(self.scale)} scales; expected "
                                 "one of each per channel")

    @property
    def channels(self) -> int:
        """Number of channels the scaler was fitted on."""
        return len(self.center)

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Scale windows ``(m, window, c)`` and return model input ``(m, c, window)`` as float64."""
        w = np.asarray(windows, dtype=np.float64)
        if self.mode == "global":
            out = (w - np.asarray(self.center)) / np.asarray(self.scale)
        else:
            context = w[:, :-1, :] if w.shape[1] > 1 else w
            centre = np.median(context, axis=1, keepdims=True)
            q75, q25 = np.percentile(context, [75.0, 25.0], axis=1, keepdims=True)
            spread = (q75 - q25) / _IQR_TO_SIGMA
            floor = self.min_scale * np.maximum(np.abs(centre), 1.0)
            out = (w - centre) / np.maximum(spread, floor)
        np.clip(out, -_CLIP, _CLIP, out=out)
        return np.ascontiguousarray(out.transpose(0, 2, 1))

    def to_dict(self) -> dict:
        """A JSON-ready description (inverse: :meth:`from_dict`)."""
        return {"mode": self.mode, "center": list(self.center), "scale": list(self.scale), "min_scale": self.min_scale}

    @classmethod
    def from_dict(cls, data: dict) -> RobustScaler:
        """Rebuild a scaler written by :meth:`to_dict`."""
        return cls(str(data["mode"]), tuple(float(v) for v in data["center"]),
                   tuple(float(v) for v in data["scale"]), float(data.get("min_scale", 1e-3)))


def fit_scaler(mode: str, medians: list[float], q25: list[float], q75: list[float]) -> RobustScaler:
    """A scaler from per-channel training quantiles (computed where the data lives, e.g. by Spark).

    A channel with zero spread gets scale 1 so that scaling never divides by zero.
    """
    scale = [(hi - lo) / _IQR_TO_SIGMA if hi > lo else 1.0 for lo, hi in zip(q25, q75, strict=True)]
    return RobustScaler(mode, tuple(float(m) for m in medians), tuple(float(s) for s in scale))


def fit_scaler_numpy(mode: str, values: np.ndarray) -> RobustScaler:
    """A scaler fitted on an in-memory array ``(n,)`` or ``(n, c)`` (tests, benchmarks, small data)."""
    x = values[:, None] if values.ndim == 1 else values
    q25, med, q75 = np.percentile(x, [25.0, 50.0, 75.0], axis=0)
    return fit_scaler(mode, list(med), list(q25), list(q75))
