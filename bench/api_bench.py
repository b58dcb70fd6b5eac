"""Benchmark: request latency of the REST API (``./spark-submit.sh api``) on the dashboard tests' small lakehouse
(3 days of 5-minute readings, 4 channels, 4 anomaly events), and in-process scoring through POST /score.

    LAKEWATCH_VENV=.venv .venv/bin/python bench/api_bench.py                   # 10,000 readings per /score
    LAKEWATCH_VENV=.venv .venv/bin/python bench/api_bench.py --readings 2000   # smaller, on a busy machine

Prints the median of each request over a few repetitions (metrics uncached: every scrape reads the tables).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lakewatch.config import load_config  # noqa: E402
from tests.dashboard.lakehouse import write_known_lakehouse  # noqa: E402
from tests.dashboard.server import free_port, stop  # noqa: E402


def _median_ms(request: Callable[[], httpx.Response], times: int) -> str:
    took = []
    for _ in range(times):
        started = time.perf_counter()
        answer = request()
        answer.raise_for_status()
        took.append(time.perf_counter() - started)
    return f"median {statistics.median(took) * 1000:.0f} ms over {times}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=10_000, help="readings per POST /score (default 10000)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="api-bench-")) / "lake"
    write_known_lakehouse(load_config("local", [f"table_root={root}"]))
    port = free_port()
    env = {**os.environ, "LAKEWATCH_API_KEY": "bench", "LAKEWATCH_VENV": os.environ.get("LAKEWATCH_VENV", sys.prefix)}
    server = subprocess.Popen([str(ROOT / "spark-submit.sh"), "api", "--port", str(port), "--table-root", str(root),
                               "--set", "api.metrics_cache_seconds=0", "--log-level", "warning"], env=env)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"X-API-Key": "bench"})
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                client.get("/health")
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        time.sleep(5)  # let the default detector's warm-up finish
        event = client.get("/anomalies").json()["items"][0]["event_id"]
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        readings = [{"series_id": "bench", "timestamp": time.strftime(stamp, time.gmtime(1_772_323_200 + 60 * i)),
                     "value": float(i % 17)} for i in range(args.readings)]
        print("GET /anomalies", _median_ms(lambda: client.get("/anomalies"), 20))
        print("GET /anomalies/{id}", _median_ms(lambda: client.get(f"/anomalies/{event}"), 20))
        print("GET /series/machine_temp/scores (864 rows)",
              _median_ms(lambda: client.get("/series/machine_temp/scores"), 10))
        print("GET /metrics (uncached)", _median_ms(lambda: client.get("/metrics"), 10))
        print(f"POST /score ({args.readings} readings)",
              _median_ms(lambda: client.post("/score", json={"readings": readings}), 5))
    finally:
        client.close()
        stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
