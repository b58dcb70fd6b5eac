"""train_model: write the training files with Spark, train with TorchDistributor, calibrate, and return an
AutoencoderDetector with the run's metrics."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyspark.ml.torch.distributor import TorchDistributor
from pyspark.sql import SparkSession

from lakewatch.config import LakewatchConfig
from lakewatch.deep.calibration import fit_calibration
from lakewatch.deep.detector import AutoencoderDetector
from lakewatch.deep.models import ModelSpec
from lakewatch.deep.windows import RobustScaler
from lakewatch.layout import Lakehouse
from lakewatch.progress import Progress
from lakewatch.provenance import new_run_id
from lakewatch.training.data import (
    DataSummary,
    assign_files,
    fit_global_scaler,
    list_training_files,
    summarize,
    training_frame,
    write_training_files,
)
from lakewatch.training.loop import TrainJob, train_worker
from lakewatch.training.settings import TrainingSettings


@dataclass(frozen=True)
class TrainResult:
    """A trained detector and what training measured.

    ``metrics``: per-epoch lists (loss, epoch_seconds, windows_per_second); ``params``: the settings used
    plus the data summary; ``windows``: training windows over all ranks; ``seconds``: wall time of the whole
    call (writing files, training, calibration).
    """

    detector: AutoencoderDetector
    metrics: dict[str, list[float]]
    params: dict[str, Any]
    windows: int
    seconds: float
    run_id: str = ""
    data_dir: str = ""
    summary: DataSummary | None = None
    train_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_use_gpu(setting: Any, spark: SparkSession, local_mode: bool) -> bool:
    """``training.use_gpu`` as a bool: "auto" means CUDA is available here and Spark has GPUs configured
    (``spark.driver.resource.gpu.amount`` in local mode, ``spark.task.resource.gpu.amount`` otherwise),
    which is what TorchDistributor needs to hand GPUs to the ranks."""
    if setting in (True, False):
        return bool(setting)
    key = "spark.driver.resource.gpu.amount" if local_mode else "spark.task.resource.gpu.amount"
    try:
        configured = float(spark.conf.get(key, "0") or 0) > 0
    except ValueError:
        configured = False
    return bool(torch.cuda.is_available() and configured)


def local_path(location: str) -> Path | None:
    """A location under the table root (a path or a ``file:`` URI) as a local path; None on a remote file system."""
    return Lakehouse(location).local_root


def remove_local_dir(location: str) -> None:
    """Remove a working folder such as a run's training files, when it is on the local file system (a remote one
    is left to the file system's own lifecycle rules)."""
    path = local_path(location)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def model_spec(settings: TrainingSettings, channels: int) -> ModelSpec:
    """The model spec for these settings and channel count."""
    return ModelSpec(settings.model, settings.window, channels, settings.latent, settings.hidden)


def make_job(settings: TrainingSettings, spec: ModelSpec, scaler: RobustScaler, value_columns: tuple[str, ...],
             rank_files: list[list[str]], use_gpu: bool, threads: int = 0) -> TrainJob:
    """The plain job object every rank receives."""
    return TrainJob(
        spec=spec, scaler=scaler.to_dict(), value_columns=value_columns,
        rank_files=tuple(tuple(f) for f in rank_files), epochs=settings.epochs, batch_size=settings.batch_size,
        learning_rate=float(settings.learning_rate), beta=float(settings.beta), stride=settings.stride,
        tail=settings.tail, seed=settings.seed, use_gpu=use_gpu, threads=threads,
        max_calibration_errors=settings.max_calibration_errors,
    )


