"""MLflow tracking and model registry for lakewatch detectors (section ``mlflow:`` of the configuration).

The tracking store and the registry share one URI: by default a SQLite file under the table root
(``sqlite:////<table_root>/_mlflow/mlflow.db``, four slashes for an absolute path) with artifacts in
``<table_root>/_mlflow/artifacts`` set explicitly on the experiment. Runs are logged from the driver only
(SQLite locks under parallel writers). A detector is logged as a pyfunc model wrapping its
:func:`lakewatch.detectors.persist.save_detector` directory; versions of the registered model are promoted with
the alias ``champion`` (no stages) when their NAB standard score beats the current champion's.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
from pyspark.sql import DataFrame

from lakewatch.config import LakewatchConfig, project_root
from lakewatch.detectors.base import Detector
from lakewatch.detectors.persist import load_detector, save_detector
from lakewatch.errors import LakewatchError
from lakewatch.provenance import git_commit
from lakewatch.scoring import SCORED_SCHEMA

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # jobs run without a network; telemetry only times out
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository
from mlflow.tracking import MlflowClient

SECTION = "mlflow"
INPUT_COLUMNS = ("series_id", "channel", "timestamp", "value")
SCORE_COLUMN = "anomaly_score"
NAB_METRIC = "nab_standard"
MODEL_NAME_IN_RUN = "detector"
ARTIFACT_KEY = "detector"
_KNOWN_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")
_LOG = logging.getLogger(__name__)


class TrackingError(LakewatchError):
    """The tracking store, registry or a logged model cannot be used as configured."""


@dataclass(frozen=True)
class MLflowSettings:
    """Section ``mlflow:``; empty URIs mean the defaults under the table root."""

    tracking_uri: str = ""
    artifact_root: str = ""
    experiment: str = "lakewatch"
    registered_model: str = "lakewatch-detector"
    champion_alias: str = "champion"


# ---------------------------------------------------------------------------------------------- configuration
def resolve_settings(config: LakewatchConfig) -> MLflowSettings:
    """The ``mlflow:`` section with the default URI and artifact root filled in and both checked."""
    settings = config.settings(SECTION, MLflowSettings)
    mlflow_dir = Path(config.table_root) / "_mlflow"
    uri = settings.tracking_uri or f"sqlite:///{(mlflow_dir / 'mlflow.db').resolve()}"
    artifacts = settings.artifact_root or str(mlflow_dir / "artifacts")
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


# ---------------------------------------------------------------------------------------------- pyfunc model
def score_frame(detector: Detector, frame: pd.DataFrame) -> pd.DataFrame:
    """Score readings (series_id, channel, timestamp, value) with ``detector``; returns ``anomaly_score`` aligned
    with ``frame``. A univariate detector scores each (series_id, channel) from a fresh state in timestamp order
    (ties keep input order); a multivariate one scores each series_id over its channels side by side (in the
    detector's ``channel_names`` order, else sorted) and gives every row of a timestamp that timestamp's score."""
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise TrackingError(f"model input lacks column(s) {missing}; expected columns {list(INPUT_COLUMNS)}")
    original_index = frame.index
    frame = frame.reset_index(drop=True)  # positions, whatever index (duplicates included) the caller passes
    scores = pd.Series(0.0, index=frame.index, name=SCORE_COLUMN)
    if frame.empty:
        return scores.to_frame().set_index(original_index)
    stamps = pd.to_datetime(frame["timestamp"], utc=True).dt.tz_localize(None)
    values = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    if detector.channels == 1:
        for rows in frame.groupby(["series_id", "channel"], sort=False, dropna=False).groups.values():
            order = stamps.loc[rows].sort_values(kind="stable").index
            nanos = stamps.loc[order].to_numpy(dtype="datetime64[ns]").view("int64")
            scores.loc[order] = detector.score_series(values.loc[order].to_numpy(), nanos)
    else:
        for series_id, rows in frame.groupby("series_id", sort=False, dropna=False).groups.items():
            scores.loc[rows] = _score_wide(detector, series_id, frame.loc[rows, "channel"], stamps.loc[rows],
                                           values.loc[rows])
    return scores.to_frame().set_index(original_index)


def _score_wide(detector: Detector, series_id: Any, channels: pd.Series, stamps: pd.Series,
                values: pd.Series) -> Any:
    names = tuple(getattr(detector, "channel_names", ()) or ()) or tuple(sorted(channels.unique()))
    unknown = sorted(set(channels) - set(names))
    if unknown or len(names) != detector.channels:
        raise TrackingError(f"series {series_id!r}: channels {sorted(set(channels))}; detector {detector.name!r} "
                            f"expects {detector.channels} channel(s) {list(names)}")
    wide = (pd.DataFrame({"ts": stamps, "channel": channels, "value": values})
            .groupby(["ts", "channel"], sort=True)["value"].last().unstack("channel").reindex(columns=list(names)))
    nanos = wide.index.to_numpy(dtype="datetime64[ns]").view("int64")
    per_time = pd.Series(detector.score_series(wide.to_numpy(dtype="float64"), nanos), index=wide.index)
    return per_time.reindex(stamps.to_numpy()).to_numpy()


class DetectorModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of a saved detector directory (artifact ``detector``); predict scores per series."""

    def load_context(self, context: Any) -> None:
        """Load the detector from the model's artifacts."""
        self.detector = load_detector(context.artifacts[ARTIFACT_KEY])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        """``anomaly_score`` per input row (see :func:`score_frame`)."""
        return score_frame(self.detector, pd.DataFrame(model_input))


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "numpy", "pandas", "pyyaml")]


