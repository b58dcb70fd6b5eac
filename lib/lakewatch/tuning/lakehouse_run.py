"""A tuning run on a labelled lakehouse: search a detector's parameters with SparkTrials against the evaluate job's
scoring of every chosen entity (lakewatch.tuning.entities), record it in MLflow like the NAB tuning run (parent
run, one child run per trial, logged from the driver), log the best detector as a model and register it.

The chosen entities, labels and detector are checked with the evaluate job's own functions before any trial (a
missing labels table, no labels for the chosen series, a univariate detector for multichannel entities or the
reverse: EvaluationError naming the input). The registered version keeps the champion alias where it is: the
champion is chosen by NAB standard score, which an F1 on a lakehouse does not compare with.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace

import mlflow
import pandas as pd
from pyspark.sql import SparkSession

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.detectors import get_detector
from lakewatch.detectors.base import Detector
from lakewatch.evaluation.entities import EvaluationSpec
from lakewatch.evaluation.general import EvaluateOptions, choose_detectors, chosen_entities, chosen_labels
from lakewatch.progress import Progress
from lakewatch.provenance import new_run_id
from lakewatch.training.train import remove_local_dir
from lakewatch.tuning.base import Tuner, TuningResult
from lakewatch.tuning.entities import THRESHOLD, LakehouseObjective, check_space, entity_frames
from lakewatch.tuning.hyperopt_tuner import HyperoptTuner
from lakewatch.tuning.run import JOB, search_and_log, space_dict
from lakewatch.tuning.settings import TuningSettings

#: Metrics of the trial table and the printed outcome.
TABLE_METRICS = ("f1", "precision", "recall")


@dataclass(frozen=True)
class LakehouseTuneOutcome:
    """What a lakehouse tuning run produced: the search result, the overall metrics of the configured parameters
    (baseline), the MLflow parent run, the logged model and its registry version (None when registration is
    off)."""

    result: TuningResult
    baseline: dict[str, float]
    run_id: str
    model_uri: str
    version: int | None
    parallelism: int
    entities: int
    seconds: float


def _objective(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings, options: EvaluateOptions,
               readings_dir: str) -> tuple[LakehouseObjective, dict[str, list[str]]]:
    readings, channels = chosen_entities(spark, config, options)
    windows = chosen_labels(spark, config, options, channels)
    space = settings.space()
    sampled = {s.name: s.cast(s.args[0]) for s in space}
    if options.threshold is None and THRESHOLD in sampled and config.detectors.threshold(settings.detector) is None:
        # the threshold is searched: any value passes choose_detectors' check, every trial sets its own
        options = replace(options, threshold=float(sampled[THRESHOLD]))
    detectors, thresholds = choose_detectors(config, options, channels)
    spec = EvaluationSpec(detectors, thresholds, config.detectors, options.train_rows,
                          round(options.tolerance_seconds * 1e6), settings.objective == "nab", options.label_channel,
                          windows)
    objective = LakehouseObjective(readings_dir, settings.detector, spec, settings.objective)
    check_space(objective, space)
    readings.write.mode("overwrite").parquet(readings_dir)
    return objective, channels


def _first_entity(objective: LakehouseObjective, channels: dict[str, list[str]], rows: int
                  ) -> tuple[pd.DataFrame, int]:
    """The first entity's first ``rows`` timestamps as model input (series_id, channel, timestamp, value), and its
    channel count."""
    first = entity_frames(objective.readings)[0]
    entity = str(first["series_id"].iloc[0])
    used = [c for c in channels[entity] if c != objective.spec.label_channel]
    frame = first[first["channel"].isin(used)].sort_values(["micros", "channel"], kind="stable")
    kept = frame[frame["micros"].isin(sorted(frame["micros"].unique())[:rows])]
    example = pd.DataFrame({"series_id": kept["series_id"], "channel": kept["channel"],
                            "timestamp": pd.to_datetime(kept["micros"], unit="us"), "value": kept["value"]})
    return example.reset_index(drop=True), len(used)


def best_detector(objective: LakehouseObjective, params: dict, channels: int) -> Detector:
    """The detector a trial with ``params`` scores an entity of ``channels`` channels with (its healthy start
    fitted into the train rows, as evaluate does)."""
    spec = objective.trial_spec(params)
    healthy = spec.train_rows if spec.train_rows and channels > 1 else None
    return get_detector(spec.detector_for(channels), catalog=spec.catalog, channels=channels, healthy_rows=healthy)


def run_lakehouse_tuning(spark: SparkSession, config: LakewatchConfig, settings: TuningSettings,
                         options: EvaluateOptions, progress: Progress, tuner: Tuner | None = None
                         ) -> LakehouseTuneOutcome:
    """Tune ``settings.detector`` over its search space against ``settings.objective`` (f1 or nab) on the entities
    ``options`` chooses (labels, series, source, train rows); see the module docstring."""
    began = time.perf_counter()
    readings_dir = config.lakehouse.tuning(new_run_id())
    try:
        with progress.stage("check the entities and labels, copy the chosen readings for the trials"):
            objective, channels = _objective(spark, config, settings, options, readings_dir)
        tracking.configure(config)
        parallelism = settings.parallelism or spark.sparkContext.defaultParallelism
        tuner = tuner or HyperoptTuner(spark, seed=settings.seed)
        with tracking.start_run(config, JOB, run_name=f"tune-{settings.detector}-{settings.objective}") as parent:
            mlflow.log_params({"detector": settings.detector, "objective": settings.objective, "labels": options.labels,
                               "train_rows": options.train_rows, "series": options.series or "",
                               "source": options.source or "", "entities": len(channels),
                               "max_evals": settings.max_evals, "parallelism": parallelism, "seed": settings.seed,
                               "tuner": type(tuner).__name__})
            mlflow.log_dict(space_dict(settings.space()), "search_space.json")
            baseline, result = search_and_log(objective, settings.space(), settings, tuner, parallelism, progress,
                                              f" over {len(channels)} entities")
            best = result.best_trial
            with progress.stage("log the best detector as a model"):
                example, width = _first_entity(objective, channels, settings.example_rows)
                model_uri = tracking.log_detector(best_detector(objective, dict(best.params), width), example)
            run_id = parent.info.run_id
        version = None
        if settings.register:
            version = tracking.register_version(config, model_uri, {
                "lakewatch.run_id": run_id, "lakewatch.objective": settings.objective,
                settings.objective: repr(-result.best_loss)})
    finally:
        remove_local_dir(readings_dir)
    return LakehouseTuneOutcome(result, baseline, run_id, model_uri, version, parallelism, len(channels),
                                time.perf_counter() - began)


def format_lakehouse_outcome(outcome: LakehouseTuneOutcome, settings: TuningSettings, registered_model: str) -> str:
    """The result in a few lines: the best parameters and overall metrics against the configured parameters', the
    MLflow run and the registered version."""
    best = outcome.result.best_trial
    key = "f1" if settings.objective == "f1" else "nab_standard"
    names = (*TABLE_METRICS, *(("nab_standard",) if key == "nab_standard" else ()))

    def line(metrics: dict) -> str:
        return ", ".join(f"{n} {metrics[n]:.4f}" for n in names if n in metrics)

    overrides = " ".join(_set_flag(k, v, settings.detector) for k, v in best.params.items())
    lines = [f"best trial {best.number}: {json.dumps(dict(best.params), default=str)}",
             f"  best {key} {-outcome.result.best_loss:.4f} ({line(dict(best.metrics))})",
             f"  configured parameters (conf/detectors.yaml): {line(outcome.baseline)}"
             + (" - better than every trial: keep them, or search longer" if outcome.baseline.get(key, -math.inf)
                > -outcome.result.best_loss else ""),
             f"  the same with evaluate: {overrides}",
             f"  MLflow run {outcome.run_id}, model {outcome.model_uri}"]
    if outcome.version is None:
        lines.append("  not registered (tuning.register is false)")
    else:
        lines.append(f"  registered {registered_model} version {outcome.version} (the champion alias, chosen by NAB "
                     "standard score, stays where it is)")
    lines.append(f"  {len(outcome.result.trials)} trials over {outcome.entities} entities, {outcome.parallelism} at a "
                 f"time, {outcome.seconds:.1f}s")
    return "\n".join(lines)


def _set_flag(key: str, value: object, detector: str) -> str:
    if key == THRESHOLD:
        return f"--threshold {value}"
    entry, _, name = key.rpartition(".")
    return f"--set detectors.{entry or detector}.params.{name}={value}"
