"""Benchmark: the score stream's sustained throughput and end-to-end latency, against an in-process loop.

    .venv/bin/python bench/stream_bench.py --series 1000 --points 1000         # throughput, 1,000 series
    .venv/bin/python bench/stream_bench.py --series 10000 --points 200
    .venv/bin/python bench/stream_bench.py --series 1000 --latency-rate 10000 --latency-seconds 60

Throughput: writes a silver-like Delta table (series x points, one commit per time slice), runs the stream
(availableNow, RocksDB state, checkpointing, the default detector, explanations off unless --explain) once over
the first `--warmup` fraction (states created, kernels compiled), then times a second catch-up run over the rest:
sustained events/s = rows scored / wall time of that run. In the same process it scores the same events with
detector.score_series per series (the in-process loop) and reports the overhead ratio.
Latency (--latency-rate R): while the query runs with a processingTime trigger, readings arrive at R events/s
with timestamp = their arrival time: with --source delta (silver.readings, the default) a writer thread in this
process appends a Delta commit every --commit-interval seconds holding the events due, so the writer's Spark jobs
share the query's JVM and cores; with --source kafka a producer process sends them as JSON to a real Kafka
broker (tests/kafka_harness.py) every --produce-interval seconds. Over the rows that arrived after a warm-up it
reports p50/p95 of scored_at - timestamp (scored) and of the commit time of the row's batch - timestamp
(visible to readers). Results go to bench/out/stream-<series>x<points>[-b<buckets>][-latency[-kafka]].json.
"""

from __future__ import annotations

import argparse
import atexit
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import SparkSession

from lakewatch import schemas, tables
from lakewatch.catalog import derby
from lakewatch.config import LakewatchConfig, load_config, project_root
from lakewatch.detectors import get_detector
from lakewatch.layout import Lakehouse
from lakewatch.progress import Progress
from lakewatch.spark import get_spark
from lakewatch.streaming.job import resolve_detector, run_score_stream
from lakewatch.streaming.settings import StreamSettings

OUT = Path(__file__).resolve().parent / "out"
START = np.datetime64("2026-01-01T00:00:00", "ns")
STEP_NS = 300 * 10**9


def readings(series: int, first: int, count: int, seed: int = 11) -> pd.DataFrame:
    """Points first..first+count-1 of `series` synthetic series (daily sine, noise, rare spikes), time-major."""
    rng = np.random.default_rng(seed + first)
    t = np.arange(first, first + count)
    phase = np.arange(series)[:, None]
    values = 10 + 3 * np.sin(2 * np.pi * t[None, :] / 288 + phase) + rng.normal(0, 0.3, (series, count))
    values += (rng.random((series, count)) < 0.001) * 15
    ids = np.array([f"s{i:05d}" for i in range(series)], dtype=object)
    return pd.DataFrame({
        "series_id": np.tile(ids, count), "channel": "value",
        "timestamp": np.repeat(START + t * STEP_NS, series), "value": values.T.ravel(),
        "source": "bench", "ingest_id": "bench"})


def append(spark, config, frame: pd.DataFrame) -> None:
    """One Delta commit of silver-shaped rows."""
    tables.append(spark.createDataFrame(frame, schemas.SILVER_READINGS), config.tables.silver_readings)


def loop_rate(frame: pd.DataFrame, detector_name: str) -> float:
    """Events/s of detector.score_series per series over `frame` in this process (one core)."""
    det = get_detector(detector_name)
    groups = [(g["value"].to_numpy(np.float64), g["timestamp"].to_numpy("datetime64[ns]").view(np.int64))
              for _, g in frame.groupby("series_id", sort=False)]
    det.score_series(groups[0][0][:300], groups[0][1][:300])  # compile outside the timing
    began = time.perf_counter()
    for values, stamps in groups:
        det.score_series(values, stamps)
    return len(frame) / (time.perf_counter() - began)


