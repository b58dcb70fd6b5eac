"""The two sides of a retrain: the candidate (trained on the series' recent readings) and the champion (the model
the registry's ``champion`` alias points at), each as a detector that scores readings in process."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pyspark.sql import DataFrame, SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import get_detector
from lakewatch.detectors.base import Detector
from lakewatch.progress import Progress
from lakewatch.retrain.settings import DEEP, RetrainSettings
from lakewatch.training import TrainingSettings
from lakewatch.training.run import train_and_register

ENTITY_CHANNEL = "*"


@dataclass(frozen=True)
class Candidate:
    """A trained candidate: its detector and, for a deep model, the MLflow run and model URI the training logged
    (a configured detector is logged by the retrain run itself)."""

    detector: Detector
    model_uri: str | None = None
    train_run_id: str | None = None


@dataclass(frozen=True)
class Champion:
    """The registered version the champion alias points at, and its detector."""

    version: int
    detector: Detector


def train_candidate(spark: SparkSession, config: LakewatchConfig, settings: RetrainSettings, training_rows: DataFrame,
                    channel: str, run_id: str, progress: Progress) -> Candidate:
    """A candidate trained on `training_rows` (silver.readings rows of one series before the held-back window):
    for ``retrain.model`` "deep" a window autoencoder (the train job's path: TorchDistributor, artifacts, an MLflow
    run tagged with `run_id`; multivariate for a multichannel entity, channel '*'); otherwise the configured
    detector, which learns online and has nothing to fit."""
    if settings.model != DEEP:
        return Candidate(get_detector(settings.model, catalog=config.detectors))
    view = f"lakewatch_retrain_{run_id.replace('-', '_')}"
    training_rows.createOrReplaceTempView(view)
    try:
        base = config.settings("training", TrainingSettings)
        training = base.with_overrides(**{**dict(settings.training), "table": view,
                                          "multivariate": channel == ENTITY_CHANNEL})
        record = train_and_register(spark, config, training, progress, run_id=run_id, log=True,
                                    tags={"lakewatch.retrain_run": run_id})
    finally:
        spark.catalog.dropTempView(view)
    return Candidate(record.result.detector, record.model_uri, record.mlflow_run_id)


def current_champion(config: LakewatchConfig) -> Champion | None:
    """The champion's version and detector (pinned to the version, not the alias), None when no version has the
    alias; TrackingError when the store cannot be used or the champion cannot be loaded."""
    settings = tracking.configure(config)
    try:
        version = MlflowClient().get_model_version_by_alias(settings.registered_model, settings.champion_alias)
    except MlflowException:
        return None
    uri = f"models:/{settings.registered_model}/{version.version}"
    return Champion(int(version.version), tracking.load_model_detector(uri))
