"""The tuner interface: a library-neutral search space, an objective, and the results of a search.

A search space is read from configuration as ``{param: {<kind>: [args]}}``:

* ``uniform: [low, high]`` and ``loguniform: [low, high]`` - floats (log-uniform needs ``low > 0``);
* ``quniform: [low, high, q]`` - multiples of ``q``; integers when low, high and q are integers;
* ``int: [low, high]`` - integers, both ends included;
* ``choice: [a, b, ...]`` - one of the listed values.

A :class:`Tuner` minimises an objective (a picklable callable taking a dict of parameters and returning an
:class:`ObjectiveResult`) over such a space. Hyperopt is one implementation (:mod:`lakewatch.tuning.hyperopt`);
another library can replace it by implementing :meth:`Tuner.search`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lakewatch.errors import LakewatchError

KINDS = {"uniform": 2, "loguniform": 2, "quniform": 3, "int": 2, "choice": None}


class TuningError(LakewatchError):
    """A search space, objective or tuning run is invalid, or every trial failed."""


@dataclass(frozen=True)
class ParamSpec:
    """One dimension of a search space: a parameter name, a kind (see the module docstring) and its arguments."""

    name: str
    kind: str
    args: tuple[Any, ...]

    @property
    def integer(self) -> bool:
        """Whether sampled values are integers."""
        if self.kind == "int":
            return True
        return self.kind == "quniform" and all(float(a).is_integer() for a in self.args)

    def cast(self, value: Any) -> Any:
        """A sampled value as the plain Python value the objective gets (ints for integer dimensions)."""
        if self.kind == "choice":
            return value.item() if hasattr(value, "item") else value
        return round(float(value)) if self.integer else float(value)


SearchSpace = tuple[ParamSpec, ...]


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TuningError(f"{where}: {value!r} is not a finite number")
    return float(value)


def parse_param(name: str, raw: Any, where: str) -> ParamSpec:
    """Parse one ``{kind: [args]}`` entry of a search space; ``where`` names it in errors."""
    where = f"{where}.{name}"
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise TuningError(f"{where}: expected one mapping entry like {{uniform: [low, high]}}, got {raw!r}")
    kind, args = next(iter(raw.items()))
    if kind not in KINDS:
        raise TuningError(f"{where}: kind {kind!r} is not one of {sorted(KINDS)}")
    if not isinstance(args, list | tuple) or not args:
        raise TuningError(f"{where}: {kind} needs a non-empty list of arguments, got {args!r}")
    arity = KINDS[kind]
    if arity is not None and len(args) != arity:
        raise TuningError(f"{where}: {kind} takes {arity} arguments, got {len(args)}: {list(args)}")
    if kind != "choice":
        numbers = [_number(where, a) for a in args]
        if numbers[0] >= numbers[1]:
            raise TuningError(f"{where}: {kind} low {args[0]!r} must be below high {args[1]!r}")
        if kind == "loguniform" and numbers[0] <= 0:
            raise TuningError(f"{where}: loguniform low {args[0]!r} must be positive")
        if kind == "quniform" and numbers[2] <= 0:
            raise TuningError(f"{where}: quniform step q={args[2]!r} must be positive")
    return ParamSpec(str(name), str(kind), tuple(args))


def parse_space(raw: Any, where: str = "search space") -> SearchSpace:
    """Parse a search space mapping ``{param: {kind: [args]}}``; raises :class:`TuningError` naming the entry."""
    if not isinstance(raw, Mapping) or not raw:
        raise TuningError(f"{where}: expected a non-empty mapping of parameter -> {{kind: [args]}}, got {raw!r}")
    return tuple(parse_param(str(name), spec, where) for name, spec in raw.items())


@dataclass(frozen=True)
class ObjectiveResult:
    """What one evaluation of the objective returns: the loss to minimise and any metrics worth recording."""

    loss: float
    metrics: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


Objective = Callable[[dict[str, Any]], ObjectiveResult]


@dataclass(frozen=True)
class TrialResult:
    """One trial: its number (0-based, in the order trials started), parameters and outcome."""

    number: int
    params: Mapping[str, Any]
    status: str  # "ok" or "fail"
    loss: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the trial finished with a loss."""
        return self.status == "ok" and self.loss is not None


@dataclass(frozen=True)
class TuningResult:
    """The outcome of a search: the best parameters and loss, and every trial."""

    best_params: Mapping[str, Any]
    best_loss: float
    trials: list[TrialResult]

    @property
    def best_trial(self) -> TrialResult:
        """The successful trial with the lowest loss (the first such one on ties)."""
        return min((t for t in self.trials if t.ok), key=lambda t: (t.loss, t.number))


def summarise(trials: list[TrialResult]) -> TuningResult:
    """A :class:`TuningResult` from finished trials; raises :class:`TuningError` when none succeeded."""
    good = [t for t in trials if t.ok]
    if not good:
        errors = sorted({t.error or "no loss" for t in trials})
        raise TuningError(f"all {len(trials)} trial(s) failed; errors: {errors[:3]}")
    best = min(good, key=lambda t: (t.loss, t.number))
    return TuningResult(dict(best.params), float(best.loss), sorted(trials, key=lambda t: t.number))


class Tuner(ABC):
    """Minimises an objective over a search space."""

    @abstractmethod
    def search(self, objective: Objective, space: SearchSpace, max_evals: int, parallelism: int) -> TuningResult:
        """Evaluate ``objective`` on up to ``max_evals`` points of ``space``, at most ``parallelism`` at a time.

        A trial whose objective raises is recorded as failed (status "fail" and its error); raises
        :class:`TuningError` when every trial failed.
        """
