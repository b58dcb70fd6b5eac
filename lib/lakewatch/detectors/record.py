"""Record-deviation detector: is the current deviation from the local median the largest in a long while?

The deviation ``s = x - median(previous median_window values)`` is split into its upward and downward parts
(``two_sided``; otherwise ``|s|`` is used as one part). Each is compared with the largest deviation of the
same sign over the previous ``record_window`` rows (tracked as maxima of blocks of ``record_block`` rows):
``q = deviation / previous maximum``. The score is ``q / (q + ratio_offset)`` for the larger of the two
ratios, so 0.5 means "``ratio_offset`` times the previous record". Spikes and level shifts that dwarf
everything seen recently score high; the recurring spikes of a bursty series do not, because they set the
bar themselves. No score before ``warmup_rows`` rows.

State: the last ``median_window`` values (ring and sorted copy) and ``2 * record_window / record_block``
block maxima.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
from pydantic import Field

from lakewatch.config import Flag, Int, Number
from lakewatch.detectors._jit import jit
from lakewatch.detectors._kernels import sorted_median, sorted_push
from lakewatch.detectors.base import ArrayTree, Detector, DetectorParams, check_range, scratch_copy

_NO_RECORD_RATIO = 10.0  # ratio reported when a deviation appears after none at all


@jit
def _record_kernel(
    x: np.ndarray,
    ring: np.ndarray,
    srt: np.ndarray,
    pos_count: np.ndarray,
    block_max: np.ndarray,
    state: np.ndarray,
    counters: np.ndarray,
    warmup: int,
    two_sided: bool,
    out: np.ndarray,
) -> None:
    """Record ratios of ``x`` into ``out`` (shape ``(n,)``), updating the state arrays in place.

    ``block_max``: (2, blocks) maxima of complete blocks (up, down); ``state``: [open block max up, open block
    max down, max over complete blocks up, max over complete blocks down]; ``counters``: [rows seen, rows
    in the open block, next block slot, block length].
    """
    n = x.shape[0]
    n_blocks = block_max.shape[1]
    block_len = counters[3]
    for t in range(n):
        v = x[t]
        m = pos_count[1]
        dev = v - sorted_median(srt, m) if m > 0 else 0.0
        best = 0.0
        for side in range(2 if two_sided else 1):
            if two_sided:
                f = dev if side == 0 else -dev
                if f < 0.0:
                    f = 0.0
            else:
                f = abs(dev)
            prev = max(state[side], state[2 + side])
            if counters[0] >= warmup:
                if prev > 0.0:
                    q = f / prev
                elif f > 0.0:
                    q = _NO_RECORD_RATIO
                else:
                    q = 0.0
                if q > best:
                    best = q
            if f > state[side]:
                state[side] = f
        out[t] = best
        sorted_push(ring, srt, pos_count, v)
        counters[0] += 1
        counters[1] += 1
        if counters[1] == block_len:
            slot = counters[2]
            for side in range(2):
                block_max[side, slot] = state[side]
                state[side] = -np.inf
            counters[2] = (slot + 1) % n_blocks
            counters[1] = 0
            for side in range(2):
                mx = -np.inf
                for b in range(n_blocks):
                    mx = max(mx, block_max[side, b])
                state[2 + side] = mx


@dataclass(frozen=True)
class RecordParams(DetectorParams):
    """Parameters of :class:`RecordDetector` (see the module docstring)."""

    median_window: Annotated[Int, Field(ge=1, le=1_000_000)] = 200
    record_window: Annotated[Int, Field(le=100_000_000)] = 8000
    record_block: Annotated[Int, Field(ge=1, le=1_000_000)] = 50
    ratio_offset: Annotated[Number, Field(ge=1e-9)] = 1.1
    warmup_rows: Annotated[Int, Field(ge=0)] = 100
    two_sided: Flag = True

    def validate(self) -> None:
        """Check ranges; ``record_window`` must be a multiple of ``record_block``."""
        owner = "record_deviation"
        check_range(owner, "record_window", self.record_window, self.record_block)
        if self.record_window % self.record_block:
            check_range(owner, "record_window % record_block", self.record_window % self.record_block, 0, 0)


class RecordDetector(Detector):
    """Deviation from the local median relative to the recent record deviation (see the module docstring)."""

    kind = "record_deviation"
    params_type = RecordParams
    params: RecordParams

    def _init_arrays(self) -> ArrayTree:
        p = self.params
        n_blocks = p.record_window // p.record_block
        return {
            "ring": np.zeros(p.median_window),
            "srt": np.zeros(p.median_window),
            "pos_count": np.zeros(2, dtype=np.int64),
            "block_max": np.full((2, n_blocks), -np.inf),
            "state": np.full(4, -np.inf),
            "counters": np.array([0, 0, 0, p.record_block], dtype=np.int64),
        }

    def _score(self, arrays: ArrayTree, x: np.ndarray, ts: np.ndarray) -> np.ndarray:
        p = self.params
        ratio = np.zeros(len(x))
        self._ratios(arrays, x, ratio)
        return ratio / (ratio + p.ratio_offset)

    def _score_windows(self, arrays: ArrayTree, windows: np.ndarray, ts: np.ndarray) -> np.ndarray:
        ratio = np.zeros(windows.shape[:2])
        scratch, pairs = scratch_copy(arrays)
        for i in range(len(windows)):
            for dst, src in pairs:
                dst[...] = src
            self._ratios(scratch, windows[i], ratio[i])
        return ratio / (ratio + self.params.ratio_offset)

    def _ratios(self, arrays: ArrayTree, x: np.ndarray, ratio: np.ndarray) -> None:
        _record_kernel(
            x,
            arrays["ring"],
            arrays["srt"],
            arrays["pos_count"],
            arrays["block_max"],
            arrays["state"],
            arrays["counters"],
            self.params.warmup_rows,
            self.params.two_sided,
            ratio,
        )
