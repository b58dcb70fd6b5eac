"""Tuning a deep detector (lakewatch.training): each trial trains a small model in one process on one executor
(``train_worker`` without torch.distributed, a few epochs) on training files the driver wrote once; the loss is
the trial's final-epoch training reconstruction loss (the training loop keeps no validation split, so the search
space leaves the window length alone: losses over different windows would not compare). The chosen
configuration is then trained at full size with TorchDistributor (``train_model``), scored on NAB when the model
is univariate, logged and promoted like any training run."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
from pyspark.sql import SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.progress import Progress
from lakewatch.provenance import new_run_id
from lakewatch.tuning.base import ObjectiveResult, Tuner, TuningError, TuningResult
from lakewatch.tuning.hyperopt_tuner import HyperoptTuner
from lakewatch.tuning.run import log_trials
from lakewatch.tuning.settings import TuningSettings

DEEP_SPACE = "deep"
JOB_FIELDS = ("learning_rate", "batch_size", "beta")
SPEC_FIELDS = ("hidden", "latent")


def training_available() -> bool:
    """Whether lakewatch.training (and torch) can be imported here."""
    try:
        import lakewatch.training.loop
        import lakewatch.training.train  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class DeepObjective:
    """Loss = final training loss of a model trained in-process for ``epochs`` epochs with the trial's
    parameters (``learning_rate``, ``batch_size``, ``beta``, ``hidden``, ``latent``) over ``job``'s."""

    job: Any  # lakewatch.training.loop.TrainJob
    epochs: int

    def build_job(self, params: dict[str, Any]) -> Any:
        """The training job of one trial."""
        unknown = sorted(set(params) - {*JOB_FIELDS, *SPEC_FIELDS})
        if unknown:
            raise TuningError(f"deep tuning: parameter(s) {unknown} cannot be tuned; "
                              f"expected some of {[*JOB_FIELDS, *SPEC_FIELDS]}")
        spec = replace(self.job.spec, **{k: int(v) for k, v in params.items() if k in SPEC_FIELDS})
        changes = {k: v for k, v in params.items() if k in JOB_FIELDS}
        return replace(self.job, spec=spec, epochs=self.epochs, **changes)

    def __call__(self, params: dict[str, Any]) -> ObjectiveResult:
        """Train one small model (see the class docstring)."""
        from lakewatch.training.loop import train_worker

        began = time.perf_counter()
        output = train_worker(self.build_job(params), distributed=False)
        loss = float(output["metrics"]["loss"][-1])
        return ObjectiveResult(loss, {"final_loss": loss, "windows": float(output["windows"])},
                               time.perf_counter() - began)


@dataclass(frozen=True)
class DeepTuneOutcome:
    """The search result, the tune run, and what the full-size training run logged (model URI, version...)."""

    result: TuningResult
    run_id: str
    training: dict[str, Any]
    seconds: float


def _search(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, training: Any,
            progress: Progress, tuner: Tuner) -> tuple[TuningResult, str]:
    from lakewatch.training.train import prepare_job

    space = settings.space_for(DEEP_SPACE)
    data_dir = config.path("_tuning", new_run_id())
    parallelism = settings.parallelism or spark.sparkContext.defaultParallelism
    try:
        job, _, _ = prepare_job(spark, config, training, data_dir, progress, False)
        objective = DeepObjective(replace(job, threads=1, use_gpu=False), settings.deep_trial_epochs)
        with tracking.start_run(config, "tune", run_name=f"tune-deep-{training.model}") as parent:
            mlflow.log_params({"model_kind": "deep", "model": training.model, "window": training.window,
                               "trial_epochs": settings.deep_trial_epochs, "max_evals": settings.max_evals,
                               "parallelism": parallelism, "seed": settings.seed})
            with progress.stage(f"search {training.model}: {settings.max_evals} trials, {parallelism} at a time"):
                result = tuner.search(objective, space, settings.max_evals, parallelism)
            log_trials(result.trials)
            mlflow.log_params({f"best.{k}": v for k, v in result.best_params.items()})
            mlflow.log_metric("best_loss", result.best_loss)
            return result, parent.info.run_id
    finally:
        if "://" not in data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def run_deep_tuning(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, progress: Progress,
                    tuner: Tuner | None = None) -> DeepTuneOutcome:
    """Search the ``deep`` space with small in-process trainings, then train the best configuration at full size
    with TorchDistributor, score it on NAB (univariate models), log it and promote it if it beats the champion."""
    if not training_available():
        raise TuningError("deep tuning needs lakewatch.training (and torch), which cannot be imported here")
    from lakewatch.training import TrainingSettings, train_model
    from lakewatch.training.mlflow_run import log_training_run, nab_scores

    began = time.perf_counter()
    settings.space_for(DEEP_SPACE)  # fail before any work when the space is missing or malformed
    training = config.settings("training", TrainingSettings)
    tracking.configure(config)
    tuner = tuner or HyperoptTuner(spark, seed=settings.seed)
    result, tune_run = _search(spark, config, settings, training, progress, tuner)
    best = training.with_overrides(**dict(result.best_params))
    trained = train_model(spark, config, best, progress)
    out = Path(config.path("_models", trained.run_id))
    trained.detector.save_artifacts(out)
    scores: dict[str, float] = {}
    if not best.multivariate:
        with progress.stage("score the trained model on NAB in process"):
            scores = nab_scores(NabCorpus(settings.corpus_path).check().root, trained.detector)
    logged = log_training_run(spark, config, trained, scores, out)
    mlflow.MlflowClient().set_tag(logged["mlflow_run_id"], "lakewatch.tune_run_id", tune_run)
    return DeepTuneOutcome(result, tune_run, {**logged, "nab": scores, "artifacts": str(out),
                                              "final_loss": trained.metrics["loss"][-1]},
                           time.perf_counter() - began)
