"""Benchmark: synthetic raw CSV files through bronze, silver, validation and gold, against plain Spark and PyArrow.

    .venv/bin/python bench/pipeline_bench.py --rows 10000000            # the BENCHMARKS.md figures
    .venv/bin/python bench/pipeline_bench.py --rows 100000000 --skip-arrow

Writes the raw files once (Spark, from the synthetic source), then times each stage of the
pipeline on them (rows per second), samples the peak resident memory of the Spark JVM (driver and
executor are one JVM in local mode), its used heap, and the Python workers' memory. gold.features is a
view: the seconds a query selecting all its columns takes are reported beside the stages, not in them. In the same run,
on the same files, it times the plain Spark job of ../shared/baselines/plain_medallion.py (text to
Parquet, typed and deduplicated to Parquet, one window pass to Parquet: run by path in its own
process, after lakewatch's session has stopped) and PyArrow reading the files and writing Parquet.
Results go to bench/out/pipeline-<rows>.json.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lakewatch.config import load_config
from lakewatch.pipeline import run_features, run_ingest, run_refine, run_validation
from lakewatch.progress import Progress
from lakewatch.sources.files import FileSource
from lakewatch.sources.synthetic import SyntheticSource
from lakewatch.spark import get_spark

OUT = Path(__file__).resolve().parent / "out"
PLAIN_JOB = Path(__file__).resolve().parents[2] / "shared" / "baselines" / "plain_medallion.py"
_PLAIN_LINE = re.compile(r"plain spark: rows (\d+): bronze ([\d.]+)s silver ([\d.]+)s gold ([\d.]+)s total ([\d.]+)s")


class PeakMemory:
    """Samples the resident memory of this process' JVM child and Python workers until stopped."""

    def __init__(self, interval: float = 0.5, heap_used: Callable[[], int] | None = None) -> None:
        self.jvm = self.workers = self.heap = 0
        self._heap_used = heap_used
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self, interval: float) -> None:
        me = psutil.Process()
        while not self._stop.wait(interval):
            jvm = workers = 0
            for child in me.children(recursive=True):
                try:
                    rss = child.memory_info().rss
                    if "java" in child.name():
                        jvm += rss
                    else:
                        workers += rss
                except psutil.Error:
                    continue
            self.jvm, self.workers = max(self.jvm, jvm), max(self.workers, workers)
            if self._heap_used is not None:
                try:
                    self.heap = max(self.heap, self._heap_used())
                except Exception:  # the JVM may be busy stopping; a missed sample is harmless
                    continue


def jvm_heap_used(spark) -> Callable[[], int]:
    """A function returning the bytes of heap the session's JVM uses now (MemoryMXBean)."""
    bean = spark.sparkContext._jvm.java.lang.management.ManagementFactory.getMemoryMXBean()
    return lambda: int(bean.getHeapMemoryUsage().getUsed())


