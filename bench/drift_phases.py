"""Benchmark: where a drift run's time goes, phase by phase, in one session on a lakehouse that has silver.readings.

    .venv/bin/python bench/drift_phases.py --table-root /tmp/drift-lake     # after ./spark-submit.sh pipeline there

Times: the first read of silver (its newest timestamp), the per-channel applyInPandas pass, the multichannel pass,
both again with the local checkpoint the job takes, the gold.drift_metrics MERGE and the retrain-request MERGE.
Writes the same rows as a drift run for the newest window (a re-run of it writes nothing).
Results: bench/out/drift_phases.json.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from lakewatch import tables
from lakewatch.config import load_config
from lakewatch.drift import decisions
from lakewatch.drift import spark as drift_spark
from lakewatch.drift.run import DRIFT_TABLES
from lakewatch.drift.settings import drift_settings
from lakewatch.spark import get_spark

OUT = Path(__file__).parent / "out" / "drift_phases.json"


def main() -> None:
    """Time the phases and write them to bench/out/drift_phases.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-root", required=True)
    args = parser.parse_args()
    config = load_config("local", [f"table_root={args.table_root}"])
    settings, names, seconds = drift_settings(config), config.tables, {}

    def timed(name, fn):
        started = time.perf_counter()
        result = fn()
        seconds[name] = round(time.perf_counter() - started, 1)
        print(f"{name:<20} {seconds[name]:>7.1f} s", flush=True)
        return result

    spark = timed("session", lambda: get_spark("lakewatch-drift-bench", config))
    now = timed("newest_reading", lambda: drift_spark.newest_reading(spark, names.silver_readings))
    bounds = drift_spark.periods(now, settings)
    readings = spark.table(names.silver_readings)
    scores = drift_spark.read_scores(spark, names.gold_anomaly_scores, settings.detector)
    timed("channels", lambda: drift_spark.channel_inputs(readings, scores, bounds)
          .transform(drift_spark.channel_statistics(settings)).count())
    timed("entities", lambda: drift_spark.entity_inputs(readings, bounds)
          .transform(drift_spark.entity_statistics(settings)).count())
    metrics = timed("measure_checkpoint", lambda: drift_spark.measure(
        readings, scores, bounds, settings, "bench", datetime.now(UTC)).localCheckpoint())
    tables.ensure_tables(spark, config, DRIFT_TABLES)
    timed("merge_metrics", lambda: drift_spark.merge_metrics(metrics, names.gold_drift_metrics))
    timed("retrain_requests", lambda: decisions.request_retrains(
        spark, names.gold_drift_metrics, names.ops_retrain_requests, settings.consecutive_windows, bounds.window_end,
        "bench", datetime.now(UTC)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"table_root": args.table_root, "window_end": now.isoformat(), "seconds": seconds},
                              indent=2))
    spark.stop()


if __name__ == "__main__":
    main()
