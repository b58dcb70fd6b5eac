"""Benchmark: what each step of the score stream's stateful stage costs, by running it cut short.

    .venv/bin/python bench/stream_stages.py --series 1000 --points 2000

Writes a silver-like Delta table, then for each cut runs a Delta-source query (availableNow, RocksDB state,
local[2]) whose foreachBatch only counts the rows, once over the first 20% of the points (warm-up) and once over
the rest (timed; 4 commits). The cuts, each including the ones before it:
source (read the readings), pack (per-series packing in Python, mapInArrow), stateful (applyInPandasWithState
with a function that does no scoring but stores a state blob of the default detector's compressed size) and
real (lakewatch's stateful scoring). The difference between two cuts is what the later step adds.
Results go to bench/out/stream-stages-<series>x<points>.json.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from stream_bench import append, bench_session, close_lakehouse, readings, write_result

from lakewatch import schemas, tables
from lakewatch.detectors import get_detector
from lakewatch.streaming.packing import pack_batches, packed_schema
from lakewatch.streaming.scoring import OUTPUT_SCHEMA, SeriesScorer, group_function
from lakewatch.streaming.state import STATE_SCHEMA, STATE_VERSION

CUTS = ("source", "pack", "stateful", "real")


def stand_in(blob: bytes):
    """A state function that reads its rows, stores `blob` and emits one row: Spark's per-group cost alone."""
    def function(key: tuple, frames: Iterator[pd.DataFrame], state) -> Iterator[pd.DataFrame]:
        rows = sum(len(frame) for frame in frames)
        state.update((STATE_VERSION, blob, b"", 0, 0, b"", b"", None, rows))
        yield pd.DataFrame({"series_id": [str(key[0])]})
    return function


def query(spark, config, cut: str, blob: bytes) -> DataFrame:
    """The stream cut after step `cut`."""
    source = spark.readStream.format("delta").table(config.tables.silver_readings).select(
        "series_id", "channel", F.unix_micros("timestamp").alias("ts_us"), "value")
    if cut == "source":
        return source
    packed = source.mapInArrow(pack_batches, packed_schema(source.schema))
    if cut == "pack":
        return packed
    grouped = packed.groupBy("series_id", "channel")
    if cut == "stateful":
        return grouped.applyInPandasWithState(stand_in(blob), "series_id string", STATE_SCHEMA, "append",
                                              "NoTimeout")
    scorer = SeriesScorer(get_detector("lakewatch_nab"), 0.5)
    return grouped.applyInPandasWithState(group_function(scorer), OUTPUT_SCHEMA, STATE_SCHEMA, "append", "NoTimeout")


def run(spark, config, cut: str, blob: bytes, checkpoint: str) -> float:
    """Seconds the foreachBatch count of the query's (single) micro-batch took."""
    seconds: list[float] = []

    def count(batch: DataFrame, batch_id: int) -> None:
        began = time.perf_counter()
        batch.count()
        seconds.append(time.perf_counter() - began)

    started = query(spark, config, cut, blob).writeStream.option("checkpointLocation", checkpoint).trigger(
        availableNow=True).foreachBatch(count).start()
    started.awaitTermination()
    return round(sum(seconds), 2)


def main() -> None:
    """Run every cut and write bench/out/stream-stages-<series>x<points>.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--state-bytes", type=int, default=25_000, help="stand-in state blob per series")
    args = parser.parse_args()
    root, config, spark = bench_session("lakewatch-stream-stages")
    blob = np.random.default_rng(0).bytes(args.state_bytes)
    warm = args.points // 5
    try:
        tables.ensure_table(spark, config, config.tables.silver_readings, schemas.SILVER_READINGS)
        append(spark, config, readings(args.series, 0, warm))
        warmup = {cut: run(spark, config, cut, blob, config.lakehouse.checkpoint("stream_stages", cut)) for cut in CUTS}
        for part in np.array_split(np.arange(warm, args.points), 4):
            append(spark, config, readings(args.series, int(part[0]), len(part)))
        timed = {cut: run(spark, config, cut, blob, config.lakehouse.checkpoint("stream_stages", cut)) for cut in CUTS}
    finally:
        spark.stop()
        close_lakehouse(root)
    rows = args.series * (args.points - warm)
    result = {"series": args.series, "timed_rows": rows, "state_bytes": args.state_bytes,
              "warmup_seconds": warmup, "timed_seconds": timed,
              "added_seconds": {cut: round(timed[cut] - (timed[CUTS[i - 1]] if i else 0.0), 2)
                                for i, cut in enumerate(CUTS)}}
    print(json.dumps(result, indent=2))
    write_result(f"stream-stages-{args.series}x{args.points}", result)


if __name__ == "__main__":
    main()
