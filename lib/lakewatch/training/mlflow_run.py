"""What a training run records in MLflow: the settings as params, per-epoch metrics with the epoch as step, the
model (pyfunc, via :func:`lakewatch.tracking.log_detector`), the scaler/calibration/artifact files and NAB scores.

lakewatch.tracking owns the MLflow setup (URIs, experiment, registry); registering and promoting the logged model
is :func:`lakewatch.training.run.train_and_register`'s last step.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakewatch import tracking
from lakewatch.config import LakewatchConfig
from lakewatch.training.train import TrainResult

JOB = "train"


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


def log_training_run(spark: SparkSession, config: LakewatchConfig, result: TrainResult, scores: Mapping[str, float],
                     artifacts: Path, tags: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Log params, per-epoch metrics, the model and its artifacts, NAB scores (``nab_<profile>``) and ``tags`` in
    one MLflow run of job ``train``; returns (MLflow run id, model URI)."""
    run_name = f"train-{result.params['model']}-{result.run_id[:8]}"
    with tracking.start_run(config, JOB, run_name=run_name) as run:
        if tags:
            mlflow.set_tags(dict(tags))
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
        model_uri = tracking.log_detector(result.detector, input_example(spark, config, result))
        if scores:
            mlflow.log_metrics({f"nab_{name}": float(value) for name, value in scores.items()})
    return run.info.run_id, model_uri
