"""Benchmark: what a stream without Spark's state store could reach here, from its parts measured one by one.

    .venv/bin/python bench/stream_driver_bound.py --lakehouse /tmp/svp/lake      # e.g. stream_vs_plain.py's --work

The design measured: a foreachBatch over the readings with no stateful operator; the driver collects the micro-batch
as Arrow, two long-lived worker processes keep the series' states in memory (each series always on the same worker)
and score their series with lakewatch's own step (`SeriesScorer.step`: ordering, the default detector, flags,
explanations, events), each worker writes its series' states for the batch (what exactly-once would need to
restart from), and the driver commits the rows (the driver commit is timed by the stream itself:
`streaming.driver_commit_rows`, BENCHMARKS.md). Timed on a lakehouse's silver.readings, every series from a fresh
state, the whole table as one micro-batch:
1. collect: Spark reads silver.readings and `toArrow()` brings series_id, channel, timestamp, value to the driver;
2. group: the driver sorts by series and hands each worker its series' arrays;
3. step: the two workers score (explanations on, as configured), states serialised and written to a folder;
4. the sum, and the events/s it bounds (the commit not included).
Results go to bench/out/stream-driver-bound.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import zlib
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stream_bench import bench_session, write_result

_WORKER: dict = {}


def _init(root: str, overrides: list[str]) -> None:
    """Each worker builds the stream's scorer once (default detector, its threshold, explanations as configured)."""
    from lakewatch.config import load_config
    from lakewatch.detectors import get_detector
    from lakewatch.streaming.explaining import make_explainer
    from lakewatch.streaming.scoring import SeriesScorer
    from lakewatch.streaming.settings import stream_settings

    config = load_config("local", [f"table_root={root}", *overrides])
    settings = stream_settings(config)
    name = config.detectors.resolve("")
    detector = get_detector(name, catalog=config.detectors)
    _WORKER["scorer"] = SeriesScorer(detector, settings.flag_threshold(config, name),
                                     explainer=make_explainer(settings.explain))
    _WORKER["warm"] = False


def _score(args: tuple[list[tuple[str, np.ndarray, np.ndarray]], str]) -> tuple[int, int, int, float]:
    """Step every series of the part from a fresh state, write their states; rows, flagged, state bytes, seconds."""
    from lakewatch.streaming.state import SeriesState

    part, state_dir = args
    scorer = _WORKER["scorer"]
    if not _WORKER["warm"]:  # compile the kernels outside the timing
        scorer.step(SeriesState(), part[0][1][:300], part[0][2][:300])
        _WORKER["warm"] = True
    began = time.perf_counter()
    rows = flagged = 0
    blobs = []
    for series_id, ts, values in part:
        out = scorer.step(SeriesState(), ts, values)
        rows += len(out.scores)
        flagged += int(out.flags.sum())
        row = out.state.to_row()
        blobs.append(zlib.crc32(series_id.encode()).to_bytes(4, "little") + b"".join(
            len(b).to_bytes(4, "little") + b for b in (row[1], row[2], row[5], row[6])))
    data = b"".join(blobs)
    target = Path(state_dir) / f"state-{os.getpid()}.bin"
    target.write_bytes(data)
    os.fsync(os.open(target, os.O_RDONLY))
    return rows, flagged, len(data), time.perf_counter() - began


def main() -> None:
    """Measure each part and write bench/out/stream-driver-bound.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lakehouse", required=True, help="a lakehouse whose silver.readings to read")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a configuration override for the scorer, e.g. streaming.explain.enabled=false")
    args = parser.parse_args()
    root = Path(args.lakehouse)
    _, config, spark = bench_session("stream-driver-bound", root=root)
    spark.read.table(config.tables.silver_readings).limit(10).toArrow()  # session warm-up
    began = time.perf_counter()
    table = spark.read.table(config.tables.silver_readings).select("series_id", "channel", "timestamp",
                                                                   "value").toArrow()
    collect = time.perf_counter() - began
    spark.stop()

    began = time.perf_counter()
    key = pc.binary_join_element_wise(table["series_id"], table["channel"], "|")
    ts = pc.cast(table["timestamp"], pa.int64()).to_numpy()
    values = table["value"].to_numpy(zero_copy_only=False)
    keys = key.to_numpy(zero_copy_only=False)
    order = np.lexsort((ts, keys))
    keys, ts, values = keys[order], ts[order], values[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    parts: list[list] = [[], []]
    for a, b in zip(starts, ends, strict=True):
        parts[zlib.crc32(keys[a].encode()) % 2].append((keys[a], ts[a:b].copy(), values[a:b].copy()))
    group = time.perf_counter() - began

    with tempfile.TemporaryDirectory(prefix="driver-bound-") as state_dir, get_context("spawn").Pool(
            2, initializer=_init, initargs=(str(root), args.set)) as pool:
        pool.map(_score, [([p[0]], state_dir) for p in parts])  # warm-up: one series each, kernels compiled
        began = time.perf_counter()
        done = pool.map(_score, [(p, state_dir) for p in parts])
        step = time.perf_counter() - began
    rows = sum(d[0] for d in done)
    total = collect + group + step
    result = {
        "lakehouse": str(root), "sets": args.set, "rows": rows, "series": len(starts),
        "flagged": sum(d[1] for d in done),
        "collect_seconds": round(collect, 2), "group_seconds": round(group, 2), "step_seconds": round(step, 2),
        "step_seconds_per_worker": [round(d[3], 2) for d in done], "state_bytes": sum(d[2] for d in done),
        "total_seconds_without_commit": round(total, 2),
        "events_per_second_bound": round(rows / total), "load_average": os.getloadavg(),
    }
    print(result)
    write_result("stream-driver-bound" + ("-" + "-".join(args.set) if args.set else ""), result)


if __name__ == "__main__":
    main()
