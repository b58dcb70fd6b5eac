"""The MLflow store (section ``mlflow:`` of the configuration): settings, URIs, pointing MLflow at the store and
starting a run stamped with lakewatch's provenance.

The tracking store and the registry share one URI: by default a SQLite file under the table root
(``sqlite:////<table_root>/_mlflow/mlflow.db``, four slashes for an absolute path; under the working directory
when the table root is remote) with artifacts in ``<table_root>/_mlflow/artifacts`` set explicitly on the
experiment. Runs are logged from the driver only (SQLite locks under parallel writers).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.telemetry import set_telemetry_client
from mlflow.tracking import MlflowClient

from lakewatch.config import LakewatchConfig, project_root
from lakewatch.provenance import git_commit
from lakewatch.tracking.errors import TrackingError

SECTION = "mlflow"
_KNOWN_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")
#: Set (unless already set) before lakewatch uses MLflow: jobs run without a network, where telemetry only
#: times out, and a progress bar per artifact download floods the job's log.
QUIET_ENVIRONMENT = {"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


@dataclass(frozen=True)
class MLflowSettings:
    """Section ``mlflow:``; empty URIs mean the defaults under the table root."""

    tracking_uri: str = ""
    artifact_root: str = ""
    experiment: str = "lakewatch"
    registered_model: str = "lakewatch-detector"
    champion_alias: str = "champion"


#: Loggers whose INFO lines only narrate a new store's set-up (database tables created, migrations run).
QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")


def quiet_mlflow() -> None:
    """Turn MLflow's telemetry and artifact progress bars off in this process (variables already set win), and its
    INFO lines about creating and migrating a new store's database (a job's error stays one line on a fresh
    lakehouse).

    MLflow creates its telemetry client when it is imported but checks the variable before each event; the
    client is re-initialised so that it is dropped once telemetry is off."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    changed = False
    for name, value in QUIET_ENVIRONMENT.items():
        if name not in os.environ:
            os.environ[name] = value
            changed = True
    if changed:
        set_telemetry_client()


# ---------------------------------------------------------------------------------------------- configuration
def resolve_settings(config: LakewatchConfig) -> MLflowSettings:
    """The ``mlflow:`` section with the default URI and artifact root filled in and both checked."""
    settings = config.settings(SECTION, MLflowSettings)
    lakehouse = config.lakehouse
    uri = settings.tracking_uri or f"sqlite:///{lakehouse.mlflow_db.resolve()}"
    artifacts = settings.artifact_root or str(lakehouse.mlflow_artifacts)
    if "://" not in artifacts:
        path = Path(artifacts)
        artifacts = (path if path.is_absolute() else project_root() / path).resolve().as_uri()
    for key in ("experiment", "registered_model", "champion_alias"):
        if not str(getattr(settings, key)).strip():
            raise TrackingError(f"config mlflow.{key} is empty; expected a name")
    _check_uri(uri)
    return replace(settings, tracking_uri=uri, artifact_root=artifacts)


def _check_uri(uri: str) -> None:
    scheme = urlparse(uri).scheme
    if scheme not in _KNOWN_SCHEMES:
        raise TrackingError(f"config mlflow.tracking_uri {uri!r}: scheme {scheme!r} is not one of {_KNOWN_SCHEMES}")
    if scheme == "sqlite":
        path = uri[len("sqlite:///"):] if uri.startswith("sqlite:///") else ""
        if not path.startswith("/"):
            raise TrackingError(f"config mlflow.tracking_uri {uri!r} is not an absolute SQLite path; "
                                "write sqlite:////absolute/path/mlflow.db (four slashes)")


def configure(config: LakewatchConfig) -> MLflowSettings:
    """Point MLflow's tracking and registry at the configured store and select the experiment, creating it with
    an explicit artifact location if needed; returns the resolved settings."""
    settings = resolve_settings(config)
    quiet_mlflow()
    if settings.tracking_uri.startswith("sqlite:///"):
        db = Path(settings.tracking_uri[len("sqlite:///"):])
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrackingError(f"config mlflow.tracking_uri {settings.tracking_uri!r}: cannot create {db.parent} "
                                f"({exc})") from exc
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    try:
        client = MlflowClient()
        experiment = client.get_experiment_by_name(settings.experiment)
        if experiment is None:
            experiment_id = client.create_experiment(settings.experiment, artifact_location=settings.artifact_root)
        elif experiment.lifecycle_stage != "active":
            raise TrackingError(f"MLflow experiment {settings.experiment!r} in {settings.tracking_uri} is deleted; "
                                "restore it or configure another mlflow.experiment")
        else:
            experiment_id = experiment.experiment_id
        mlflow.set_experiment(experiment_id=experiment_id)
    except TrackingError:
        raise
    except MlflowException as exc:
        raise TrackingError(f"MLflow store {settings.tracking_uri!r} cannot be used: {exc.message}") from exc
    except Exception as exc:  # the SQL layer raises its own errors for unreachable stores
        raise TrackingError(f"MLflow store {settings.tracking_uri!r} cannot be used: "
                            f"{type(exc).__name__}: {exc}") from exc
    return settings


@contextmanager
def start_run(config: LakewatchConfig, job: str, run_name: str | None = None,
              nested: bool = False) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run in the configured experiment, tagged with the job, git commit and config hash."""
    configure(config)
    commit = git_commit()
    tags = {"lakewatch.job": job, "lakewatch.git_commit": commit, "lakewatch.config_hash": config.config_hash,
            "lakewatch.env": config.env, "mlflow.source.git.commit": commit}
    with mlflow.start_run(run_name=run_name, tags=tags, nested=nested) as run:
        yield run
