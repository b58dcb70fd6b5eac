"""Hyperparameter tuning of detectors: a small Tuner interface (Hyperopt + SparkTrials behind it), the NAB
objective, the ``tuning:`` settings and the tuning run recorded in MLflow."""

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
