"""One training run from start to finish, as the ``train`` job and deep tuning both do it: train with
TorchDistributor, save the model's artifacts, score it on NAB in process, log it to MLflow and register it,
promoting it to champion when its NAB standard score beats the current champion's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.errors import ConfigError
from lakewatch.evaluation.corpus import NabCorpus, NabSeries
from lakewatch.evaluation.in_process import evaluate_on_nab, run_on_nab, score_nab_run
from lakewatch.layout import MODELS
from lakewatch.progress import Progress
from lakewatch.training.mlflow_run import log_training_run
from lakewatch.training.settings import TrainingSettings
from lakewatch.training.train import TrainResult, local_path, train_model


@dataclass(frozen=True)
class TrainingRecord:
    """What one training run produced: the trained detector and its metrics (``result``), where its artifacts
    were saved, its NAB scores per profile (empty when not scored) and, when it was logged, the MLflow run, the
    model URI and (when scored on NAB) the registered version and whether it became champion."""

    result: TrainResult
    artifacts: Path
    nab: dict[str, float] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    model_uri: str | None = None
    version: int | None = None
    promoted: bool | None = None

    @property
    def final_loss(self) -> float:
        """The last epoch's training loss."""
        return float(self.result.metrics["loss"][-1])

    def mlflow_details(self) -> dict[str, Any]:
        """``model_uri`` and ``mlflow_run_id`` when the run was logged, ``version`` and ``promoted`` when it was
        registered; nothing for a run that was not logged."""
        keys = ("model_uri", "mlflow_run_id", "version", "promoted")
        return {key: getattr(self, key) for key in keys if getattr(self, key) is not None}


def artifacts_dir(config: LakewatchConfig, run_id: str) -> Path:
    """Where a run's model artifacts are saved by default: ``<table root>/_models/<run_id>``, or under the
    working directory when the table root is remote (the artifacts are written with local file I/O)."""
    location = local_path(config.lakehouse.model(run_id))
    return location if location is not None else config.lakehouse.local_dir(MODELS) / run_id


def nab_series(corpus: str | Path | NabCorpus, files: Sequence[str] = ()) -> tuple[NabCorpus, list[NabSeries]]:
    """The checked NAB corpus at `corpus` and its series: all of them, or only the files `files`
    (``category/file.csv``, a quick check not comparable with the scoreboard); ConfigError naming files the corpus
    does not label."""
    checked = NabCorpus.at(corpus)
    series = checked.series()
    if not files:
        return checked, series
    series = [s for s in series if s.key in set(files)]
    unknown = sorted(set(files) - {s.key for s in series})
    if unknown:
        raise ConfigError(f"NAB files {unknown}: not labelled in {checked.windows_file}")
    return checked, series


def _nab_scores(corpus: str | Path, files: Sequence[str], detector: Any) -> dict[str, float]:
    if not files:
        return evaluate_on_nab(corpus, detector)
    checked, series = nab_series(corpus, files)
    return score_nab_run(checked, run_on_nab(checked, detector, series))


def train_and_register(spark: SparkSession, config: LakewatchConfig, settings: TrainingSettings,
                       progress: Progress, *, run_id: str | None = None, artifacts: str | Path | None = None,
                       corpus: str | Path | None = None, nab_files: Sequence[str] = (), log: bool = True,
                       tags: Mapping[str, str] | None = None) -> TrainingRecord:
    """Train a detector with ``settings`` (:func:`~lakewatch.training.train.train_model`), save its artifacts to
    ``artifacts`` (default :func:`artifacts_dir`), score it on the NAB checkout ``corpus`` in process (when
    given; NAB is univariate; only its files ``nab_files`` when given, a quick check not comparable with the
    scoreboard), and, when ``log``, record it in one MLflow run with ``tags``
    (:func:`~lakewatch.training.mlflow_run.log_training_run`) and, when it has a NAB standard score, register it
    and promote it if it beats the champion. Returns the :class:`TrainingRecord`.

    Raises ConfigError for a NAB corpus with a multivariate model, TrackingError for an unusable MLflow store
    (both before training) and TrainingDataError for an unusable training table."""
    if corpus is not None and settings.multivariate:
        raise ConfigError(f"NAB corpus {corpus}: NAB scores univariate models; training.multivariate is on")
    if log:
        tracking.configure(config)  # a bad store fails before training, not after
    result = train_model(spark, config, settings, progress, run_id=run_id)
    out = Path(artifacts) if artifacts else artifacts_dir(config, result.run_id)
    result.detector.save_artifacts(out)
    scores: dict[str, float] = {}
    if corpus is not None:
        with progress.stage("score the trained model on NAB in process"):
            scores = dict(_nab_scores(corpus, nab_files, result.detector))
    record = TrainingRecord(result, out, scores)
    if not log:
        return record
    mlflow_run_id, model_uri = log_training_run(spark, config, result, scores, out, tags)
    version, promoted = None, None
    if "standard" in scores:
        version, promoted = tracking.promote_if_better(config, mlflow_run_id, model_uri, float(scores["standard"]))
    return TrainingRecord(result, out, scores, mlflow_run_id, model_uri, version, promoted)
