"""Benchmark: `score_stream --trigger availableNow` with the defaults a user gets, against the plain baseline.

    .venv/bin/python bench/stream_vs_plain.py --series 1000 --points 2000      # issue 23's configuration
    .venv/bin/python bench/stream_vs_plain.py --series 100 --points 2000 --work /tmp/svp

Builds a lakehouse from the synthetic source through the CLI (`./spark-submit.sh pipeline`, the default
anomaly rate), then in one run on that lakehouse:
1. the stream as a user runs it: `./spark-submit.sh score_stream --trigger availableNow` (explanations on,
   the default detector, RocksDB state, checkpointing, every score written to Delta exactly once); its own
   per-batch summary lines give rows scored, scoring and write seconds;
2. ../shared/baselines/plain_scoring.py on silver.readings' Parquet files: two processes, pyarrow reads, the
   same default detector per series in time order, Parquet writes, no Spark.
Events/s = rows scored / the batches' summed seconds (the stream's own clock; job start-up excluded, as the
baseline's clock excludes Python's), and the job's wall time beside it. Results go to
bench/out/stream-vs-plain-<series>x<points>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PLAIN = ROOT.parent / "shared" / "baselines" / "plain_scoring.py"
BATCH_LINE = re.compile(r"batch (\d+): ([\d,]+) rows scored in ([\d.]+)s \(scoring ([\d.]+)s.*?\), ([\d,]+) flagged")
PLAIN_LINE = re.compile(r"plain 2-process scoring: (\d+) events in ([\d.]+)s")


def run(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Run `cmd`, its output kept in `log`; seconds and the output, or exit naming the command."""
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    log.write_text(output)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed (rc {done.returncode}); its output is in {log}")
    return seconds, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--plain", default=str(PLAIN), help="the plain baseline (default: %(default)s)")
    parser.add_argument("--stream-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a --set for score_stream only, e.g. streaming.explain.enabled=false (repeatable)")
    args = parser.parse_args()
    if not Path(args.plain).is_file():
        parser.error(f"--plain {args.plain}: no such file (run from a checkout beside ../shared, or name it)")
    work = Path(args.work or tempfile.mkdtemp(prefix="lakewatch-svp-"))
    if work.exists() and args.work:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    lake = work / "lake"
    env = {k: v for k, v in os.environ.items() if k != "LAKEWATCH_TABLE_ROOT"}
    launcher = str(ROOT / "spark-submit.sh")
    sets = ["--set", f"synthetic.series={args.series}", "--set", f"synthetic.points={args.points}"]
    try:
        built, _ = run([launcher, "pipeline", "--table-root", str(lake), "--source", "synthetic", *sets], env,
                       work / "pipeline.log")
        print(f"lakehouse built in {built:.1f}s ({args.series} series x {args.points} points)", flush=True)
        stream_sets = [arg for kv in args.stream_set for arg in ("--set", kv)]
        wall, output = run([launcher, "score_stream", "--table-root", str(lake), "--trigger", "availableNow",
                            *stream_sets], env, work / "score_stream.log")
        batches = [m.groups() for m in BATCH_LINE.finditer(output)]
        if not batches:
            sys.exit(f"score_stream printed no batch line; its output is in {work / 'score_stream.log'}")
        rows = sum(int(b[1].replace(",", "")) for b in batches)
        seconds = sum(float(b[2]) for b in batches)
        scoring = sum(float(b[3]) for b in batches)
        flagged = sum(int(b[4].replace(",", "")) for b in batches)
        _, plain_out = run([sys.executable, args.plain, str(lake / "silver" / "readings"), str(work / "plain")],
                           {**env, "PYTHONPATH": str(ROOT / "lib")}, work / "plain.log")
        match = PLAIN_LINE.search(plain_out)
        if match is None:
            sys.exit(f"the baseline printed no summary; its output is in {work / 'plain.log'}")
        plain_rows, plain_seconds = int(match.group(1)), float(match.group(2))
        result = {
            "series": args.series, "points": args.points, "stream_sets": args.stream_set, "batches": len(batches),
            "rows_scored": rows,
            "flagged": flagged, "stream_batch_seconds": round(seconds, 2), "stream_scoring_seconds": round(scoring, 2),
            "stream_job_wall_seconds": round(wall, 2), "stream_events_per_second": round(rows / seconds),
            "plain_rows": plain_rows, "plain_seconds": plain_seconds,
            "plain_events_per_second": round(plain_rows / plain_seconds),
            "ratio_plain_over_stream": round((plain_rows / plain_seconds) / (rows / seconds), 2),
            "load_average": os.getloadavg(),
        }
        OUT.mkdir(exist_ok=True)
        (OUT / f"stream-vs-plain-{args.series}x{args.points}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result, indent=2))
    finally:
        subprocess.run([launcher, "catalog", "stop", "--table-root", str(lake)], cwd=ROOT, env=env,
                       capture_output=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
