"""What each DDP rank runs: read its share of the training Parquet files with pyarrow.dataset, build and
scale windows locally, train with DistributedDataParallel, and return rank 0's weights, per-epoch metrics
and a sample of every rank's training reconstruction errors for the calibration.

:func:`train_worker` is the function TorchDistributor runs (one plain :class:`TrainJob` argument); it also
runs in-process without torch.distributed (one rank), which the benchmark uses to measure the distributor's
overhead. Every rank runs the same number of optimiser steps per epoch (the largest local count; ranks with
fewer windows wrap around their shuffled windows), so the gradient all-reduces stay in step.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import torch
import torch.distributed as dist

from lakewatch.deep.models import ModelSpec, build_model, window_errors
from lakewatch.deep.windows import RobustScaler, sliding_windows

KEY = "series_key"
TS = "ts"


@dataclass(frozen=True)
class TrainJob:
    """Everything a rank needs, picklable: model spec, optimiser settings, the files of each rank."""

    spec: ModelSpec
    scaler: dict
    value_columns: tuple[str, ...]
    rank_files: tuple[tuple[str, ...], ...]
    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 1e-3
    beta: float = 1.0
    stride: int = 1
    tail: int = 1
    seed: int = 42
    use_gpu: bool = False
    threads: int = 0
    max_calibration_errors: int = 50_000
    log_prefix: str = "[lakewatch train]"
    extra: dict = field(default_factory=dict)

    def all_files(self) -> list[str]:
        """Every training file, in a fixed order."""
        return sorted({f for files in self.rank_files for f in files})


@dataclass
class _Context:
    rank: int
    world: int
    device: torch.device
    distributed: bool


def load_windows(files: list[str], job: TrainJob, shard: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Scaled float32 windows ``(m, channels, window)`` of the series in ``files`` (each series whole in one
    file); with ``shard=(rank, world)`` only windows ``rank::world`` are kept."""
    spec = job.spec
    empty = np.zeros((0, spec.channels, spec.window), dtype=np.float32)
    if not files:
        return empty
    fs, _ = pafs.FileSystem.from_uri(files[0])
    paths = [pafs.FileSystem.from_uri(f)[1] for f in files]
    table = ds.dataset(paths, format="parquet", filesystem=fs).to_table(columns=[KEY, TS, *job.value_columns])
    table = table.sort_by([(KEY, "ascending"), (TS, "ascending")])
    if table.num_rows == 0:
        return empty
    codes = pc.dictionary_encode(table.column(KEY)).combine_chunks().indices.to_numpy()
    values = np.stack([table.column(c).to_numpy() for c in job.value_columns], axis=1).astype(np.float64)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(codes)) + 1, [len(codes)]])
    scaler = RobustScaler.from_dict(job.scaler)
    parts = []
    for start, end in itertools.pairwise(bounds):
        windows = sliding_windows(values[start:end], spec.window, job.stride)
        if len(windows):
            parts.append(scaler.transform(windows).astype(np.float32))
    if not parts:
        return empty
    out = np.concatenate(parts)
    rank, world = shard
    return np.ascontiguousarray(out[rank::world]) if world > 1 else out


def train_worker(job: TrainJob, distributed: bool | None = None) -> dict | None:
    """Train on this rank's windows; return rank 0's ``{"state_dict", "metrics", "errors", "windows"}`` (every
    rank returns it, see below). ``distributed`` None means: use torch.distributed when torchrun started us."""
    ctx = _start(job, "LOCAL_RANK" in os.environ if distributed is None else distributed)
    try:
        return _train(job, ctx)
    finally:
        if ctx.distributed:
            dist.destroy_process_group()


def _start(job: TrainJob, distributed: bool) -> _Context:
    if job.threads > 0:
        torch.set_num_threads(job.threads)
    if not distributed:
        device = torch.device("cuda" if job.use_gpu else "cpu")
        return _Context(0, 1, device, False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if job.use_gpu:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    dist.init_process_group(backend="nccl" if job.use_gpu else "gloo")
    return _Context(dist.get_rank(), dist.get_world_size(), device, True)


def _all_reduce(ctx: _Context, values: list[float], op: str = "sum") -> list[float]:
    if not ctx.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t, op={"sum": dist.ReduceOp.SUM, "min": dist.ReduceOp.MIN, "max": dist.ReduceOp.MAX}[op])
    return t.cpu().tolist()