def prepare_job(spark: SparkSession, config: LakewatchConfig, settings: TrainingSettings, data_dir: str,
                progress: Progress, use_gpu: bool) -> tuple[TrainJob, DataSummary, tuple[str, ...]]:
    """Check the table, write the training files under ``data_dir`` and build the job for the ranks."""
    frame = training_frame(spark, config, settings)
    with progress.stage(f"check {frame.table}") as counts:
        summary = summarize(frame, settings.window)
        counts.update(series=summary.series, rows=summary.rows, dropped_non_finite=summary.dropped_rows)
    if summary.dropped_rows:
        progress.say(f"dropped {summary.dropped_rows:,} row(s) of {frame.table} with a null, NaN or infinite value")
    channels = len(frame.value_columns)
    if settings.scaling == "global":
        scaler = fit_global_scaler(frame, "global")
    else:
        scaler = RobustScaler("window", (0.0,) * channels, (1.0,) * channels)
    files = min(summary.series, settings.num_processes * settings.files_per_process)
    with progress.stage(f"write training files to {data_dir}") as counts:
        write_training_files(frame, data_dir, files)
        listed = list_training_files(data_dir)
        counts.update(files=len(listed), rows=sum(n for _, n in listed))
    job = make_job(settings, model_spec(settings, channels), scaler, frame.value_columns,
                   assign_files(listed, settings.num_processes), use_gpu, settings.threads_per_process)
    return job, summary, frame.channel_names


def run_distributed(job: TrainJob, settings: TrainingSettings, use_gpu: bool) -> dict:
    """Run :func:`train_worker` with TorchDistributor; return rank 0's output."""
    distributor = TorchDistributor(num_processes=settings.num_processes, local_mode=settings.local_mode,
                                   use_gpu=use_gpu)
    output = distributor.run(train_worker, job)
    if not isinstance(output, dict) or "state_dict" not in output:
        raise RuntimeError(f"TorchDistributor returned {type(output).__name__}; expected rank 0's result dict")
    return output


def build_detector(job: TrainJob, output: dict, channel_names: tuple[str, ...], name: str | None = None,
                   info: dict | None = None) -> AutoencoderDetector:
    """The detector for a trained model: weights from ``output``, calibration fitted on its errors."""
    calibration = fit_calibration(np.asarray(output["errors"]))
    return AutoencoderDetector(job.spec, output["state_dict"], RobustScaler.from_dict(job.scaler), calibration,
                               tail=job.tail, channel_names=channel_names, name=name, info=info)


def train_model(spark: SparkSession, config: LakewatchConfig, settings: TrainingSettings, progress: Progress,
                run_id: str | None = None) -> TrainResult:
    """Train a window autoencoder on the configured feature table with TorchDistributor.

    Reads ``settings.table`` (default gold.features: series_id, channel, timestamp, value), writes the
    training rows to ``<table_root>/_training/<run_id>/`` (removed afterwards unless keep_training_files),
    trains ``settings.num_processes`` DDP ranks, fits the score calibration on the training errors.
    Raises :class:`~lakewatch.training.data.TrainingDataError` for an unusable table.
    """
    began = time.perf_counter()
    run_id = run_id or new_run_id()
    use_gpu = resolve_use_gpu(settings.use_gpu, spark, settings.local_mode)
    if settings.use_gpu == "auto" and torch.cuda.is_available() and not use_gpu:
        progress.say("CUDA is available but Spark has no GPU resources configured; training on CPU")
    data_dir = config.lakehouse.training(run_id)
    try:
        job, summary, channel_names = prepare_job(spark, config, settings, data_dir, progress, use_gpu)
        with progress.stage(f"train {settings.model} with TorchDistributor ({settings.num_processes} process(es), "
                            f"{'GPU' if use_gpu else 'CPU'})"):
            trained_at = time.perf_counter()
            output = run_distributed(job, settings, use_gpu)
            train_seconds = time.perf_counter() - trained_at
    finally:
        if not settings.keep_training_files:
            remove_local_dir(data_dir)
    params = {**settings.as_dict(), "use_gpu_resolved": use_gpu, "series": summary.series,
              "rows": summary.rows, "dropped_rows": summary.dropped_rows, "channel_names": list(channel_names)}
    info = {"run_id": run_id, "table": settings.table or config.tables.gold_features,
            "windows": output["windows"], "final_loss": output["metrics"]["loss"][-1]}
    detector = build_detector(job, output, channel_names, info=info)
    for epoch, loss in enumerate(output["metrics"]["loss"], start=1):
        progress.say(f"epoch {epoch}: loss {loss:.6f}, "
                     f"{output['metrics']['windows_per_second'][epoch - 1]:,.0f} windows/s")
    return TrainResult(detector, output["metrics"], params, int(output["windows"]), time.perf_counter() - began,
                       run_id, data_dir, summary, train_seconds)