def throughput(spark, config, args, settings: StreamSettings) -> dict:
    """Warm-up run, then the timed catch-up run; returns its figures."""
    warm = max(1, int(args.points * args.warmup))
    progress = Progress("stream-bench")
    slices = np.array_split(np.arange(warm, args.points), args.commits)
    append(spark, config, readings(args.series, 0, warm))
    first = run_score_stream(spark, config, settings, progress)
    for part in slices:
        append(spark, config, readings(args.series, int(part[0]), len(part)))
    timed = run_score_stream(spark, config, settings, progress)
    frame = readings(args.series, warm, args.points - warm)
    rate = loop_rate(frame, settings.detector or "lakewatch_nab")
    stream_rate = timed.scored / timed.seconds
    best = max((b.rows_per_second for b in timed.batch_stats), default=0.0)
    return {"warmup_rows": first.scored, "warmup_seconds": round(first.seconds, 1), "rows": timed.scored,
            "batches": timed.batches, "seconds": round(timed.seconds, 1), "events_per_s": round(stream_rate),
            "best_batch_events_per_s": round(best),
            "batch_seconds": [round(b.seconds, 1) for b in timed.batch_stats],
            "batch_scoring_seconds": [round(b.scoring_seconds, 1) for b in timed.batch_stats],
            "batch_write_seconds": [{k: round(v, 1) for k, v in b.write_seconds.items()} for b in timed.batch_stats],
            "loop_events_per_s_one_core": round(rate), "loop_over_stream": round(rate / stream_rate, 2)}


