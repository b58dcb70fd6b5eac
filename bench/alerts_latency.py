"""Benchmark: latency from a reading's append to silver.readings to the webhook request its anomaly causes.

    .venv/bin/python bench/alerts_latency.py --rate 10000 --seconds 100 --warmup 30

A producer process (no JVM: deltalake, delta-rs) appends a silver.readings commit every --commit-interval seconds
holding the readings due at --rate events/s over --series series, each reading's timestamp = the moment its commit
was built; about --anomalies-per-s readings are spikes (+15 over a level with noise 0.3), so the detector flags
them. The score stream runs in this process (processingTime trigger --trigger-s, --detector (robust_zscore) flagging
at --threshold, explanations off unless --explain, the score_stream job's session settings from spark.job_conf) with
alerts enabled (sent from the stateful operator, or with --send-from batch from the driver only): one rule for
every series, a signed webhook to a recording
HTTP server on 127.0.0.1 in this process, which timestamps each request on arrival. Latency = request arrival -
the event's start (the timestamp of its first flagged reading, i.e. when that reading was appended). Reports
p50 / p95 / p99 over the events that started after --warmup seconds, the input rate achieved, and the medians of
the micro-batches (whole batch, stateful scoring, each write, the alerts decision before the writes) to say where
the time goes, and the machine's load average. Results in bench/out/alerts-latency.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.sql import functions as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.alerts.receivers

from stream_bench import TriggerDurations, bench_session, write_result

from lakewatch import schemas, tables
from lakewatch.event_ids import start_micros
from lakewatch.progress import Progress
from lakewatch.streaming.job import run_score_stream
from lakewatch.streaming.settings import stream_settings
from tests.alerts.receivers import http_receiver

SECRET_ENV = "LAKEWATCH_BENCH_WEBHOOK_SECRET"


def frame(series: int, points: int, first: int, now_us: int, spikes: int, rng: np.random.Generator) -> pd.DataFrame:
    """`points` readings of each of `series` series (level + noise), `spikes` of them +15, timestamps `now_us` + i."""
    del first  # a level signal: the detector's window then flags the injected spikes, not a trend
    values = 10 + rng.normal(0, 0.3, (series, points))
    for _ in range(spikes):
        values[rng.integers(series), rng.integers(points)] += 15
    stamps = pd.to_datetime(now_us + np.repeat(np.arange(points), series), unit="us", utc=True)
    return pd.DataFrame({"series_id": np.tile([f"s{i:04d}" for i in range(series)], points), "channel": "value",
                         "timestamp": stamps, "value": values.T.ravel(), "source": "bench", "ingest_id": "bench"})


def producer(location: str, series: int, rate: int, interval: float, anomalies_per_s: float, stop, counts) -> None:
    """Append to the Delta table at `location` with delta-rs (outside the query's JVM) until `stop` is set."""
    import pyarrow as pa
    from deltalake import write_deltalake

    schema = pa.schema([("series_id", pa.string(), False), ("channel", pa.string(), False),
                        ("timestamp", pa.timestamp("us", tz="UTC"), False), ("value", pa.float64(), False),
                        ("source", pa.string(), False), ("ingest_id", pa.string(), False)])
    rng = np.random.default_rng(5)
    began = time.monotonic()
    rows = commits = 0
    while not stop.is_set():
        due = int(rate * (time.monotonic() - began + interval)) - rows
        points = max(1, due // series)
        spikes = int(rng.poisson(anomalies_per_s * interval))
        df = frame(series, points, rows // series, time.time_ns() // 1000, spikes, rng)
        write_deltalake(location, pa.Table.from_pandas(df, schema=schema, preserve_index=False), mode="append")
        rows += len(df)
        commits += 1
        counts[0], counts[1] = rows, commits
        time.sleep(max(0.0, began + commits * interval - time.monotonic()))


def main() -> None:
    """Run the benchmark and write bench/out/alerts-latency.json."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=10_000, help="readings per second appended")
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=90.0, help="how long the producer appends")
    parser.add_argument("--warmup", type=float, default=25.0, help="events starting earlier are not counted")
    parser.add_argument("--commit-interval", type=float, default=0.5)
    parser.add_argument("--anomalies-per-s", type=float, default=2.0)
    parser.add_argument("--detector", default="robust_zscore",
                        help="the stream's detector (the product's default: lakewatch_nab)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="the stream's flag threshold (default: 0.99 for robust_zscore, else the detector's own)")
    parser.add_argument("--trigger-s", type=float, default=0.0, help="processingTime trigger interval")
    parser.add_argument("--set", action="append", default=[], help="extra Spark conf key=value for the session")
    parser.add_argument("--send-from", choices=("operator", "batch"), default="operator",
                        help="alerts.send_from: the stateful operator sends (default) or the batch's driver only")
    parser.add_argument("--explain", action="store_true",
                        help="explanations as configured (on: what a user gets by default) instead of off")
    args = parser.parse_args()
    if args.threshold is None and args.detector == "robust_zscore":
        args.threshold = 0.99

    os.environ[SECRET_ENV] = "bench-secret"
    with http_receiver() as receiver:
        root, config, spark = bench_session("alerts-latency", job="score_stream")  # the stream job's session
        for item in args.set:
            key, _, value = item.partition("=")
            spark.conf.set(key, value)
        from lakewatch.config import load_config

        config = load_config("local", [
            f"table_root={root}", "alerts.enabled=true",
            f"alerts.channels={{hook: {{kind: webhook, url: '{receiver.url}/hook', secret_env: {SECRET_ENV}}}}}",
            "alerts.rules=[{name: all, channels: [hook]}]", "alerts.digest.max_events=0",
            f"alerts.send_from={args.send_from}"])
        tables.ensure_table(spark, config, config.tables.silver_readings, schemas.SILVER_READINGS)
        location = tables.catalog_location(spark, config.tables.silver_readings)
        settings = stream_settings(config).with_overrides(
            detector=args.detector, threshold=args.threshold, trigger=f"processingTime={args.trigger_s} seconds",
            state_partitions=2, **({} if args.explain else {"explain": {"enabled": False}}))
        stop_query = threading.Event()
        reports = []
        durations = TriggerDurations(spark, settings.query_name)
        query = threading.Thread(target=lambda: reports.append(
            run_score_stream(spark, config, settings, Progress("alerts-latency"), stop_query)))
        context = multiprocessing.get_context("spawn")  # no fork of a process holding a JVM gateway
        stop_feed, counts = context.Event(), context.Array("q", 2)
        feed = context.Process(target=producer, args=(location, args.series, args.rate, args.commit_interval,
                                                      args.anomalies_per_s, stop_feed, counts))
        query.start()
        while not spark.streams.active and query.is_alive():  # setup (tables, outbox state) is not measured
            time.sleep(0.5)
        durations.watch()
        time.sleep(3)
        began = time.time()
        load_before = os.getloadavg()
        feed.start()
        time.sleep(args.seconds)
        stop_feed.set()
        feed.join()
        wrote_s = time.time() - began
        load_after = os.getloadavg()
        drain_until = time.monotonic() + 120  # let the stream finish what was appended (stop waits for no batch)
        while time.monotonic() < drain_until:
            progress = spark.streams.active[0].lastProgress if spark.streams.active else None
            if progress is not None and progress["numInputRows"] == 0:
                break
            time.sleep(1)
        stop_query.set()
        query.join()
        requests = list(receiver.requests)
        # the micro-batch that scored each flagged point (an event's first is its start), by (series, epoch us)
        first_batch = {(r["series_id"], r["us"]): r["batch_id"] for r in spark.table(
            config.tables.gold_anomaly_scores).where("flag").select(
            "series_id", F.unix_micros("timestamp").alias("us"), "batch_id").collect()}
        # every reading's score: when it was appended (its timestamp) and the batch that made it visible
        visible_at = pd.Series({b.batch_id: b.finished_at for b in reports[0].batch_stats}, name="visible_at")
        scores = spark.table(config.tables.gold_anomaly_scores).where(
            f"timestamp >= timestamp_micros({int((began + args.warmup) * 1e6)})").selectExpr(
            "unix_micros(timestamp) / 1e6 AS appended_at", "batch_id").toPandas().join(visible_at, on="batch_id")

    counted_from = began + args.warmup
    by_batch = {b.batch_id: b for b in reports[0].batch_stats}
    latencies, waits, in_batch, from_operator = [], [], [], 0
    for request in requests:
        body = json.loads(request.body)
        started = datetime.fromisoformat(body["event"]["start"].replace("Z", "+00:00")).astimezone(UTC)
        start = started.timestamp()
        if start >= counted_from:
            latencies.append(request.at - start)
            batch = by_batch.get(first_batch.get((body["event"]["series_id"], start_micros(started)), -1))
            if batch is not None:  # its batch's foreachBatch began at finished_at - seconds; scoring ends after
                batch_began = batch.finished_at - batch.seconds
                waits.append(batch_began - start)
                in_batch.append(request.at - batch_began)
                from_operator += request.at < batch_began + batch.scoring_seconds  # before the driver saw it
    lat = pd.Series(latencies, dtype=float)
    batches = [b for b in reports[0].batch_stats if b.finished_at >= counted_from]
    figures = {
        "target_events_per_s": args.rate, "achieved_events_per_s": round(counts[0] / wrote_s),
        "commits": counts[1], "series": args.series, "trigger_s": args.trigger_s, "detector": args.detector,
        "threshold": args.threshold,
        "spark_conf": args.set, "explain": args.explain, "send_from": args.send_from,
        "snapshot_partitions": spark.conf.get("spark.databricks.delta.snapshotPartitions"),
        "load_average_1_5_15_before": [round(x, 1) for x in load_before],
        "load_average_1_5_15_after": [round(x, 1) for x in load_after],
        "notifications": len(requests), "measured": len(lat),
        **{f"p{q}_s": round(float(lat.quantile(q / 100)), 2) for q in (50, 95, 99)},
        "max_s": round(float(lat.max()), 2) if len(lat) else None,
        "sent_before_the_batch_was_scored": from_operator,
        "median_wait_for_the_batch_s": round(float(np.median(waits)), 2) if waits else None,
        "median_in_the_batch_until_sent_s": round(float(np.median(in_batch)), 2) if in_batch else None,
        "batches": len(batches),
        "batch_seconds_median": round(float(np.median([b.seconds for b in batches])), 2) if batches else None,
        "batch_scoring_seconds_median": round(float(np.median([b.scoring_seconds for b in batches])), 2)
        if batches else None,
        "alerts_hook_seconds_median": round(float(np.median([b.write_seconds.get("alerts", 0.0) for b in batches
                                                             if "alerts" in b.write_seconds])), 2)
        if any("alerts" in b.write_seconds for b in batches) else None,
        "writes_median": {k: round(float(np.median(v)), 2) for k in ("scores", "events", "alerts", "alerts_decide")
                          if (v := [b.write_seconds[k] for b in batches if k in b.write_seconds])},
    }
    shown = scores["visible_at"] - scores["appended_at"]
    figures["scores_visible"] = {"rows": len(shown), **{f"p{q}_s": round(float(shown.quantile(q / 100)), 2)
                                                       for q in (50, 95, 99)}}
    figures["trigger_seconds_median"] = durations.medians(counted_from)
    print(json.dumps(figures, indent=2))
    write_result("alerts-latency", figures)


if __name__ == "__main__":
    main()
