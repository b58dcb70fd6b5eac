"""Hyperparameter tuning of detectors: a small Tuner interface (Hyperopt + SparkTrials behind it), the NAB
objective and the labelled-lakehouse one (``entities``: F1 or NAB window score per entity, as evaluate scores),
the ``tuning:`` settings and the tuning runs recorded in MLflow (``run``, ``lakehouse_run``, ``deep``)."""

from lakewatch.tuning.base import (
    Objective,
    ObjectiveResult,
    ParamSpec,
    SearchSpace,
    TrialResult,
    Tuner,
    TuningError,
    TuningResult,
    parse_space,
)
from lakewatch.tuning.hyperopt_tuner import HyperoptTuner
from lakewatch.tuning.objective import NabObjective
from lakewatch.tuning.settings import TuningSettings, tuning_settings

__all__ = [
    "HyperoptTuner",
    "NabObjective",
    "Objective",
    "ObjectiveResult",
    "ParamSpec",
    "SearchSpace",
    "TrialResult",
    "Tuner",
    "TuningError",
    "TuningResult",
    "TuningSettings",
    "parse_space",
    "tuning_settings",
]
