"""Scoring readings on Spark with a logged or registered detector model: the model URI is pinned to one
version's files on the driver, and each applyInPandas group loads that model once per Python worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
from pyspark.sql import DataFrame

from lakewatch.config import LakewatchConfig
from lakewatch.scoring import SCORED_SCHEMA
from lakewatch.tracking.errors import TrackingError
from lakewatch.tracking.pyfunc import INPUT_COLUMNS, SCORE_COLUMN, load_pyfunc
from lakewatch.tracking.store import configure, quiet_mlflow


def resolve_model_location(model_uri: str) -> str:
    """Where a model's files are: a registry URI (alias or version) is pinned to its version's storage location,
    so every task scores with the same version without querying the registry; other URIs are returned as-is."""
    if not model_uri.startswith("models:/"):
        return model_uri
    try:
        return ModelsArtifactRepository.get_underlying_uri(model_uri)
    except MlflowException as exc:
        raise TrackingError(f"model {model_uri!r} not found in {mlflow.get_registry_uri()}: {exc.message}") from exc


_LOADED: dict[str, Any] = {}


def _cached_model(location: str) -> Any:
    if location not in _LOADED:
        quiet_mlflow()  # a Python worker never ran configure()
        _LOADED[location] = load_pyfunc(location)
    return _LOADED[location]


def _score_with(location: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def score(group: pd.DataFrame) -> pd.DataFrame:
        model = _cached_model(location)  # once per Python worker process
        group = group.sort_values(["timestamp", "channel"], kind="stable").reset_index(drop=True)
        group[SCORE_COLUMN] = model.predict(group[list(INPUT_COLUMNS)])[SCORE_COLUMN].to_numpy()
        return group[[*INPUT_COLUMNS, SCORE_COLUMN]]

    return score


def score_with_model(readings: DataFrame, model_uri: str, config: LakewatchConfig | None = None) -> DataFrame:
    """Score readings (series_id, channel, timestamp, value) on Spark with a logged or registered model, one
    applyInPandas group per (series_id, channel) in time order (per series_id for a multivariate detector);
    returns SCORED_SCHEMA rows. An alias is resolved once, on the driver; executors load the pinned version's
    files, so they must see the artifact store (a shared file system or object store)."""
    if config is not None:
        configure(config)
    location = resolve_model_location(model_uri)
    detector = load_pyfunc(location).unwrap_python_model().detector  # fails here, once, with a clear message
    keys = ["series_id"] if detector.channels > 1 else ["series_id", "channel"]
    columns = readings.select(*INPUT_COLUMNS)
    return columns.groupBy(*keys).applyInPandas(_score_with(location), SCORED_SCHEMA)
