"""Benchmark: the full NAB evaluation on Spark against the same detector in a plain in-process loop.

    .venv/bin/python bench/nab_eval_bench.py                      # default detector, the default NAB corpus
    .venv/bin/python bench/nab_eval_bench.py --detector windowed_gaussian

Times, in one run: (1) the whole Spark evaluation (ingest and refine of the corpus, grouped scoring on
local[*], threshold optimisation over three profiles, writing tables and NAB's layout) on a fresh
lakehouse, (2) a second run on the same lakehouse, where ingest finds nothing new, (3) a plain Python
loop over the same CSV files with the same detector and scorer, and (4) grouped scoring on Spark against
the loop over --copies copies of the corpus, where the work outgrows Spark's fixed costs.
Results: bench/out/nab-<detector>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F

from lakewatch.config import load_config
from lakewatch.detectors import get_detector
from lakewatch.evaluation import NabCorpus, default_corpus_path, score_all_profiles
from lakewatch.evaluation.spark_run import evaluate_nab
from lakewatch.progress import Progress
from lakewatch.scoring import (
    detector_settings,
    keyed_readings,
    number_series,
    score_keyed,
    score_series,
    series_keys,
)
from lakewatch.spark import get_spark

OUT = Path(__file__).resolve().parent / "out"


def in_process(nab: Path, detector: str, params: dict) -> tuple[float, float, dict[str, float]]:
    """(seconds scoring, seconds in total, normalised scores) for a single-process loop over the corpus."""
    began = time.perf_counter()
    frames, scoring = {}, 0.0
    for path in sorted(NabCorpus(nab).data_dir.glob("*/*.csv")):
        frame = pd.read_csv(path, parse_dates=["timestamp"])
        t0 = time.perf_counter()
        nanos = frame["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64")
        frame["anomaly_score"] = get_detector(detector, params).score_series(frame["value"].to_numpy(float), nanos)
        scoring += time.perf_counter() - t0
        frames[f"{path.parent.name}/{path.name}"] = frame
    corpus = NabCorpus(nab)
    results = score_all_profiles(frames, corpus.windows(), corpus.profiles())
    return scoring, time.perf_counter() - began, {k: round(v.normalized, 2) for k, v in results.items()}


def grouped_copies(spark, config, detector: str, params: dict, copies: int) -> tuple[int, float, float]:
    """(points, seconds, seconds with the grouping shuffle) of grouped scoring on Spark over `copies` copies
    of the NAB series in silver (each copy its own series), Python workers already warm, results to a
    no-op sink. The first time starts from the copies cached already partitioned by series, as the loop
    starts from its series in memory; the second from the copies cached as rows in any order, so it also
    pays for finding and numbering the series and for the shuffle that groups them."""
    tasks = 2 * spark.sparkContext.defaultParallelism
    silver = spark.table(config.tables.silver_readings)
    copied = silver.crossJoin(spark.range(copies).withColumnRenamed("id", "copy")).withColumn(
        "series_id", F.concat_ws("#", "series_id", F.col("copy").cast("string"))).drop("copy").cache()
    points = copied.count()
    names = number_series((r.series_id, r.channel) for r in copied.select("series_id", "channel").distinct().collect())
    grouped = keyed_readings(copied, series_keys(spark, names)).repartition(tasks, "key").cache()
    grouped.count()
    began = time.perf_counter()
    score_keyed(grouped, names, detector, params).write.format("noop").mode("overwrite").save()
    seconds = time.perf_counter() - began
    grouped.unpersist()
    began = time.perf_counter()
    score_series(copied, detector, params, tasks).write.format("noop").mode("overwrite").save()
    with_shuffle = time.perf_counter() - began
    copied.unpersist()
    return points, seconds, with_shuffle


def loop_copies(nab: Path, detector: str, params: dict, copies: int) -> float:
    """Seconds of the single-process loop scoring `copies` copies of the corpus (files read once, untimed)."""
    frames = [pd.read_csv(path, parse_dates=["timestamp"]) for path in sorted(NabCorpus(nab).data_dir.glob("*/*.csv"))]
    inputs = [(f["value"].to_numpy(float), f["timestamp"].to_numpy(dtype="datetime64[ns]").astype("int64"))
              for f in frames]
    began = time.perf_counter()
    for _ in range(copies):
        for values, nanos in inputs:
            get_detector(detector, params).score_series(values, nanos)
    return time.perf_counter() - began


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=str(default_corpus_path()))
    parser.add_argument("--detector", default=None)
    parser.add_argument("--copies", type=int, default=8,
                        help="also time grouped scoring against the loop on this many copies of the corpus")
    args = parser.parse_args()
    nab = Path(args.corpus)
    detector, params = detector_settings(args.detector)
    root = Path(tempfile.mkdtemp(prefix="lakewatch-nab-bench-"))
    config = load_config("local", [f"table_root={root}"])
    spark = get_spark("lakewatch-nab-bench", config, {"spark.master": "local[*]", "spark.ui.enabled": "false"})
    progress = Progress("bench", spark.sparkContext, stream=io.StringIO())
    timings = {}
    for run in ("first", "second"):
        began = time.perf_counter()
        outcome = evaluate_nab(spark, config, nab, detector, params, f"bench-{run}", progress, root / "results")
        timings[run] = (time.perf_counter() - began, dict(outcome.seconds))
    copies_points, copies_spark, copies_shuffled = grouped_copies(spark, config, detector, params, args.copies)
    spark.stop()
    loop_scoring, loop_total, loop_scores = in_process(nab, detector, params)
    copies_loop = loop_copies(nab, detector, params, args.copies)
    spark_scoring = timings["second"][1]["score"]
    result = {
        "detector": detector, "points": outcome.points,
        "spark_scores": {k: round(v, 2) for k, v in outcome.normalized().items()},
        "loop_scores": loop_scores,
        "spark_evaluation_first_run_s": round(timings["first"][0], 1),
        "spark_evaluation_second_run_s": round(timings["second"][0], 1),
        "spark_stage_seconds_first_run": {k: round(v, 1) for k, v in timings["first"][1].items()},
        "spark_stage_seconds_second_run": {k: round(v, 1) for k, v in timings["second"][1].items()},
        "loop_scoring_s": round(loop_scoring, 1), "loop_total_s": round(loop_total, 1),
        "spark_grouped_scoring_vs_loop_scoring": round(spark_scoring / loop_scoring, 2),
        "loop_points_per_s": round(outcome.points / loop_scoring),
        "spark_points_per_s": round(outcome.points / spark_scoring),
        "copies": args.copies, "copies_points": copies_points,
        "copies_spark_grouped_scoring_s": round(copies_spark, 2), "copies_loop_scoring_s": round(copies_loop, 2),
        "copies_spark_vs_loop": round(copies_spark / copies_loop, 2),
        "copies_spark_with_shuffle_s": round(copies_shuffled, 2),
        "copies_spark_with_shuffle_vs_loop": round(copies_shuffled / copies_loop, 2),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / f"nab-{detector}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
