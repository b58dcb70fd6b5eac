"""Tuning a deep detector (lakewatch.training): each trial trains a small model in one process on one executor
(``train_worker`` without torch.distributed, a few epochs) on training files the driver wrote once; the loss is
the trial's final-epoch training reconstruction loss (the training loop keeps no validation split, so the search
space leaves the window length alone: losses over different windows would not compare). The chosen
configuration is then trained at full size with TorchDistributor, scored on NAB when the model is univariate,
logged and promoted by the same function as the ``train`` job (:func:`lakewatch.training.run.train_and_register`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import mlflow
from pyspark.sql import SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.progress import Progress
from lakewatch.provenance import new_run_id
from lakewatch.training.loop import TrainJob, train_worker
from lakewatch.training.run import train_and_register
from lakewatch.training.settings import TrainingSettings
from lakewatch.training.train import prepare_job, remove_local_dir
from lakewatch.tuning.base import ObjectiveResult, Tuner, TuningError, TuningResult
from lakewatch.tuning.hyperopt_tuner import HyperoptTuner
from lakewatch.tuning.run import log_trials
from lakewatch.tuning.settings import TuningSettings

DEEP_SPACE = "deep"
JOB_FIELDS = ("learning_rate", "batch_size", "beta")
SPEC_FIELDS = ("hidden", "latent")


@dataclass(frozen=True)
class DeepObjective:
    """Loss = final training loss of a model trained in-process for ``epochs`` epochs with the trial's
    parameters (``learning_rate``, ``batch_size``, ``beta``, ``hidden``, ``latent``) over ``job``'s."""

    job: TrainJob
    epochs: int

    def build_job(self, params: dict[str, Any]) -> TrainJob:
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


def _search(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, training: TrainingSettings,
            progress: Progress, tuner: Tuner) -> tuple[TuningResult, str]:
    space = settings.space_for(DEEP_SPACE)
    data_dir = config.lakehouse.tuning(new_run_id())
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
        remove_local_dir(data_dir)


def run_deep_tuning(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, progress: Progress,
                    tuner: Tuner | None = None) -> DeepTuneOutcome:
    """Search the ``deep`` space with small in-process trainings, then train the best configuration at full size
    with TorchDistributor, score it on NAB (univariate models), log it and promote it if it beats the champion
    (:func:`lakewatch.training.run.train_and_register`)."""
    began = time.perf_counter()
    settings.space_for(DEEP_SPACE)  # fail before any work when the space is missing or malformed
    training = config.settings("training", TrainingSettings)
    corpus = None if training.multivariate else NabCorpus(settings.corpus_path).check().root
    tracking.configure(config)
    tuner = tuner or HyperoptTuner(spark, seed=settings.seed)
    result, tune_run = _search(spark, config, settings, training, progress, tuner)
    best = training.with_overrides(**dict(result.best_params))
    record = train_and_register(spark, config, best, progress, corpus=corpus,
                                tags={"lakewatch.tune_run_id": tune_run})
    return DeepTuneOutcome(result, tune_run, {**record.mlflow_details(), "nab": record.nab,
                                              "artifacts": str(record.artifacts), "final_loss": record.final_loss},
                           time.perf_counter() - began)