def folder_bytes(path: str | Path) -> int:
    """Bytes of the data files under `path` (Parquet and Delta log alike)."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def plain_spark(job: Path, raw: Path, target: Path) -> dict[str, float]:
    """Run the plain Spark job on the raw CSV files in its own process; return its stage seconds and output sizes."""
    done = subprocess.run([sys.executable, str(job), str(raw), str(target)], capture_output=True, text=True,
                          check=False)
    match = _PLAIN_LINE.search(done.stdout)
    if done.returncode != 0 or not match:
        raise RuntimeError(f"plain Spark job {job} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    rows, bronze, silver, gold, total = match.groups()
    return {"rows": int(rows), "bronze_s": float(bronze), "silver_s": float(silver), "gold_s": float(gold),
            "total_s": float(total), "silver_bytes": folder_bytes(target / "silver"),
            "gold_bytes": folder_bytes(target / "gold")}


def write_raw_csv(spark, settings_overrides: list[str], folder: Path) -> int:
    """Generate the synthetic data set as CSV files (series_id,timestamp,value); return the row count."""
    config = load_config("local", settings_overrides)
    rows = SyntheticSource(config.synthetic).read(spark).rows
    rows.selectExpr("series_id", "ts_raw AS timestamp", "value_raw AS value").write.mode("overwrite").option(
        "header", "true").csv(str(folder))
    return spark.read.option("header", "true").csv(str(folder)).count()


def arrow_baseline(folder: Path, target: Path) -> float:
    """Seconds PyArrow takes to read every CSV file of `folder` and write it as Parquet."""
    target.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    for i, path in enumerate(sorted(folder.glob("*.csv"))):
        pq.write_table(pacsv.read_csv(path), target / f"part-{i}.parquet")
    return time.perf_counter() - began


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--skip-arrow", action="store_true")
    parser.add_argument("--skip-plain", action="store_true", help="do not run the plain Spark job")
    parser.add_argument("--plain-job", default=str(PLAIN_JOB), help="the plain Spark job (default: %(default)s)")
    args = parser.parse_args()
    if args.rows < args.series or args.series <= 0:
        parser.error(f"--rows ({args.rows}) must be at least --series ({args.series}) and both positive")
    work = Path(args.work or tempfile.mkdtemp(prefix="lakewatch-bench-"))
    points = args.rows // args.series
    synthetic = [f"synthetic.series={args.series}", f"synthetic.points={points}", "synthetic.partitions=8",
                 f"table_root={work / 'lake'}"]
    raw = work / "raw"
    spark = get_spark("lakewatch-bench", load_config("local", synthetic), {
        "spark.master": "local[*]", "spark.driver.memory": "8g", "spark.ui.enabled": "false"})
    result: dict[str, object] = {"rows_requested": args.rows, "series": args.series, "cores": psutil.cpu_count()}
    began = time.perf_counter()
    result["raw_rows"] = write_raw_csv(spark, synthetic, raw)
    result["raw_write_s"] = round(time.perf_counter() - began, 1)
    result["raw_bytes"] = sum(p.stat().st_size for p in raw.glob("*.csv"))
    config = load_config("local", [*synthetic, f"sources.bench.path={raw}", "sources.bench.value_column=value",
                                   "sources.bench.series_id_from=column", "sources.bench.series_id_column=series_id"])
    progress = Progress("bench", spark.sparkContext, stream=io.StringIO())
    stages: dict[str, float] = {}
    with PeakMemory(heap_used=jvm_heap_used(spark)) as memory:
        t0 = time.perf_counter()
        ingested = run_ingest(spark, config, FileSource(config.source("bench")), progress)
        t1 = time.perf_counter()
        refined = run_refine(spark, config, ingested.ingest_id, progress)
        t2 = time.perf_counter()
        run_validation(spark, config, "bench", progress)
        t3 = time.perf_counter()
        feature_rows = run_features(spark, config, progress)
        t4 = time.perf_counter()
        # gold.features is a view: what a reader that selects every feature pays, computed once and dropped.
        spark.table(config.tables.gold_features).write.format("noop").mode("overwrite").save()
        t5 = time.perf_counter()
    stages = {"ingest": t1 - t0, "refine": t2 - t1, "validate": t3 - t2, "features": t4 - t3}
    rows = ingested.bronze_rows
    result.update({
        "bronze_rows": rows, "silver_rows": refined.silver_rows, "feature_rows": feature_rows,
        "stage_seconds": {k: round(v, 1) for k, v in stages.items()},
        "stage_rows_per_s": {k: round(rows / v) for k, v in stages.items()},
        "bronze_to_gold_s": round(sum(stages.values()), 1),
        "gold_features_all_columns_computed_s": round(t5 - t4, 1),
        "bronze_to_gold_rows_per_s": round(rows / sum(stages.values())),
        "peak_jvm_rss_gib": round(memory.jvm / 2**30, 2),
        "peak_jvm_heap_used_gib": round(memory.heap / 2**30, 2),
        "silver_bytes": folder_bytes(config.lakehouse.table(config.tables.silver_readings)),
        "gold_features_bytes": folder_bytes(config.lakehouse.table(config.tables.gold_features)),
        "peak_python_workers_rss_gib": round(memory.workers / 2**30, 2),
    })
    spark.stop()
    if not args.skip_plain:
        plain = plain_spark(Path(args.plain_job), raw, work / "plain")
        result["plain_spark"] = plain
        result["lakewatch_vs_plain_spark_ratio"] = round(sum(stages.values()) / plain["total_s"], 2)
    if not args.skip_arrow:
        arrow = arrow_baseline(raw, work / "arrow")
        result["arrow_read_csv_write_parquet_s"] = round(arrow, 1)
        result["lakewatch_vs_arrow_ratio"] = round(sum(stages.values()) / arrow, 1)
    OUT.mkdir(exist_ok=True)
    (OUT / f"pipeline-{args.rows}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
