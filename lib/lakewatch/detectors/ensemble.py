"""Ensemble of detectors with a flagging policy: onset with suppression, or hold with hysteresis.

Every member scores the same rows; the ensemble score is the ``max`` (or ``mean``) of the member scores.
Then the flagging policy applies (``flagging``):

* ``onset`` (the default; NAB rewards a window's first alarm and penalises the rest): after a row scoring at
  least ``suppress_threshold``, the next ``suppress_rows`` rows are multiplied by ``suppress_factor``
  (0 silences them; ``suppress_rows: 0`` disables suppression);
* ``hold`` (plant faults are segments, flagged while they last): once a row scores at least
  ``hold_threshold`` the alarm is on and every following row scores at least ``hold_threshold`` until
  ``hold_rows`` consecutive rows have scored below ``hold_release`` (hysteresis: a fault's score that dips
  between the two levels, or below the lower one for fewer than ``hold_rows`` rows, stays flagged).
  Flag with ``threshold <= hold_threshold``.

An ensemble with a single member is the way to add a flagging policy to any detector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from lakewatch.config import Fraction, Int
from lakewatch.detectors._jit import jit
from lakewatch.detectors.base import FLAGGING, ArrayTree, Detector, DetectorParams
from lakewatch.detectors.errors import DetectorParamsError

_COMBINE = ("max", "mean")


@jit
def _suppress_kernel(scores: np.ndarray, left: np.ndarray, threshold: float, rows: int, factor: float) -> None:
    """Dampen, in place, the ``rows`` rows following each score ``>= threshold``; ``left`` carries the count."""
    remaining = left[0]
    for t in range(scores.shape[0]):
        if remaining > 0:
            scores[t] *= factor
            remaining -= 1
        elif scores[t] >= threshold:
            remaining = rows
    left[0] = remaining


@jit
def _hold_kernel(scores: np.ndarray, hold: np.ndarray, on_level: float, release: float, rows: int) -> None:
    """Hysteresis, in place: once a score reaches ``on_level`` raise every score to at least ``on_level`` until
    ``rows`` consecutive scores fall below ``release``; ``hold`` carries [alarm on, rows below release]."""
    on = hold[0]
    below = hold[1]
    for t in range(scores.shape[0]):
        s = scores[t]
        if on == 0:
            if s >= on_level:
                on = 1
                below = 0
            continue
        below = below + 1 if s < release else 0
        if below >= rows:
            on = 0
            below = 0
        elif s < on_level:
            scores[t] = on_level
    hold[0] = on
    hold[1] = below


@jit
def _suppress_windows_kernel(scores: np.ndarray, left: int, threshold: float, rows: int, factor: float) -> None:
    """:func:`_suppress_kernel` on each row of ``scores`` (k, m), each starting from the same count ``left``."""
    for i in range(scores.shape[0]):
        remaining = left
        for t in range(scores.shape[1]):
            if remaining > 0:
                scores[i, t] *= factor
                remaining -= 1
            elif scores[i, t] >= threshold:
                remaining = rows


@jit
def _hold_windows_kernel(scores: np.ndarray, hold: np.ndarray, on_level: float, release: float, rows: int) -> None:
    """:func:`_hold_kernel` on each row of ``scores`` (k, m), each from its own copy of ``hold`` (left unchanged)."""
    for i in range(scores.shape[0]):
        _hold_kernel(scores[i], hold.copy(), on_level, release, rows)


@dataclass(frozen=True)
class EnsembleParams(DetectorParams):
    """Parameters of :class:`EnsembleDetector` (see the module docstring)."""

    combine: str = "max"
    suppress_threshold: Fraction = 0.5
    suppress_rows: Annotated[Int, Field(ge=0, le=100_000_000)] = 100
    suppress_factor: Fraction = 0.0
    flagging: str = "onset"
    hold_threshold: Fraction = 0.5
    hold_release: Fraction = 0.3
    hold_rows: Annotated[Int, Field(ge=1, le=100_000_000)] = 5

    FINGERPRINT_NEUTRAL: ClassVar[dict[str, Any]] = {
        "flagging": "onset", "hold_threshold": 0.5, "hold_release": 0.3, "hold_rows": 5,
    }

    def validate(self) -> None:
        """Check the combination rule, the flagging policy and its levels (``suppress_rows=0`` disables
        suppression; ``hold_release`` must not exceed ``hold_threshold``)."""
        if self.combine not in _COMBINE:
            raise DetectorParamsError(
                f"ensemble: parameter combine={self.combine!r} is not supported; expected one of {list(_COMBINE)}"
            )
        if self.flagging not in FLAGGING:
            raise DetectorParamsError(
                f"ensemble: parameter flagging={self.flagging!r} is not supported; expected one of {list(FLAGGING)}"
            )
        if self.hold_release > self.hold_threshold:
            raise DetectorParamsError(
                f"ensemble: parameter hold_release={self.hold_release!r} is above hold_threshold="
                f"{self.hold_threshold!r}; expected hold_release <= hold_threshold"
            )


class EnsembleDetector(Detector):
    """Combines member detectors' scores (max or mean) and suppresses repeated alarms."""

    kind = "ensemble"
    params_type = EnsembleParams
    params: EnsembleParams

    def __init__(self, members: Sequence[Detector], params: Any = None, *, name: str | None = None) -> None:
        members = list(members)
        if not members or not all(isinstance(m, Detector) for m in members):
            raise DetectorParamsError(
                f"ensemble: members must be a non-empty list of Detector, got {[type(m).__name__ for m in members]}"
            )
        channels = {m.channels for m in members}
        if len(channels) > 1:
            raise DetectorParamsError(
                f"ensemble: members expect different channel counts {sorted(channels)}; expected one count"
            )
        self.members = members
        super().__init__(params, name=name)

    @property
    def channels(self) -> int:
        """Value channels of the members (all members agree)."""
        return self.members[0].channels

    @property
    def multivariate(self) -> bool:  # type: ignore[override]
        """Whether the members take several channels."""
        return any(m.multivariate for m in self.members)

    @property
    def partial_rows(self) -> bool:
        """Whether every member scores rows with missing channels itself."""
        return all(m.partial_rows for m in self.members)

    def children(self) -> dict[str, Detector]:
        """Members under keys ``m0``, ``m1``, ..."""
        return {f"m{i}": member for i, member in enumerate(self.members)}

    def _init_arrays(self) -> ArrayTree:
        arrays: ArrayTree = {key: child._init_arrays() for key, child in self.children().items()}
        arrays["suppress_left"] = np.zeros(1, dtype=np.int64)
        if self.params.flagging == "hold":
            arrays["hold"] = np.zeros(2, dtype=np.int64)
        return arrays

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p = self.params
        member_scores = np.stack(
            [np.clip(child._score(arrays[key], x, ts), 0.0, 1.0) for key, child in self.children().items()]
        )
        combined = member_scores.max(axis=0) if p.combine == "max" else member_scores.mean(axis=0)
        combined = np.ascontiguousarray(combined)
        if p.flagging == "hold":
            _hold_kernel(combined, arrays["hold"], p.hold_threshold, p.hold_release, p.hold_rows)
        elif p.suppress_rows > 0:
            _suppress_kernel(
                combined, arrays["suppress_left"], p.suppress_threshold, p.suppress_rows, p.suppress_factor
            )
        return combined

    def _score_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p = self.params
        member_scores = np.stack([np.clip(child._score_windows(arrays[key], windows, ts), 0.0, 1.0)
                                  for key, child in self.children().items()])
        combined = member_scores.max(axis=0) if p.combine == "max" else member_scores.mean(axis=0)
        combined = np.ascontiguousarray(combined)
        if p.flagging == "hold":
            _hold_windows_kernel(combined, arrays["hold"], p.hold_threshold, p.hold_release, p.hold_rows)
        elif p.suppress_rows > 0:
            _suppress_windows_kernel(combined, int(arrays["suppress_left"][0]), p.suppress_threshold,
                                     p.suppress_rows, p.suppress_factor)
        return combined
