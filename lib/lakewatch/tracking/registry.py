"""The model registry: register a logged detector as a new version of the configured model and move the
``champion`` alias (no stages) to it when its NAB standard score beats the current champion's."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from lakewatch.config import LakewatchConfig
from lakewatch.tracking.errors import TrackingError
from lakewatch.tracking.store import MLflowSettings, configure, resolve_settings

NAB_METRIC = "nab_standard"
_LOG = logging.getLogger(__name__)


def _champion(client: MlflowClient, settings: MLflowSettings) -> Any | None:
    try:
        return client.get_model_version_by_alias(settings.registered_model, settings.champion_alias)
    except MlflowException:
        return None


def _version_score(client: MlflowClient, version: Any) -> float:
    run_id = version.tags.get("lakewatch.run_id") or version.run_id
    if not run_id:
        return float("-inf")
    value = client.get_run(run_id).data.metrics.get(NAB_METRIC)
    return float("-inf") if value is None else float(value)


def promote_if_better(config: LakewatchConfig, run_id: str, model_uri: str, nab_standard: float) -> tuple[int, bool]:
    """Register ``model_uri`` as a new version of the registered model and move the champion alias to it if its
    NAB standard score is strictly higher than the current champion's (the first version always becomes
    champion; old versions stay). Logs ``nab_standard`` on ``run_id``. Returns (version, became champion)."""
    settings = configure(config)
    client = MlflowClient()
    score = float(nab_standard)
    try:
        if client.get_run(run_id).data.metrics.get(NAB_METRIC) != score:
            client.log_metric(run_id, NAB_METRIC, score)
        champion = _champion(client, settings)
        best = _version_score(client, champion) if champion is not None else float("-inf")
        version = mlflow.register_model(model_uri, settings.registered_model,
                                        tags={"lakewatch.run_id": run_id, NAB_METRIC: repr(score)})
        number = int(version.version)
        promoted = champion is None or score > best
        if promoted:
            client.set_registered_model_alias(settings.registered_model, settings.champion_alias, number)
    except MlflowException as exc:
        raise TrackingError(f"registering {model_uri!r} as {settings.registered_model!r}: {exc.message}") from exc
    _LOG.info("registered %s version %s (nab_standard %.3f, champion %.3f): %s", settings.registered_model, number,
              score, best, "promoted" if promoted else "not promoted")
    return number, promoted


def register_version(config: LakewatchConfig, model_uri: str, tags: dict[str, str]) -> int:
    """Register ``model_uri`` as a new version of the registered model with ``tags``, leaving the champion alias
    where it is (for models whose score does not compare with the champion's NAB standard score, e.g. a
    multichannel detector tuned on a labelled lakehouse). Returns the version number."""
    settings = configure(config)
    try:
        version = mlflow.register_model(model_uri, settings.registered_model, tags=tags)
    except MlflowException as exc:
        raise TrackingError(f"registering {model_uri!r} as {settings.registered_model!r}: {exc.message}") from exc
    _LOG.info("registered %s version %s (champion alias unchanged)", settings.registered_model, version.version)
    return int(version.version)


def champion_uri(config: LakewatchConfig) -> str:
    """``models:/<registered model>@<champion alias>`` for the configured names."""
    settings = resolve_settings(config)
    return f"models:/{settings.registered_model}@{settings.champion_alias}"
