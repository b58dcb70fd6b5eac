"""Benchmark: the dashboard's series explorer on a large gold.anomaly_scores (10M rows by default).

    .venv/bin/python bench/dashboard_bench.py                      # 10M rows, 100 series, 5-minute readings
    .venv/bin/python bench/dashboard_bench.py --rows 2000000       # smaller, on a busy machine
    .venv/bin/python bench/dashboard_bench.py --reuse              # time again on the lakehouse written before

Writes a lakehouse (default /tmp/lakewatch-dashboard-bench) with deltalake, as the stream would fill it: appends in
time order (each commit holds every series for a slice of time), the real table schemas, about one event per series
and week in gold.anomalies. Then times, for one series and its last month (the explorer's default range):
(1) the data load (lakewatch.dashboard.data: points, events, labels) on a fresh reader and on a warm one, without
Streamlit's cache; (2) the series catalogue the page reads first (every series' first/last time, over the table);
(3) the whole page rendered by Streamlit's AppTest on a new reader with nothing cached (as after a server start or
once the cache's TTL ran out), and again within the TTL.
Results: bench/out/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute
from deltalake import DeltaTable, write_deltalake
from pyspark.sql.pandas.types import to_arrow_schema

from lakewatch.config import load_config
from lakewatch.schemas import GOLD_ANOMALIES, GOLD_ANOMALY_SCORES, GOLD_LABELS

OUT = Path(__file__).resolve().parent / "out"
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)


def write_scores(location: str, rows: int, series: int, commits: int) -> None:
    """`rows` rows of `series` series in `commits` time-ordered appends."""
    schema = to_arrow_schema(GOLD_ANOMALY_SCORES)
    points = rows // series
    per_commit = max(1, points // commits)
    names = np.array([f"series_{i:04d}" for i in range(series)])
    rng = np.random.default_rng(0)
    start_us = int(START.timestamp() * 1_000_000)
    step_us = int(STEP.total_seconds() * 1_000_000)
    for first in range(0, points, per_commit):
        n = min(per_commit, points - first)
        idx = np.arange(first, first + n)
        stamps = np.tile(start_us + idx * step_us, series)
        ids = np.repeat(names, n)
        score = rng.random(n * series) * 0.6
        columns = {
            "series_id": ids, "channel": np.full(n * series, "value"),
            "timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "value": 20 + 2 * np.sin(np.tile(idx, series) * 2 * np.pi / 288) + rng.normal(0, 0.2, n * series),
            "raw_score": score, "score": score, "flag": score > 0.5034722222222222,
            "attributions": pa.nulls(n * series, schema.field("attributions").type), "base_value": pa.nulls(
                n * series, pa.float64()), "detector": np.full(n * series, "lakewatch_nab"),
            "model_version": np.full(n * series, "registry:1"),
            "scored_at": pa.array(stamps + 30_000_000, pa.timestamp("us", tz="UTC")),
            "batch_id": np.full(n * series, first // per_commit, dtype=np.int64)}
        write_deltalake(location, pa.table(columns, schema=schema), mode="append")
    return None


def write_events(config, series: int, points: int) -> None:
    """About one closed event per series and week, and a labelled window around every fourth."""
    weeks = max(1, points // (7 * 288))
    rows = [(f"series_{s:04d}", START + STEP * (w * 7 * 288 + (s * 37) % 2000)) for s in range(series)
            for w in range(weeks)]
    n = len(rows)
    schema = to_arrow_schema(GOLD_ANOMALIES)
    write_deltalake(config.lakehouse.table(config.tables.gold_anomalies), pa.table({
        "series_id": [r[0] for r in rows], "channel": ["value"] * n, "start": [r[1] for r in rows],
        "end": [r[1] + STEP * 3 for r in rows], "peak_at": [r[1] for r in rows], "peak_score": [0.8] * n,
        "points": [4] * n, "threshold": [0.5034722222222222] * n, "is_open": [False] * n,
        "top_inputs": [[{"input": "value[t]", "shap": 1.0}]] * n, "base_value": [0.1] * n,
        "detector": ["lakewatch_nab"] * n, "model_version": ["registry:1"] * n, "batch_id": list(range(n)),
        "updated_at": [r[1] for r in rows]}, schema=schema), mode="overwrite")
    labelled = rows[::4]
    write_deltalake(config.lakehouse.table(config.tables.gold_labels), pa.table({
        "series_id": [r[0] for r in labelled], "window_start": [r[1] - STEP * 12 for r in labelled],
        "window_end": [r[1] + STEP * 12 for r in labelled], "kind": ["anomaly"] * len(labelled),
        "source_name": ["bench"] * len(labelled)}, schema=to_arrow_schema(GOLD_LABELS)), mode="overwrite")


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-root", default="/tmp/lakewatch-dashboard-bench")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--commits", type=int, default=100, help="appends the scores are written in")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", action="store_true", help="time the lakehouse already at --table-root")
    args = parser.parse_args(argv)

    config = load_config("local", [f"table_root={args.table_root}"])
    scores = config.lakehouse.table(config.tables.gold_anomaly_scores)
    result: dict = {"rows": args.rows, "series": args.series, "commits": args.commits, "cpus": os.cpu_count()}
    if not args.reuse:
        shutil.rmtree(args.table_root, ignore_errors=True)
        began = time.perf_counter()
        write_scores(scores, args.rows, args.series, args.commits)
        write_events(config, args.series, args.rows // args.series)
        result["write_seconds"] = round(time.perf_counter() - began, 1)
    table = DeltaTable(scores)
    actions = pa.table(table.get_add_actions(flatten=True))
    result["table_rows"] = int(pa.compute.sum(actions["num_records"]).as_py())
    result["table_files"] = actions.num_rows
    print(f"gold.anomaly_scores: {result['table_rows']:,} rows in {result['table_files']} files", flush=True)

    from lakewatch.dashboard import data as lake

    series_id = f"series_{args.series // 2:04d}"
    points = args.rows // args.series
    last = START + STEP * (points - 1)
    end = datetime.combine(last.date(), datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    start = end - timedelta(days=lake.EXPLORER_DAYS)

    def load(data) -> int:
        rows = lake.series_points(data, series_id, ["value"], start, end)
        lake.series_events(data, series_id, ["value"], start, end)
        lake.series_labels(data, series_id, start, end)
        return len(rows)

    began = time.perf_counter()
    fresh = lake.open_data(config)
    month_rows = load(fresh)
    result["load_cold_seconds"] = round(time.perf_counter() - began, 3)  # reader setup + first queries
    result["month_rows"] = month_rows
    median, times = timed(lambda: load(fresh), args.repeat)
    result["load_warm_seconds"] = round(median, 3)
    result["load_warm_all"] = [round(t, 3) for t in times]
    median, _ = timed(lambda: lake.series_catalog(fresh), max(1, args.repeat // 2))
    result["catalog_seconds"] = round(median, 3)
    fresh.reader.close()
    print(f"data load, {series_id} {start:%Y-%m-%d}..{end:%Y-%m-%d} ({month_rows:,} rows): cold "
          f"{result['load_cold_seconds']} s, warm {result['load_warm_seconds']} s; catalogue "
          f"{result['catalog_seconds']} s", flush=True)

    from streamlit.testing.v1 import AppTest

    from lakewatch.dashboard.settings import OPTIONS_ENV, app_path, encode_options

    def use_options(nonce: int) -> None:
        # A new (unused) config value gives a new config hash: a new reader and nothing cached for it, as after a
        # server start; st.cache_data.clear() here would not reach the cache AppTest's runtime keeps.
        os.environ[OPTIONS_ENV] = encode_options(["--table-root", args.table_root,
                                                  "--set", f"dashboard_bench.nonce={nonce}"], 60)

    def render(page: str) -> AppTest:
        # The page's script alone (what its URL runs after the app's few navigation lines).
        app = AppTest.from_file(str(app_path().with_name("app_pages") / f"{page}.py"), default_timeout=120)
        app.query_params["series"] = series_id
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        if page == "series_explorer":
            shown = {m.label: m.value for m in app.metric}
            assert shown.get("Points") == f"{month_rows:,}", shown
        return app

    nonce = 0
    for page in ("series_explorer", "overview"):
        use_options(nonce)
        render(page)  # imports
        uncached = []
        for _ in range(max(1, args.repeat // 2)):
            nonce += 1
            use_options(nonce)
            began = time.perf_counter()
            render(page)
            uncached.append(time.perf_counter() - began)
        cached, _ = timed(lambda page=page: render(page), max(1, args.repeat // 2))
        result[f"{page}_page_uncached_seconds"] = round(statistics.median(uncached), 3)
        result[f"{page}_page_cached_seconds"] = round(cached, 3)
        print(f"{page} page via AppTest: uncached {result[f'{page}_page_uncached_seconds']} s, "
              f"within the TTL {result[f'{page}_page_cached_seconds']} s", flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "dashboard.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
