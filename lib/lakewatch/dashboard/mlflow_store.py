"""The Models page's MLflow side: recent runs and the registry's champion, through MlflowClient on the configured
store; nothing is read (or created) when the store does not exist yet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lakewatch.config import LakewatchConfig

RUNS = ["run_id", "run_name", "status", "start_time", "nab_standard", "detector", "job"]


@dataclass(frozen=True)
class MlflowStore:
    """Where the MLflow tracking/registry store is and the names the project uses in it."""

    uri: str | None  # None: no store yet
    experiment: str
    registered_model: str
    champion_alias: str
    where: str  # the store as shown to a person (the SQLite file, or the URI)


def mlflow_store(config: LakewatchConfig) -> MlflowStore:
    """The configured store (``mlflow.tracking_uri``, default the lakehouse's SQLite file); uri None when that
    SQLite file does not exist (opening it would create an empty store)."""
    section = config.raw.get("mlflow") or {}
    names = (str(section.get("experiment") or "lakewatch"),
             str(section.get("registered_model") or "lakewatch-detector"),
             str(section.get("champion_alias") or "champion"))
    uri = str(section.get("tracking_uri") or "")
    if not uri:
        db = config.lakehouse.mlflow_db
        return MlflowStore(f"sqlite:///{db.resolve()}" if db.is_file() else None, *names, str(db))
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).is_file():
        return MlflowStore(None, *names, uri)
    return MlflowStore(uri, *names, uri)


def _client(store: MlflowStore):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store.uri, registry_uri=store.uri)


def recent_runs(store: MlflowStore, limit: int = 20) -> pd.DataFrame:
    """The newest `limit` runs of the project's experiment: run_id, run_name, status, start_time, nab_standard
    (metric, when logged), detector and job (tags or params, when present)."""
    if store.uri is None:
        return pd.DataFrame(columns=RUNS)
    client = _client(store)
    experiment = client.get_experiment_by_name(store.experiment)
    if experiment is None:
        return pd.DataFrame(columns=RUNS)
    rows = []
    found = client.search_runs([experiment.experiment_id], max_results=limit,
                               order_by=["attributes.start_time DESC"])
    for run in found:
        metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
        standard = metrics.get("nab_standard")
        rows.append({"run_id": run.info.run_id, "run_name": run.info.run_name, "status": run.info.status,
                     "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"), "nab_standard": standard,
                     "detector": tags.get("lakewatch.detector") or params.get("detector"),
                     "job": tags.get("lakewatch.job")})
    return pd.DataFrame(rows, columns=RUNS)


def champion(store: MlflowStore) -> dict | None:
    """The registered model version the champion alias points at (version, run_id, source, created), or None."""
    if store.uri is None:
        return None
    from mlflow.exceptions import MlflowException

    try:
        version = _client(store).get_model_version_by_alias(store.registered_model, store.champion_alias)
    except MlflowException:
        return None
    return {"model": store.registered_model, "alias": store.champion_alias, "version": version.version,
            "run_id": version.run_id, "source": version.source,
            "created": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC")}
