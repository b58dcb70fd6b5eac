"""A tuning run: search a detector's parameters on the NAB corpus with SparkTrials, record it in MLflow (a parent
run, one child run per trial, logged from the driver after the search), log the best detector as a model and
register it, promoting it to champion if it beats the current one."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import mlflow
import pandas as pd
from pyspark.sql import SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import get_detector
from lakewatch.evaluation.corpus import NabCorpus
from lakewatch.progress import Progress
from lakewatch.tuning.base import SearchSpace, TrialResult, Tuner, TuningResult
from lakewatch.tuning.hyperopt_tuner import HyperoptTuner
from lakewatch.tuning.objective import PROFILES, NabObjective, metric_name
from lakewatch.tuning.settings import TuningSettings

JOB = "tune"


@dataclass(frozen=True)
class TuneOutcome:
    """What a tuning run produced: the search result, the MLflow parent run, the logged model and its registry
    version (None when registration is off) and whether that version became champion."""

    result: TuningResult
    run_id: str
    model_uri: str
    version: int | None
    champion: bool
    parallelism: int
    seconds: float
    baseline: dict[str, float]


def space_dict(space: SearchSpace) -> dict:
    """``space`` as the configuration mapping it was parsed from (logged as search_space.json)."""
    return {spec.name: {spec.kind: list(spec.args)} for spec in space}


def input_example(corpus: str, rows: int) -> pd.DataFrame:
    """The first ``rows`` readings of the corpus' first file, shaped as model input."""
    first = NabCorpus(corpus).series()[0]
    return pd.DataFrame({
        "series_id": first.key.removesuffix(".csv"), "channel": "value",
        "timestamp": pd.to_datetime(first.timestamps[:rows]), "value": first.values[:rows],
    })


def log_trials(trials: list[TrialResult]) -> None:
    """One MLflow child run per trial (params, metrics or error) under the active run."""
    for trial in trials:
        tags = {"lakewatch.trial": str(trial.number), "lakewatch.trial_status": trial.status}
        with mlflow.start_run(run_name=f"trial-{trial.number:03d}", nested=True, tags=tags):
            mlflow.log_params(dict(trial.params))
            if trial.ok:
                mlflow.log_metrics({**trial.metrics, "loss": float(trial.loss), "trial_seconds": trial.seconds})
            else:
                mlflow.set_tag("lakewatch.trial_error", (trial.error or "")[:4000])


def search_and_log(objective, space: SearchSpace, settings: TuningSettings, tuner: Tuner, parallelism: int,
                   progress: Progress, what: str = "") -> tuple[dict[str, float], TuningResult]:
    """Inside the active (parent) run: score the configured parameters in process (``objective.evaluate({})``,
    logged as ``baseline_*``), search, log a child run per trial and the best trial's parameters and metrics;
    returns (baseline metrics, result). ``what`` describes the data searched over in the progress line."""
    with progress.stage(f"score the configured {settings.detector} in process (baseline)"):
        baseline = objective.evaluate({})
    mlflow.log_metrics({f"baseline_{k}": v for k, v in baseline.items()})
    with progress.stage(f"search {settings.detector}{what}: {settings.max_evals} trials, {parallelism} at a time"):
        result = tuner.search(objective, space, settings.max_evals, parallelism)
    with progress.stage(f"log {len(result.trials)} trial runs to MLflow"):
        log_trials(result.trials)
    best = result.best_trial
    mlflow.log_params({f"best.{k}": v for k, v in best.params.items()})
    mlflow.log_metrics({**best.metrics, "best_loss": result.best_loss,
                        "failed_trials": sum(not t.ok for t in result.trials)})
    mlflow.log_text(json.dumps([t.__dict__ for t in result.trials], default=str, indent=1), "trials.json")
    return baseline, result


def run_tuning(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, progress: Progress,
               tuner: Tuner | None = None) -> TuneOutcome:
    """Tune ``settings.detector`` over its search space (see the module docstring); returns the outcome."""
    began = time.perf_counter()
    space = settings.space()
    corpus = str(NabCorpus(settings.corpus_path).check().root)
    get_detector(settings.detector, catalog=config.detectors)  # an unknown name fails here, before any trial
    tracking.configure(config)  # a bad store fails here too
    parallelism = settings.parallelism or spark.sparkContext.defaultParallelism
    objective = NabObjective(corpus, settings.detector, settings.profile, catalog=config.detectors)
    tuner = tuner or HyperoptTuner(spark, seed=settings.seed)
    with tracking.start_run(config, JOB, run_name=f"tune-{settings.detector}") as parent:
        mlflow.log_params({"detector": settings.detector, "profile": settings.profile, "objective": settings.objective,
                           "max_evals": settings.max_evals, "parallelism": parallelism, "seed": settings.seed,
                           "corpus": corpus, "tuner": type(tuner).__name__})
        mlflow.log_dict(space_dict(space), "search_space.json")
        baseline, result = search_and_log(objective, space, settings, tuner, parallelism, progress)
        best = result.best_trial
        with progress.stage("log the best detector as a model"):
            example = input_example(corpus, settings.example_rows)
            model_uri = tracking.log_detector(objective.build(best.params), example)
        run_id = parent.info.run_id
    version, champion = None, False
    if settings.register:
        version, champion = tracking.promote_if_better(config, run_id, model_uri, best.metrics[metric_name("standard")])
    return TuneOutcome(result, run_id, model_uri, version, champion, parallelism, time.perf_counter() - began,
                       baseline)


def format_trials(result: TuningResult, metrics: tuple[str, ...] | None = None) -> str:
    """A text table of the trials: number (* = best), status, the metrics (default: NAB scores per profile),
    seconds and parameters."""
    names = metrics or tuple(metric_name(p) for p in PROFILES)
    best = result.best_trial.number
    lines = ["  ".join(["  trial", " status", *names, "seconds", "params"])]
    for t in result.trials:
        values = [f"{_number(t.metrics[n]):>{len(n)}}" if t.ok and n in t.metrics else f"{'-':>{len(n)}}"
                  for n in names]
        params = json.dumps(dict(t.params), default=str) + ("" if t.ok else f"  error: {t.error}")
        lines.append("  ".join([f"{t.number:>6}{'*' if t.number == best else ' '}", f"{t.status:>7}", *values,
                                f"{t.seconds:>7.1f}", params]))
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4g}"


def format_outcome(outcome: TuneOutcome, settings: TuningSettings, registered_model: str) -> str:
    """The result in a few lines: best parameters and scores, the MLflow run, the version and champion status."""
    best = outcome.result.best_trial
    scores = ", ".join(f"{p} {best.metrics[metric_name(p)]:.2f}" for p in PROFILES)
    before = ", ".join(f"{p} {outcome.baseline[metric_name(p)]:.2f}" for p in PROFILES)
    lines = [f"best trial {best.number}: {json.dumps(dict(best.params), default=str)}", f"  NAB: {scores}",
             f"  configured parameters (conf/detectors.yaml): {before}",
             f"  MLflow run {outcome.run_id}, model {outcome.model_uri}"]
    if outcome.version is None:
        lines.append("  not registered (tuning.register is false)")
    else:
        status = "is now champion" if outcome.champion else "did not beat the champion, which stays"
        lines.append(f"  registered {registered_model} version {outcome.version}: {status}")
    lines.append(f"  {len(outcome.result.trials)} trials, {outcome.parallelism} at a time, {outcome.seconds:.1f}s")
    return "\n".join(lines)
