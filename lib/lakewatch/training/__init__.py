"""Distributed training of deep detectors with pyspark.ml.torch's TorchDistributor: the driver writes the
training rows of a feature table to Parquet with Spark, every DDP rank reads its own files with
pyarrow.dataset, and rank 0 returns the weights, per-epoch metrics and calibration errors."""

from __future__ import annotations

from lakewatch.training.data import TrainingDataError
from lakewatch.training.settings import TrainingSettings
from lakewatch.training.train import TrainResult, resolve_use_gpu, train_model

__all__ = ["TrainResult", "TrainingDataError", "TrainingSettings", "resolve_use_gpu", "train_model"]