def delta_writer(spark, config, args, stop: threading.Event, appended: dict) -> None:
    """Append a silver commit every --commit-interval s holding the events due at --latency-rate, timestamp =
    append time, until `stop`; counts rows and commits in `appended`."""
    began = time.monotonic()
    while not stop.is_set():
        # Each commit holds the points due since the last one, so the input rate holds when a commit is slow.
        due = int(args.latency_rate * (time.monotonic() - began + args.commit_interval)) - appended["rows"]
        points = max(1, due // args.series)
        now = np.datetime64(time.time_ns() // 1000, "us")  # Spark keeps microseconds: no unsafe cast
        frame = readings(args.series, appended["rows"] // args.series, points)  # each series goes on
        frame["timestamp"] = now + np.repeat(np.arange(points), args.series)  # 1 us apart per series
        append(spark, config, frame)
        appended["rows"] += len(frame)
        appended["commits"] += 1
        time.sleep(max(0.0, began + appended["commits"] * args.commit_interval - time.monotonic()))


def kafka_producer(bootstrap: str, topic: str, series: int, rate: int, interval: float, stop, sent) -> None:
    """(In its own process.) Send JSON readings at `rate` events/s every `interval` s until `stop` is set; a
    reading's timestamp is its send time in epoch milliseconds (a series' points in one send 1 ms apart, the
    last at the send time). `sent` counts the messages."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=5)
    ids = [f"s{i:05d}" for i in range(series)]
    began, sends = time.monotonic(), 0
    while not stop.is_set():
        due = int(rate * (time.monotonic() - began + interval)) - sent.value
        points = max(1, due // series)
        now_ms = time.time_ns() // 1_000_000
        values = readings(series, sent.value // series, points)["value"].to_numpy()  # time-major
        for row, value in enumerate(values):
            sid = ids[row % series]
            stamp = now_ms - (points - 1 - row // series)
            producer.send(topic, key=sid.encode(), value=f'{{"series_id":"{sid}","timestamp":{stamp},'
                                                        f'"value":{float(value)!r}}}'.encode())
        sent.value += len(values)
        sends += 1
        time.sleep(max(0.0, began + sends * interval - time.monotonic()))
    producer.flush(30)
    producer.close(10)


def kafka_broker():
    """The test harness's real Kafka broker (KRaft, loopback), imported from tests/."""
    sys.path.insert(0, str(project_root()))
    from tests.kafka_harness import KafkaBroker

    return KafkaBroker()


def latency(spark, config, args, settings: StreamSettings) -> dict:
    """Readings arrive at --latency-rate events/s (Delta appends or a Kafka producer) while a processingTime query
    runs; p50/p95 of the time from a reading's arrival to its score row being scored (scored_at) and being
    visible (its batch's commit)."""
    if args.source == "kafka":
        with kafka_broker() as broker:
            broker.create_topic("readings", partitions=args.partitions)
            kafka = {"bootstrap_servers": broker.bootstrap, "topic": "readings", "starting_offsets": "earliest"}
            return _latency(spark, config, args, StreamSettings(**{**settings.__dict__, "source": "kafka",
                                                                  "kafka": kafka}))
    return _latency(spark, config, args, settings)


class TriggerDurations:
    """Spark's split of each trigger (durationMs) of one query, read from the query's recent progress once the run
    is over. (A StreamingQueryListener, used before, converted every progress event into Python objects in the
    driver, beside the query's own foreachBatch and while it was being measured: about 9 % of the driver
    process' samples under py-spy in the alerts bench.)"""

    RETAINED = 1000  # progress updates kept by the query (Spark's default: 100)

    def __init__(self, spark: SparkSession, query_name: str) -> None:
        spark.conf.set("spark.sql.streaming.numRecentProgressUpdates", str(self.RETAINED))  # before the start
        self.spark, self.query_name = spark, query_name
        self.query = None

    def watch(self, timeout_s: float = 120.0) -> None:
        """Hold the query of this name once it runs (waiting up to `timeout_s`); its progress stays readable after
        it stops."""
        deadline = time.monotonic() + timeout_s
        while self.query is None and time.monotonic() < deadline:
            self.query = next((q for q in self.spark.streams.active if q.name == self.query_name), None)
            time.sleep(0.2)

    def medians(self, since: float) -> dict[str, float]:
        """Median seconds of each part over the triggers that started at or after `since` (epoch seconds);
        'other' is the trigger less its batch (offsets, planning, the write-ahead and commit logs), then each of
        those parts."""
        if self.query is None:
            return {}
        kept = [dict(p.durationMs) for p in self.query.recentProgress
                if datetime.fromisoformat(p.timestamp.replace("Z", "+00:00")).timestamp() >= since
                and p.durationMs.get("addBatch")]
        if not kept:
            return {}
        parts = {"trigger": [d["triggerExecution"] / 1000 for d in kept],
                 "batch": [d["addBatch"] / 1000 for d in kept],
                 "other": [(d["triggerExecution"] - d["addBatch"]) / 1000 for d in kept]}
        for name in sorted({k for d in kept for k in d} - {"triggerExecution", "addBatch"}):
            parts[name] = [d.get(name, 0) / 1000 for d in kept]
        return {name: round(float(np.median(values)), 2) for name, values in parts.items()}


def _latency(spark, config, args, settings: StreamSettings) -> dict:
    stop_feed, stop_query = threading.Event(), threading.Event()
    appended = {"rows": 0, "commits": 0}
    warm_until = time.time() + args.latency_warmup
    if settings.source == "kafka":
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds a JVM gateway
        stop_feed, sent = context.Event(), context.Value("q", 0)
        feed = context.Process(target=kafka_producer, args=(settings.kafka["bootstrap_servers"],
                                                            settings.kafka["topic"], args.series, args.latency_rate,
                                                            args.produce_interval, stop_feed, sent))
    else:
        feed = threading.Thread(target=delta_writer, args=(spark, config, args, stop_feed, appended), daemon=True)

    live = StreamSettings(**{**settings.__dict__, "trigger": f"processingTime={args.trigger_s} seconds",
                             "checkpoint": settings.checkpoint + "_latency", "query_name": "bench_latency"})
    reports = []
    durations = TriggerDurations(spark, live.query_name)
    query = threading.Thread(target=lambda: reports.append(
        run_score_stream(spark, config, live, Progress("latency"), stop_query)))
    query.start()
    time.sleep(5)
    durations.watch()
    began = time.time()
    feed.start()
    time.sleep(args.latency_warmup + args.latency_seconds)
    stop_feed.set()
    feed.join()
    if settings.source == "kafka":
        appended.update(rows=sent.value, commits=None)
    wrote_s = time.time() - began
    time.sleep(args.trigger_s * 3 + 10)
    stop_query.set()
    query.join()
    visible = pd.Series({b.batch_id: b.finished_at for b in reports[0].batch_stats}, name="visible_at")
    rows = spark.table(config.tables.gold_anomaly_scores).where(
        f"timestamp >= timestamp_micros({int(warm_until * 1e6)})").selectExpr(
        "unix_micros(timestamp) / 1e6 AS appended_at", "unix_micros(scored_at) / 1e6 AS scored_at",
        "batch_id").toPandas().join(visible, on="batch_id")
    scored, shown = rows["scored_at"] - rows["appended_at"], rows["visible_at"] - rows["appended_at"]
    batches = [b for b in reports[0].batch_stats if b.finished_at >= warm_until]
    figures = {"source": settings.source, "target_events_per_s": args.latency_rate,
               "achieved_input_events_per_s": round(appended["rows"] / wrote_s), "commits": appended["commits"],
               "trigger_s": args.trigger_s, "measured_rows": len(rows)}
    for name, seconds in (("scored", scored), ("visible", shown)):
        figures.update({f"{name}_p50_s": round(float(seconds.quantile(0.5)), 2),
                        f"{name}_p95_s": round(float(seconds.quantile(0.95)), 2)})
    figures["visible_max_s"] = round(float(shown.max()), 2)
    if batches:
        figures["batch_seconds_median"] = round(float(np.median([b.seconds for b in batches])), 2)
        figures["batch_scoring_seconds_median"] = round(float(np.median([b.scoring_seconds for b in batches])), 2)
    figures["trigger_seconds_median"] = durations.medians(warm_until)
    return figures


def bench_session(name: str, partitions: int = 2, master: str = "local[2]",
                  root: Path | None = None, job: str = "") -> tuple[Path, LakewatchConfig, SparkSession]:
    """A lakehouse folder (`root`, or a new temporary one), its config and a SparkSession for a benchmark:
    `master`, `partitions` shuffle partitions, 6 GB of driver memory, no UI, and the settings of `job` (a name
    of lakewatch.jobs) from spark.job_conf. When the process exits, the lakehouse's catalog server (which
    outlives a driver by design) is stopped and a temporary lakehouse removed."""
    temporary = root is None
    root = Path(tempfile.mkdtemp(prefix=f"{name}-")) if root is None else root
    atexit.register(close_lakehouse, root, temporary)
    config = load_config("local", [f"table_root={root}"])
    spark = get_spark(name, config, {"spark.master": master, "spark.driver.memory": "6g", "spark.ui.enabled": "false",
                                     "spark.sql.shuffle.partitions": str(partitions)}, job=job)
    return root, config, spark


def close_lakehouse(root: Path, remove: bool = True) -> None:
    """Stop the catalog server of the lakehouse at `root` and, with `remove`, delete the folder (safe to repeat)."""
    derby.stop_server(Lakehouse(str(root)))
    if remove:
        shutil.rmtree(root, ignore_errors=True)


def write_result(name: str, result: dict) -> Path:
    """Write `result` to bench/out/<name>.json and say where."""
    OUT.mkdir(exist_ok=True)
    target = OUT / f"{name}.json"
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {target}")
    return target


def main() -> None:
    """Run the benchmark and write bench/out/stream-<series>x<points>.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1000, help="points per series (throughput run)")
    parser.add_argument("--warmup", type=float, default=0.2, help="fraction of points in the warm-up run")
    parser.add_argument("--commits", type=int, default=4, help="Delta commits holding the timed points")
    parser.add_argument("--detector", default="lakewatch_nab")
    parser.add_argument("--explain", action="store_true", help="SHAP explanations on (off by default)")
    parser.add_argument("--partitions", type=int, default=2, help="state store partitions")
    parser.add_argument("--state-buckets", type=int, default=0, help="streaming.state_buckets (0 = per series)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--latency-rate", type=int, default=0, help="events/s for the latency run (0 = skip it)")
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--latency-warmup", type=float, default=20.0)
    parser.add_argument("--commit-interval", type=float, default=1.0)
    parser.add_argument("--trigger-s", type=float, default=1.0)
    parser.add_argument("--source", choices=("delta", "kafka"), default="delta",
                        help="where the latency run's readings arrive (the throughput run reads Delta)")
    parser.add_argument("--produce-interval", type=float, default=0.1, help="seconds between Kafka sends")
    parser.add_argument("--root", default=None, help="lakehouse folder (default: a temporary one, removed)")
    args = parser.parse_args()
    root, config, spark = bench_session("lakewatch-stream-bench", args.partitions, args.master,
                                        Path(args.root) if args.root else None)
    tables.ensure_table(spark, config, config.tables.silver_readings, schemas.SILVER_READINGS)
    settings = StreamSettings(trigger="availableNow", detector=args.detector, state_partitions=args.partitions,
                              state_buckets=args.state_buckets,
                              checkpoint=config.lakehouse.checkpoint("bench", "score"),
                              explain={"enabled": bool(args.explain)})
    result = {"series": args.series, "points": args.points, "detector": args.detector, "explain": args.explain,
              "master": args.master, "partitions": args.partitions, "state_buckets": args.state_buckets,
              "cpus": os.cpu_count(),
              "load_average_at_start": os.getloadavg()[0],
              "state_bytes_per_series": len(resolve_detector(config, settings).detector.state_to_bytes(
                  get_detector(args.detector).new_state()))}
    try:
        if not args.skip_throughput:
            result["throughput"] = throughput(spark, config, args, settings)
            print(json.dumps(result["throughput"], indent=2), flush=True)
        if args.latency_rate:
            result["latency"] = latency(spark, config, args, settings)
            print(json.dumps(result["latency"], indent=2), flush=True)
    finally:
        spark.stop()
        close_lakehouse(root, remove=not args.root)
    result["load_average_at_end"] = os.getloadavg()[0]
    suffix = ((f"-b{args.state_buckets}" if args.state_buckets else "") + ("-latency" if args.latency_rate else "")
              + ("-kafka" if args.latency_rate and args.source == "kafka" else ""))
    write_result(f"stream-{args.series}x{args.points}{suffix}", result)


if __name__ == "__main__":
    main()