_MODEL_CODE = """from mlflow.models import set_model

from lakewatch.tracking import DetectorModel

set_model(DetectorModel())
"""


def log_detector(detector: Detector, input_example: pd.DataFrame) -> str:
    """Log ``detector`` as a pyfunc model (signature and input example) in the active run; returns its URI.

    ``input_example`` has columns series_id, channel, timestamp, value (a few rows are enough).
    """
    if mlflow.active_run() is None:
        raise TrackingError("log_detector needs an active MLflow run (use lakewatch.tracking.start_run)")
    example = pd.DataFrame(input_example)
    output = score_frame(detector, example)
    signature = infer_signature(example[list(INPUT_COLUMNS)], output)
    with tempfile.TemporaryDirectory(prefix="lakewatch-detector-") as tmp:
        directory = save_detector(detector, Path(tmp) / ARTIFACT_KEY)
        # "Models from code": the model is this one-line script, not a pickled object.
        code = Path(tmp) / "detector_model.py"
        code.write_text(_MODEL_CODE)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN, python_model=str(code), artifacts={ARTIFACT_KEY: str(directory)},
            signature=signature, input_example=example[list(INPUT_COLUMNS)], pip_requirements=_requirements(),
        )
    mlflow.set_tags({"lakewatch.detector": detector.name, "lakewatch.detector_fingerprint": detector.fingerprint})
    return info.model_uri


# ---------------------------------------------------------------------------------------------- registry
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


def champion_uri(config: LakewatchConfig) -> str:
    """``models:/<registered model>@<champion alias>`` for the configured names."""
    settings = resolve_settings(config)
    return f"models:/{settings.registered_model}@{settings.champion_alias}"


def _load_pyfunc(model_uri: str) -> Any:
    try:
        return mlflow.pyfunc.load_model(model_uri)
    except MlflowException as exc:
        raise TrackingError(f"model {model_uri!r} cannot be loaded from {mlflow.get_tracking_uri()}: "
                            f"{exc.message}") from exc
    except OSError as exc:
        raise TrackingError(f"model {model_uri!r} cannot be loaded: {exc}") from exc


def load_model_detector(model_uri: str, config: LakewatchConfig | None = None) -> Detector:
    """The detector inside a logged or registered model, e.g. ``models:/lakewatch-detector@champion``
    (``config`` selects the store; without it, the store MLflow is already pointed at)."""
    if config is not None:
        configure(config)
    return _load_pyfunc(model_uri).unwrap_python_model().detector


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
        _LOADED[location] = _load_pyfunc(location)
    return _LOADED[location]


def _score_with(location: str):
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
    detector = _load_pyfunc(location).unwrap_python_model().detector  # fails here, once, with a clear message
    keys = ["series_id"] if detector.channels > 1 else ["series_id", "channel"]
    columns = readings.select(*INPUT_COLUMNS)
    return columns.groupBy(*keys).applyInPandas(_score_with(location), SCORED_SCHEMA)
