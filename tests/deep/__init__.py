"""Tests of lakewatch.deep and lakewatch.training; a small in-process trainer for detector tests lives here."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lakewatch.deep import AutoencoderDetector, ModelSpec, RobustScaler, fit_scaler_numpy
from lakewatch.training.loop import TrainJob, train_worker
from lakewatch.training.train import build_detector
from tests.detectors import make_series, timestamps


def write_series_file(path: Path, series: dict[str, np.ndarray]) -> None:
    """One Parquet training file (series_key, ts, v0..vk) like the ones the driver writes."""
    keys, stamps, cols = [], [], []
    for key, values in series.items():
        x = values[:, None] if values.ndim == 1 else values
        keys += [key] * len(x)
        stamps.append(timestamps(len(x)))
        cols.append(x)
    data = np.concatenate(cols)
    table = {"series_key": keys, "ts": pa.array(np.concatenate(stamps).astype("datetime64[ns]"))}
    table.update({f"v{i}": data[:, i] for i in range(data.shape[1])})
    pq.write_table(pa.table(table), path)


def tiny_job(files: list[str], spec: ModelSpec, scaler: RobustScaler, epochs: int = 3) -> TrainJob:
    """A job for the in-process trainer over ``files``."""
    return TrainJob(spec=spec, scaler=scaler.to_dict(), value_columns=tuple(f"v{i}" for i in range(spec.channels)),
                    rank_files=(tuple(files),), epochs=epochs, batch_size=64, learning_rate=3e-3, seed=1,
                    threads=1, log_prefix="[test train]")


@cache
def trained_detector(kind: str = "cnn_ae", channels: int = 1, window: int = 24, scaling: str = "window",
                     epochs: int = 3) -> AutoencoderDetector:
    """A small model trained in-process (no distributor) on clean test series, calibrated on its errors."""
    spec = ModelSpec(kind, window, channels, latent=4, hidden=8)
    series = {f"s{i}": make_series(800, seed=100 + i, channels=channels, shift=False) for i in range(3)}
    scaler = RobustScaler("window", (0.0,) * channels, (1.0,) * channels) if scaling == "window" else \
        fit_scaler_numpy("global", np.concatenate(list(series.values())))
    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "part-0.parquet"
        write_series_file(path, series)
        job = tiny_job([str(path)], spec, scaler, epochs)
        output = train_worker(job, distributed=False)
    return build_detector(job, output, tuple(f"c{i}" for i in range(channels)) if channels > 1 else ())
