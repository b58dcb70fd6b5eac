"""Log a training run to MLflow through lakewatch.tracking (when it is present) and score NAB in-process.

lakewatch.tracking owns the MLflow setup (URIs, experiment, registry); this module only decides what a
training run records: the settings as params, per-epoch metrics with the epoch as step, the model (pyfunc,
via ``tracking.log_detector``), the scaler/calibration/artifact files, NAB scores, and the promotion.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakewatch.config import LakewatchConfig
from lakewatch.detectors.base import Detector
from lakewatch.training.train import TrainResult

_NEEDED = ("start_run", "log_detector", "promote_if_better")


def tracking_available() -> bool:
    """True when lakewatch.tracking can be imported and has start_run, log_detector and promote_if_better."""
    if importlib.util.find_spec("lakewatch.tracking") is None:
        return False
    module = importlib.import_module("lakewatch.tracking")
    return all(hasattr(module, name) for name in _NEEDED)


def nab_scores(corpus: str | Path, detector: Detector) -> dict[str, float]:
    """The detector's normalised NAB scores per cost profile, computed in-process (no Spark)."""
    from lakewatch.evaluation.in_process import evaluate_on_nab

    return evaluate_on_nab(corpus, detector)


def input_example(spark: SparkSession, config: LakewatchConfig, result: TrainResult, rows: int = 0) -> pd.DataFrame:
    """A few rows (series_id, channel, timestamp, value) of one series of the training table, enough for one
    window, as the pyfunc model's input example."""
    p = result.params
    table = p["table"] or config.tables.gold_features
    df = spark.table(table)
    first = df.select(p["series_column"]).where(F.col(p["series_column"]).isNotNull()).limit(1).collect()
    rows = rows or (result.detector.spec.window + 4) * max(1, result.detector.channels)
    sample = (df.where(F.col(p["series_column"]) == first[0][0])
              .select(F.col(p["series_column"]).alias("series_id"), F.col(p["channel_column"]).alias("channel"),
                      F.col(p["timestamp_column"]).alias("timestamp"),
                      F.col(p["value_column"]).cast("double").alias("value"))
              .orderBy("timestamp", "channel").limit(rows).toPandas())
    return sample


def _flat_params(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:500] for k, v in params.items()}


def log_training_run(spark: SparkSession, config: LakewatchConfig, result: TrainResult, scores: dict[str, float],
                     artifacts: Path) -> dict[str, Any]:
    """Log params, per-epoch metrics, the model and its artifacts (and NAB scores) in one MLflow run; promote
    the new version to champion when its NAB standard score beats the current one. Returns the model URI,
    the registered version and whether it was promoted (version and promotion only with NAB scores)."""
    import mlflow

    tracking = importlib.import_module("lakewatch.tracking")
    out: dict[str, Any] = {}
    with tracking.start_run(config, "train", run_name=f"train-{result.params['model']}-{result.run_id[:8]}") as run:
        mlflow.log_params(_flat_params({**result.params, "windows": result.windows,
                                        "digest": result.detector.params.digest}))
        for name, values in result.metrics.items():
            for step, value in enumerate(values, start=1):
                mlflow.log_metric(name, float(value), step=step)
        mlflow.log_metrics({"train_seconds": result.train_seconds, "total_seconds": result.seconds,
                            "final_loss": result.metrics["loss"][-1]})
        mlflow.log_dict({"scaler": result.detector.scaler.to_dict(),
                         "calibration": result.detector.calibration.to_dict()}, "scaler_calibration.json")
        mlflow.log_artifacts(str(artifacts), artifact_path="autoencoder")
        out["model_uri"] = tracking.log_detector(result.detector, input_example(spark, config, result))
        if scores:
            mlflow.log_metrics({f"nab_{name}": float(value) for name, value in scores.items()})
        out["mlflow_run_id"] = run.info.run_id
    if "standard" in scores:
        version, promoted = tracking.promote_if_better(config, out["mlflow_run_id"], out["model_uri"],
                                                       float(scores["standard"]))
        out.update(version=version, promoted=promoted)
    return out
