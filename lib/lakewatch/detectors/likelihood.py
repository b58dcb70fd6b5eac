"""Anomaly-likelihood post-processor (after Numenta's HTM anomaly likelihood); wraps any detector.

For each raw channel of the wrapped detector (its ``_raw`` output, values in ``[0, 1]``):

1. the short-term mean ``a`` of the last ``avg_window`` raw scores is compared with a Gaussian fitted to
   the long-run distribution of ``a`` (mean and variance over the last ``history`` values, skipping the
   first ``learning_rows`` rows, re-estimated every ``reestimate_every`` rows from row ``warmup_rows`` on,
   with the mean floored at ``min_mean`` and the variance at ``min_variance``): ``z = (a - mean) / std``;
2. the channels' ``z`` are combined (``median`` by default, or ``mean`` / ``max``) and turned into the
   two-sided Gaussian tail probability ``tail``;
3. with ``flagging: onset`` (the default, NAB's rules), consecutive rows in the red zone (``tail <= red_tail``)
   after the first are lifted to ``yellow_tail``, so that a long excursion reports its onset only; with
   ``flagging: hold`` every red row stays red, so a fault segment scores high while it lasts;
4. the score is the log-scaled likelihood that NAB's HTM detector reports:
   ``log(tail + 1e-10) / log(1e-10)`` (0.5 at ``tail = 1e-5``), or ``1 - tail`` with ``log_scale=False``.

Before ``warmup_rows`` the score is that of ``tail = 0.5``. With ``freeze_after_rows`` > 0 the long-run
distribution is learnt from the rows before that one only and then kept (healthy start calibration for
machines, so that a long fault does not become the new normal); 0 (the default) keeps learning. The long-run
statistics are kept as block sums (one block per ``reestimate_every`` rows), so the state stays small whatever
the history length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from lakewatch.config import Flag, Fraction, Int, Number
from lakewatch.detectors._jit import jit
from lakewatch.detectors.base import (
    FLAGGING,
    ArrayTree,
    Detector,
    DetectorParams,
    check_range,
)
from lakewatch.detectors.errors import DetectorParamsError

_COMBINE = {"median": 0, "mean": 1, "max": 2}
_LOG_FLOOR = 1e-10
_LOG_NORM = math.log(_LOG_FLOOR)


@jit
def _combine(z: np.ndarray, mode: int) -> float:
    """Median (0), mean (1) or max (2) of the channel z-scores."""
    n = z.shape[0]
    if n == 1:
        return z[0]
    if mode == 1:
        s = 0.0
        for k in range(n):
            s += z[k]
        return s / n
    if mode == 2:
        best = z[0]
        for k in range(1, n):
            best = max(best, z[k])
        return best
    w = z.copy()  # insertion sort: channels are few
    for k in range(1, n):
        v = w[k]
        j = k - 1
        while j >= 0 and w[j] > v:
            w[j + 1] = w[j]
            j -= 1
        w[j + 1] = v
    if n % 2 == 1:
        return w[n // 2]
    return 0.5 * (w[n // 2 - 1] + w[n // 2])


@jit
def _likelihood_kernel(
    raw: np.ndarray,
    avg_ring: np.ndarray,
    blocks: np.ndarray,
    current: np.ndarray,
    dist: np.ndarray,
    counters: np.ndarray,
    floats: np.ndarray,
    warmup: int,
    learning: int,
    reestimate: int,
    min_mean: float,
    min_variance: float,
    red_tail: float,
    yellow_tail: float,
    mode: int,
    log_scale: bool,
    lift: bool,
    freeze: int,
    fresh: bool,
    out: np.ndarray,
) -> None:
    """Likelihood scores of each window of ``raw`` (shape ``(windows, n, channels)``) into ``out`` (``(windows,
    n)``): with ``fresh`` each window from its own copy of the state arrays (left unchanged), otherwise the
    windows one after the other, updating the state arrays.

    ``counters``: [rows seen, next block slot, complete blocks]; ``floats``: [previous tail];
    ``blocks``/``current``: per channel (count, mean, M2) of complete blocks and of the open block;
    ``dist``: per channel (mean, std) of the current estimate.
    """
    for w in range(raw.shape[0]):
        if fresh:
            _likelihood_rows(raw[w], avg_ring.copy(), blocks.copy(), current.copy(), dist.copy(), counters.copy(),
                             floats.copy(), warmup, learning, reestimate, min_mean, min_variance, red_tail,
                             yellow_tail, mode, log_scale, lift, freeze, out[w])
        else:
            _likelihood_rows(raw[w], avg_ring, blocks, current, dist, counters, floats, warmup, learning,
                             reestimate, min_mean, min_variance, red_tail, yellow_tail, mode, log_scale, lift, freeze,
                             out[w])


@jit
def _likelihood_rows(raw, avg_ring, blocks, current, dist, counters, floats, warmup, learning, reestimate,
                     min_mean, min_variance, red_tail, yellow_tail, mode, log_scale, lift, freeze, out):
    """:func:`_likelihood_kernel` for one window ``raw`` ``(n, channels)``, updating the arrays it is given."""
    n, n_ch = raw.shape
    avg_window = avg_ring.shape[1]
    n_blocks = blocks.shape[1]
    z = np.empty(n_ch)
    a = np.empty(n_ch)
    i = counters[0]
    for t in range(n):
        slot = i % avg_window
        filled = min(i + 1, avg_window)
        for c in range(n_ch):
            avg_ring[c, slot] = raw[t, c]
            s = 0.0
            for k in range(filled):
                s += avg_ring[c, k]
            a[c] = s / filled
        tail = 0.5
        if i >= warmup:
            frozen = freeze > 0 and i > max(freeze, warmup)
            if not frozen and ((i - warmup) % reestimate == 0 or i == freeze):
                for c in range(n_ch):
                    cnt = current[c, 0]
                    mean = current[c, 1]
                    m2 = current[c, 2]
                    for b in range(min(counters[2], n_blocks)):
                        nb = blocks[c, b, 0]
                        if nb == 0.0:
                            continue
                        tot = cnt + nb
                        delta = blocks[c, b, 1] - mean
                        mean += delta * nb / tot
                        m2 += blocks[c, b, 2] + delta * delta * cnt * nb / tot
                        cnt = tot
                    if cnt > 0.0:
                        var = m2 / cnt
                        dist[c, 0] = max(mean, min_mean)
                        dist[c, 1] = math.sqrt(max(var, min_variance))
            for c in range(n_ch):
                z[c] = (a[c] - dist[c, 0]) / dist[c, 1]
            zc = _combine(z, mode)
            tail = 0.5 * math.erfc(abs(zc) / math.sqrt(2.0))
            if lift and tail <= red_tail and floats[0] <= red_tail:
                floats[0] = tail
                tail = yellow_tail
            else:
                floats[0] = tail
        if log_scale:
            out[t] = math.log(tail + _LOG_FLOOR) / _LOG_NORM
        else:
            out[t] = 1.0 - tail
        if i >= learning and (freeze == 0 or i < freeze):
            for c in range(n_ch):  # Welford update of the open block
                cnt = current[c, 0] + 1.0
                delta = a[c] - current[c, 1]
                current[c, 1] += delta / cnt
                current[c, 2] += delta * (a[c] - current[c, 1])
                current[c, 0] = cnt
            if current[0, 0] >= reestimate:
                slot_b = counters[1]
                for c in range(n_ch):
                    blocks[c, slot_b, 0] = current[c, 0]
                    blocks[c, slot_b, 1] = current[c, 1]
                    blocks[c, slot_b, 2] = current[c, 2]
                    current[c, 0] = 0.0
                    current[c, 1] = 0.0
                    current[c, 2] = 0.0
                counters[1] = (slot_b + 1) % n_blocks
                counters[2] += 1
        i += 1
    counters[0] = i


@dataclass(frozen=True)
class LikelihoodParams(DetectorParams):
    """Parameters of :class:`LikelihoodDetector` (see the module docstring)."""

    avg_window: Annotated[Int, Field(ge=1, le=100_000)] = 10
    history: Annotated[Int, Field(le=100_000_000)] = 8600
    reestimate_every: Annotated[Int, Field(ge=1, le=1_000_000)] = 300
    learning_rows: Annotated[Int, Field(ge=0)] = 50
    warmup_rows: Int = 150
    min_mean: Fraction = 0.03
    min_variance: Annotated[Number, Field(ge=1e-12, le=1.0)] = 0.0003
    red_tail: Annotated[Number, Field(ge=0.0, le=0.5)] = 1e-5
    yellow_tail: Annotated[Number, Field(ge=0.0, le=0.5)] = 1e-3
    combine: str = "median"
    log_scale: Flag = True
    flagging: str = "onset"
    freeze_after_rows: Annotated[Int, Field(ge=0)] = 0

    FINGERPRINT_NEUTRAL: ClassVar[dict[str, Any]] = {"flagging": "onset", "freeze_after_rows": 0}

    def validate(self) -> None:
        """Check ranges and that the history holds at least one block."""
        owner = "likelihood"
        check_range(owner, "history", self.history, self.reestimate_every)
        check_range(owner, "warmup_rows", self.warmup_rows, self.learning_rows + 1)
        if self.combine not in _COMBINE:
            raise DetectorParamsError(
                f"{owner}: parameter combine={self.combine!r} is not supported; expected one of {sorted(_COMBINE)}"
            )
        if self.flagging not in FLAGGING:
            raise DetectorParamsError(
                f"{owner}: parameter flagging={self.flagging!r} is not supported; expected one of {list(FLAGGING)}"
            )


class LikelihoodDetector(Detector):
    """Wraps a detector and reports the log-scaled anomaly likelihood of its raw channels."""

    kind = "likelihood"
    params_type = LikelihoodParams
    params: LikelihoodParams

    def __init__(self, base: Detector, params: Any = None, *, name: str | None = None) -> None:
        if not isinstance(base, Detector):
            raise DetectorParamsError(f"likelihood: base must be a Detector, got {type(base).__name__}")
        self.base = base
        super().__init__(params, name=name)

    @property
    def channels(self) -> int:
        """Value channels of the wrapped detector."""
        return self.base.channels

    @property
    def multivariate(self) -> bool:  # type: ignore[override]
        """Whether the wrapped detector takes several channels."""
        return self.base.multivariate

    @property
    def partial_rows(self) -> bool:
        """As the wrapped detector."""
        return self.base.partial_rows

    def children(self) -> dict[str, Detector]:
        """The wrapped detector, under key ``base``."""
        return {"base": self.base}

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        n_ch = self.base.raw_channels
        return {
            "base": self.base._init_arrays(),
            "avg_ring": np.zeros((n_ch, p.avg_window)),
            "blocks": np.zeros((n_ch, p.history // p.reestimate_every, 3)),
            "current": np.zeros((n_ch, 3)),
            "dist": np.tile(np.array([0.5, 1e3]), (n_ch, 1)),
            "counters": np.zeros(3, dtype=np.int64),
            "floats": np.array([1.0]),
        }

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(np.clip(self.base._raw(arrays["base"], x, ts), 0.0, 1.0))
        out = np.zeros(len(x))
        self._likelihood(arrays, raw, out)
        return out

    def _score_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(np.clip(self.base._raw_windows(arrays["base"], windows, ts), 0.0, 1.0))
        out = np.zeros(windows.shape[:2])
        self._likelihood(arrays, raw, out, fresh=True)
        return out

    def _likelihood(self, arrays: ArrayTree, raw: np.ndarray, out: np.ndarray, fresh: bool = False) -> None:
        """Scores of ``raw`` rows ``(n, channels)`` into ``out`` updating ``arrays``, or (``fresh``) of windows
        ``(k, n, channels)`` into ``out`` ``(k, n)``, each window from its own copy of ``arrays``."""
        p = self.params
        _likelihood_kernel(
            raw if fresh else raw[None],
            arrays["avg_ring"],
            arrays["blocks"],
            arrays["current"],
            arrays["dist"],
            arrays["counters"],
            arrays["floats"],
            p.warmup_rows,
            p.learning_rows,
            p.reestimate_every,
            p.min_mean,
            p.min_variance,
            p.red_tail,
            p.yellow_tail,
            _COMBINE[p.combine],
            p.log_scale,
            p.flagging == "onset",
            p.freeze_after_rows,
            fresh,
            out if fresh else out[None],
        )
