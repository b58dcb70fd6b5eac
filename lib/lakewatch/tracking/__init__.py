"""MLflow tracking and model registry for lakewatch detectors (section ``mlflow:`` of the configuration).

By concern: :mod:`~lakewatch.tracking.store` (settings, URIs, ``configure``, ``start_run``),
:mod:`~lakewatch.tracking.pyfunc` (the pyfunc wrapper of a detector, logging and loading it),
:mod:`~lakewatch.tracking.registry` (registration and the ``champion`` alias) and
:mod:`~lakewatch.tracking.spark_scoring` (scoring readings on Spark with a model). Importing this package sets
nothing in the environment; :func:`~lakewatch.tracking.store.configure` quiets MLflow when it is first used.
"""

from __future__ import annotations

from lakewatch.tracking.errors import TrackingError
from lakewatch.tracking.pyfunc import (
    ARTIFACT_KEY,
    INPUT_COLUMNS,
    MODEL_NAME_IN_RUN,
    SCORE_COLUMN,
    DetectorModel,
    load_model_detector,
    log_detector,
    score_frame,
)
from lakewatch.tracking.registry import NAB_METRIC, champion_uri, promote_if_better, register_version
from lakewatch.tracking.spark_scoring import resolve_model_location, score_with_model
from lakewatch.tracking.store import SECTION, MLflowSettings, configure, quiet_mlflow, resolve_settings, start_run

__all__ = [
    "ARTIFACT_KEY",
    "INPUT_COLUMNS",
    "MODEL_NAME_IN_RUN",
    "NAB_METRIC",
    "SCORE_COLUMN",
    "SECTION",
    "DetectorModel",
    "MLflowSettings",
    "TrackingError",
    "champion_uri",
    "configure",
    "load_model_detector",
    "log_detector",
    "promote_if_better",
    "quiet_mlflow",
    "register_version",
    "resolve_model_location",
    "resolve_settings",
    "score_frame",
    "score_with_model",
    "start_run",
]