def _rank_windows(job: TrainJob, ctx: _Context) -> np.ndarray:
    if not ctx.distributed:
        files = job.all_files()
    elif len(job.rank_files) == ctx.world:
        files = list(job.rank_files[ctx.rank])
    else:  # the distributor started another number of ranks than the files were assigned to
        files = job.all_files()[ctx.rank :: ctx.world]
    windows = load_windows(files, job)
    if _all_reduce(ctx, [float(len(windows))], "min")[0] == 0:
        # some rank got no window from its files (fewer files than ranks, or only short series): shard windows
        windows = load_windows(job.all_files(), job, (ctx.rank, ctx.world))
    if _all_reduce(ctx, [float(len(windows))], "min")[0] == 0:
        raise RuntimeError(f"rank {ctx.rank}: no training window of {job.spec.window} rows in {job.all_files()}")
    return windows


def _train(job: TrainJob, ctx: _Context) -> dict | None:
    torch.manual_seed(job.seed)
    windows = _rank_windows(job, ctx)
    model = build_model(job.spec).to(ctx.device)
    net: torch.nn.Module = _LossModule(model, job.beta)
    if ctx.distributed:
        net = torch.nn.parallel.DistributedDataParallel(net)
    optimiser = torch.optim.Adam(net.parameters(), lr=job.learning_rate)
    steps = int(_all_reduce(ctx, [math.ceil(len(windows) / job.batch_size)], "max")[0])
    rng = np.random.default_rng(job.seed + 1000 * ctx.rank)
    data = torch.from_numpy(windows)
    metrics: dict[str, list[float]] = {"loss": [], "epoch_seconds": [], "windows_per_second": []}
    for epoch in range(job.epochs):
        began = time.perf_counter()
        order = rng.permutation(len(windows))
        total, seen = 0.0, 0
        net.train()
        for step in range(steps):
            idx = order[np.arange(step * job.batch_size, (step + 1) * job.batch_size) % len(windows)]
            batch = data[idx].to(ctx.device, non_blocking=True)
            optimiser.zero_grad(set_to_none=True)
            loss = net(batch)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(idx)
            seen += len(idx)
        loss_sum, count = _all_reduce(ctx, [total, float(seen)])
        seconds = time.perf_counter() - began
        metrics["loss"].append(loss_sum / count)
        metrics["epoch_seconds"].append(seconds)
        metrics["windows_per_second"].append(count / seconds if seconds > 0 else float("inf"))
        if ctx.rank == 0:
            print(f"{job.log_prefix} epoch {epoch + 1}/{job.epochs}: loss {loss_sum / count:.6f}, "
                  f"{int(count):,} windows in {seconds:.1f}s ({count / seconds:,.0f} windows/s, "
                  f"{ctx.world} process(es) on {ctx.device.type})", flush=True)
    errors = _calibration_errors(job, ctx, model, windows)
    total_windows = int(_all_reduce(ctx, [float(len(windows))])[0])
    result = None
    if ctx.rank == 0:
        state = {k: v.detach().to("cpu", torch.float32).clone() for k, v in model.state_dict().items()}
        result = {"state_dict": state, "metrics": metrics, "errors": errors, "windows": total_windows}
    if ctx.distributed:
        # In local mode every rank's return value is pickled to the same output file, in whatever order the
        # ranks finish: all ranks return rank 0's result so that the file holds it whoever writes last.
        box = [result]
        dist.broadcast_object_list(box, src=0)
        result = box[0]
    return result


class _LossModule(torch.nn.Module):
    """Wraps a model so that its training loss is the module's ``forward``: DDP all-reduces the gradients of
    what runs inside its wrapped ``forward``, and the VAE's loss needs more than a reconstruction."""

    def __init__(self, model: torch.nn.Module, beta: float) -> None:
        super().__init__()
        self.model = model
        self.beta = beta

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.training_loss(batch, self.beta)


def _calibration_errors(job: TrainJob, ctx: _Context, model: torch.nn.Module, windows: np.ndarray) -> np.ndarray:
    """Float64 reconstruction errors of (a sample of) every rank's windows, gathered on rank 0."""
    per_rank = max(1, job.max_calibration_errors // ctx.world)
    rng = np.random.default_rng(job.seed + 7 + ctx.rank)
    sample = windows if len(windows) <= per_rank else windows[np.sort(rng.choice(len(windows), per_rank, False))]
    scorer = build_model(job.spec).double()
    scorer.load_state_dict({k: v.detach().cpu().double() for k, v in model.state_dict().items()})
    errors = window_errors(scorer, sample.astype(np.float64), job.tail)
    if not ctx.distributed:
        return errors
    gathered: list = [None] * ctx.world
    dist.all_gather_object(gathered, errors)
    return np.concatenate(gathered) if ctx.rank == 0 else errors
