"""Benchmark: what writing one micro-batch's scores to gold.anomaly_scores costs, step by step.

    .venv/bin/python bench/stream_writes.py --series 1000 --points 1600

Builds, in memory, the stateful operator's 'score' rows for `series` x `points` scored points (one row of arrays
per series, as lakewatch.streaming.scoring emits them), persists them like the sink does, and times the sink's
scores write cut short at each step, `--repeats` times each (the first run of each is a warm-up, left out of the
median). Each cut includes the ones before it:
unpack (lakewatch.streaming.sink.to_scores into Spark's no-op sink: one row per point, timestamps, JSON
attributions), parquet (plain Parquet files), delta (a Delta append with the table's statistics), idempotent
(the sink's append_idempotent: the same with txnAppId/txnVersion, which replays the table's log to find the
SetTransactions of the new version). The last two run against a table made as the stream makes it (statistics on
its first seven columns) and against one with Delta's default (32 columns). The difference between two cuts is
what the later step adds. Results go to bench/out/stream-writes-<series>x<points>.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from stream_bench import bench_session, close_lakehouse, write_result

from lakewatch import tables
from lakewatch.schemas import GOLD_ANOMALY_SCORES, GOLD_ANOMALY_SCORES_PROPERTIES
from lakewatch.streaming.scoring import KIND_SCORE, OUTPUT_SCHEMA
from lakewatch.streaming.sink import SinkSpec, append_idempotent, to_scores

T0_US = 1_767_225_600_000_000  # 2026-01-01


def score_rows(spark: SparkSession, series: int, points: int) -> DataFrame:
    """Packed 'score' rows (OUTPUT_SCHEMA) of `series` series with `points` scored points each, persisted in two
    partitions like the stateful operator's output."""
    rng = np.random.default_rng(3)
    ts = (T0_US + np.arange(points, dtype=np.int64) * 1_000_000).tolist()
    rows = []
    for i in range(series):
        scores = rng.random(points)
        rows.append((KIND_SCORE, f"series-{i:05d}", "value", ts, rng.normal(size=points).tolist(), scores.tolist(),
                     (scores > 0.999).tolist(), None, None, None))
    batch = spark.createDataFrame(rows, OUTPUT_SCHEMA).repartition(2).persist(StorageLevel.MEMORY_AND_DISK)
    batch.count()
    return batch


def median_seconds(action: Callable[[int], None], repeats: int) -> float:
    """Median wall time of action(i) for i = 1..repeats-1, after a warm-up call action(0)."""
    seconds = []
    for i in range(repeats):
        began = time.perf_counter()
        action(i)
        seconds.append(time.perf_counter() - began)
    return round(statistics.median(seconds[1:]), 3)


def main() -> None:
    """Time every cut and write bench/out/stream-writes-<series>x<points>.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1600)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    root, config, spark = bench_session("lakewatch-stream-writes")
    names = {"seven": "gold.scores_seven_stats", "default": "gold.scores_default_stats"}
    try:
        tables.ensure_table(spark, config, names["seven"], GOLD_ANOMALY_SCORES,
                            properties=GOLD_ANOMALY_SCORES_PROPERTIES)
        tables.ensure_table(spark, config, names["default"], GOLD_ANOMALY_SCORES)
        locations = {key: tables.catalog_location(spark, name) for key, name in names.items()}
        spec = SinkSpec(names["seven"], "unused", "unused", "bench", "bench@1", 0.5, "unused", "bench")
        batch = score_rows(spark, args.series, args.points)

        def scores(i: int) -> DataFrame:
            return to_scores(batch, spec, i, datetime.now(UTC))

        def plain(key: str) -> Callable[[int], None]:
            return lambda i: scores(i).write.format("delta").mode("append").save(locations[key])

        def idempotent(key: str) -> Callable[[int], None]:
            return lambda i: append_idempotent(scores(i), names[key], "bench", i, locations[key])

        cuts: dict[str, Callable[[int], None]] = {
            "unpack": lambda i: scores(i).write.format("noop").mode("overwrite").save(),
            "parquet": lambda i: scores(i).write.mode("overwrite").parquet(str(root / "parquet")),
            "delta_seven_stats": plain("seven"), "delta_default_stats": plain("default"),
            "idempotent_seven_stats": idempotent("seven"), "idempotent_default_stats": idempotent("default"),
        }
        seconds = {}
        for name, action in cuts.items():
            seconds[name] = median_seconds(action, args.repeats)
            print(f"{name}: {seconds[name]:.2f} s", flush=True)
    finally:
        spark.stop()
        close_lakehouse(root)
    rows = args.series * args.points
    result = {"series": args.series, "points": args.points, "rows": rows, "repeats": args.repeats,
              "median_seconds": seconds,
              "rows_per_second": {name: round(rows / s) for name, s in seconds.items()}}
    print(json.dumps(result, indent=2))
    write_result(f"stream-writes-{args.series}x{args.points}", result)


if __name__ == "__main__":
    main()
