"""Section ``tuning:`` of the configuration: what to tune, over which space, how many trials at a time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lakewatch.config import Flag, Int, LakewatchConfig, NonNegativeInt, PositiveInt, validated
from lakewatch.evaluation.corpus import DEFAULT_CORPUS, resolve_corpus_path
from lakewatch.tuning.base import SearchSpace, TuningError, parse_space
from lakewatch.tuning.objective import PROFILES

SECTION = "tuning"
OBJECTIVES = ("nab", "f1")  # f1: only on a labelled lakehouse (--labels)


@dataclass(frozen=True)
class TuningSettings:
    """How ``jobs/tune.py`` searches: the registry detector to tune, the NAB corpus (relative paths are relative
    to the project root), the number of trials and how many run at once (0: Spark's default parallelism), the
    NAB profile to optimise, the objective (``nab``; with ``tune --labels`` also ``f1``: the labelled lakehouse's
    overall F1), the search seed, and one search space per detector name (``deep``: the space of
    ``--model-kind deep``, whose trials train ``deep_trial_epochs`` epochs each)."""

    detector: str = "lakewatch_nab"
    corpus: str = DEFAULT_CORPUS
    max_evals: PositiveInt = 24
    parallelism: NonNegativeInt = 0
    profile: str = "standard"
    objective: str = "nab"
    seed: Int = 42
    register: Flag = True
    example_rows: PositiveInt = 100
    deep_trial_epochs: PositiveInt = 2
    spaces: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the profile, objective and spaces (types and bounds: lakewatch.config.validated)."""
        if self.profile not in PROFILES:
            raise TuningError(f"tuning.profile {self.profile!r} is not one of {list(PROFILES)}")
        if self.objective not in OBJECTIVES:
            raise TuningError(f"tuning.objective {self.objective!r} is not one of {list(OBJECTIVES)}")
        if not isinstance(self.spaces, Mapping):
            raise TuningError(f"tuning.spaces must map detector names to search spaces, got {self.spaces!r}")

    @property
    def corpus_path(self) -> Path:
        """The corpus directory, resolved against the project root when relative."""
        return resolve_corpus_path(self.corpus)

    def space(self) -> SearchSpace:
        """The parsed search space of :attr:`detector`; raises :class:`TuningError` when there is none."""
        return self.space_for(self.detector)

    def space_for(self, name: str) -> SearchSpace:
        """The parsed search space ``tuning.spaces.<name>`` (a detector name, or ``deep``)."""
        if name not in self.spaces:
            raise TuningError(f"no search space for {'detector ' if name != 'deep' else ''}{name!r} in "
                              f"tuning.spaces; spaces are defined for {sorted(self.spaces)}")
        return parse_space(self.spaces[name], f"tuning.spaces.{name}")

    def with_overrides(self, **changes: Any) -> TuningSettings:
        """A copy with the given fields replaced (None values are ignored), validated again (ConfigError naming
        `tuning.<key>`)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        return validated(TuningSettings, {**current, **{k: v for k, v in changes.items() if v is not None}}, SECTION)


def tuning_settings(config: LakewatchConfig) -> TuningSettings:
    """The ``tuning:`` section of ``config`` as :class:`TuningSettings`."""
    return config.settings(SECTION, TuningSettings)
