"""Seeded multichannel machines with labelled fault segments (benchmark data for multichannel detectors).

A machine is an entity with ``channels`` sensors read at the same five-minute instants. Healthy, its channels
are linear mixtures of three latent factors plus sensor noise: a daily load cycle, a slow load wander and a
faster process wander (AR(1) processes), so channels move together with fixed correlations. Each channel has its
own offset, gain and noise level (units differ, as on a real machine). The first ``healthy_rows`` rows are
healthy; then one fault of each kind (:data:`FAULT_KINDS`), in a random order, lasts ``fault_rows`` rows
(random within the range), separated by healthy gaps:

* ``drift``: one sensor drifts linearly, reaching ``drift_sigmas`` healthy standard deviations at the end;
* ``stuck``: one sensor repeats its value from the fault's first row;
* ``correlation_break``: one sensor follows its factors with the opposite sign (wiring or linkage fault);
* ``level_shift_pair``: two sensors shift by ``shift_sigmas`` healthy standard deviations at once;
* ``rising_vibration``: two sensors get extra noise whose standard deviation grows linearly to
  ``vibration_sigmas`` healthy standard deviations.

Every row of a fault segment is labelled (``labels``) with its kind (``kinds``). A machine is a pure function of
``(seed, index)``. Pure numpy: the Spark source that ingests these machines is still to be written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FAULT_KINDS = ("drift", "stuck", "correlation_break", "level_shift_pair", "rising_vibration")
STEP_NS = 5 * 60 * 1_000_000_000
START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z
DAY_ROWS = 288


@dataclass(frozen=True)
class FaultSegment:
    """One planted fault: rows ``start`` to ``end`` (exclusive) of the machine, on ``channels``."""

    kind: str
    start: int
    end: int
    channels: tuple[int, ...]


@dataclass(frozen=True)
class Machine:
    """A generated machine: ``values`` ``(rows, channels)``, ``timestamps`` int64 epoch ns, ``labels`` bool per
    row (inside a fault segment), ``kinds`` the fault kind per row ('' when healthy) and the ``segments``."""

    entity_id: str
    values: np.ndarray
    timestamps: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    segments: tuple[FaultSegment, ...]


@dataclass(frozen=True)
class MachineSpec:
    """Shape and fault severities of generated machines (severities in healthy standard deviations)."""

    channels: int = 8
    healthy_rows: int = 1000
    fault_rows: tuple[int, int] = (150, 350)
    gap_rows: tuple[int, int] = (150, 400)
    drift_sigmas: float = 4.0
    shift_sigmas: float = 2.5
    vibration_sigmas: float = 3.0

    def __post_init__(self) -> None:
        if self.channels < 3:
            raise ValueError(f"MachineSpec: channels={self.channels}; expected at least 3 (faults on two sensors)")
        for name in ("fault_rows", "gap_rows"):
            low, high = getattr(self, name)
            if not 1 <= low <= high:
                raise ValueError(f"MachineSpec: {name}=({low}, {high}); expected 1 <= low <= high")
        if self.healthy_rows < 1:
            raise ValueError(f"MachineSpec: healthy_rows={self.healthy_rows}; expected at least 1")

    @property
    def rows(self) -> int:
        """Rows of every machine: the healthy start, then room for the longest faults and gaps."""
        return self.healthy_rows + len(FAULT_KINDS) * (self.fault_rows[1] + self.gap_rows[1])


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """A unit-variance AR(1) series."""
    eps = rng.normal(0.0, np.sqrt(1.0 - phi * phi), n)
    out = np.empty(n)
    out[0] = rng.normal()
    for t in range(1, n):
        out[t] = phi * out[t - 1] + eps[t]
    return out


def generate_machine(seed: int, index: int, spec: MachineSpec | None = None) -> Machine:
    """Machine ``index`` of the family ``seed`` (see the module docstring)."""
    spec = spec or MachineSpec()
    rng = np.random.default_rng([seed, index])
    n, p = spec.rows, spec.channels
    t = np.arange(n)
    factors = np.stack([
        np.sqrt(2.0) * np.sin(2 * np.pi * t / DAY_ROWS + rng.uniform(0, 2 * np.pi)),
        _ar1(rng, n, 0.995),
        _ar1(rng, n, 0.9),
    ], axis=1)
    loadings = np.stack([
        rng.uniform(0.6, 1.4, p) * rng.choice([-1.0, 1.0], p),
        rng.normal(0.0, 0.8, p),
        rng.normal(0.0, 0.5, p),
    ], axis=1)
    signal = factors @ loadings.T
    noise_sd = rng.uniform(0.15, 0.3, p) * signal.std(axis=0)
    noise = rng.normal(0.0, 1.0, (n, p)) * noise_sd
    healthy_sd = np.sqrt(signal[: spec.healthy_rows].var(axis=0) + noise_sd**2)
    unit = signal + noise  # values in "signal units"; offsets and gains are applied at the end
    labels = np.zeros(n, dtype=bool)
    kinds = np.full(n, "", dtype=object)
    segments = []
    start = spec.healthy_rows + int(rng.integers(spec.gap_rows[0], spec.gap_rows[1] + 1)) // 2
    for kind in rng.permutation(FAULT_KINDS):
        length = int(rng.integers(spec.fault_rows[0], spec.fault_rows[1] + 1))
        end = min(start + length, n)
        seg = slice(start, end)
        pair = tuple(int(c) for c in rng.choice(p, 2, replace=False))
        chans = pair[:1] if kind in ("drift", "stuck", "correlation_break") else pair
        c = chans[0]
        ramp = np.arange(end - start) / max(end - start - 1, 1)
        if kind == "drift":
            unit[seg, c] += spec.drift_sigmas * healthy_sd[c] * ramp
        elif kind == "stuck":
            unit[seg, c] = unit[start, c]
        elif kind == "correlation_break":
            unit[seg, c] = -signal[seg, c] + noise[seg, c]
        elif kind == "level_shift_pair":
            sign = rng.choice([-1.0, 1.0])
            for ch in chans:
                unit[seg, ch] += sign * spec.shift_sigmas * healthy_sd[ch]
        else:  # rising_vibration
            for ch in chans:
                unit[seg, ch] += rng.normal(0.0, 1.0, end - start) * spec.vibration_sigmas * healthy_sd[ch] * ramp
        labels[seg] = True
        kinds[seg] = str(kind)
        segments.append(FaultSegment(str(kind), start, end, chans))
        start = end + int(rng.integers(spec.gap_rows[0], spec.gap_rows[1] + 1))
    offsets = rng.uniform(10.0, 100.0, p)
    gains = rng.uniform(0.5, 5.0, p)
    values = offsets + gains * unit
    timestamps = START_NS + t.astype(np.int64) * STEP_NS
    return Machine(f"machine-{seed}-{index:03d}", values, timestamps, labels, kinds, tuple(segments))


def generate_machines(count: int, seed: int = 0, spec: MachineSpec | None = None) -> list[Machine]:
    """``count`` machines of the family ``seed`` (machine ``i`` is ``generate_machine(seed, i, spec)``)."""
    if count < 1:
        raise ValueError(f"generate_machines: count={count}; expected at least 1")
    return [generate_machine(seed, i, spec) for i in range(count)]
