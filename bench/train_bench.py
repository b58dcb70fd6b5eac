"""Benchmark: deep-detector training throughput with TorchDistributor (1 and 2 processes) against the same
training loop run in-process without the distributor.

    .venv/bin/python bench/train_bench.py                       # 8 series x 2000 rows, window 64, 3 epochs
    .venv/bin/python bench/train_bench.py --series 16 --points 4000 --epochs 5 --model lstm_ae

One run: a synthetic gold.features-like Delta table in a temporary lakehouse, the training files written
once by the driver (Spark), then (1) the loop in-process (one rank, no torch.distributed), (2)
TorchDistributor with 1 process, (3) with 2 processes, all local_mode on CPU. Reported per run: training
windows per second (steady state: epochs after the first) and the wall time of the whole call, whose
difference to the epochs' time is the distributor's start-up overhead. Results: bench/out/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lakewatch import tables
from lakewatch.config import load_config
from lakewatch.progress import Progress
from lakewatch.spark import get_spark
from lakewatch.training import TrainingSettings
from lakewatch.training.data import assign_files, list_training_files
from lakewatch.training.loop import train_worker
from lakewatch.training.train import prepare_job, run_distributed

OUT = Path(__file__).resolve().parent / "out"


def synthetic_features(series: int, points: int, seed: int = 0) -> pd.DataFrame:
    """Noisy daily-seasonal series in the gold.features key columns (series_id, channel, timestamp, value)."""
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    stamps = pd.date_range("2026-01-01", periods=points, freq="5min")
    frames = [pd.DataFrame({"series_id": f"s{i}", "channel": "value", "timestamp": stamps,
                            "value": 10 + 3 * np.sin(2 * np.pi * t / 288 + i) + rng.normal(0, 0.5, points)})
              for i in range(series)]
    return pd.concat(frames, ignore_index=True)


def _summary(metrics: dict, wall: float) -> dict:
    steady = metrics["windows_per_second"][1:] or metrics["windows_per_second"]
    return {"windows_per_second": round(float(np.median(steady)), 1),
            "epoch_seconds": [round(s, 3) for s in metrics["epoch_seconds"]],
            "loss": [round(v, 6) for v in metrics["loss"]],
            "wall_seconds": round(wall, 2),
            "overhead_seconds": round(wall - sum(metrics["epoch_seconds"]), 2)}


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=8)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--model", default="cnn_ae")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (in-process too)")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    root = Path(tempfile.mkdtemp(prefix="lakewatch-train-bench-"))
    config = load_config("local", [f"table_root={root}"])
    spark = get_spark("lakewatch-train-bench", config, {"spark.master": "local[2]", "spark.ui.enabled": "false",
                                                         "spark.sql.shuffle.partitions": "2"})
    name = config.tables.gold_features
    tables.ensure_database(spark, config, name)
    tables.overwrite(spark.createDataFrame(synthetic_features(args.series, args.points)), name,
                     tables.table_location(config, name))
    settings = TrainingSettings(model=args.model, window=args.window, epochs=args.epochs,
                                batch_size=args.batch_size, num_processes=2, files_per_process=2)
    progress = Progress("train-bench")
    job, summary, _ = prepare_job(spark, config, settings, config.lakehouse.training("bench"), progress, False)
    listed = list_training_files(config.lakehouse.training("bench"))
    runs: dict[str, dict] = {}

    threads = args.threads
    began = time.perf_counter()
    output = train_worker(job, distributed=False)
    runs["in_process"] = _summary(output["metrics"], time.perf_counter() - began)
    for n in (1, 2):
        per_rank = job.__class__(**{**job.__dict__, "rank_files": tuple(tuple(f) for f in assign_files(listed, n)),
                                    "threads": threads})
        began = time.perf_counter()
        output = run_distributed(per_rank, settings.with_overrides(num_processes=n), use_gpu=False)
        runs[f"distributor_{n}"] = _summary(output["metrics"], time.perf_counter() - began)
    base = runs["in_process"]["windows_per_second"]
    result = {
        "benchmark": "train", "model": args.model, "series": args.series, "points": args.points,
        "window": args.window, "threads_per_process": threads, "epochs": args.epochs, "batch_size": args.batch_size,
        "windows_per_epoch": output["windows"], "rows": summary.rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch": torch.__version__,
                    "load_average_at_end": os.getloadavg()},
        "runs": runs,
        "throughput_vs_in_process": {k: round(v["windows_per_second"] / base, 3) for k, v in runs.items()},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "train.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    spark.stop()


if __name__ == "__main__":
    main()
