"""Exactly once across a hard kill: the score_stream job (a driver process of its own) is SIGKILLed mid-run,
then restarted; every input point is scored once and equals a batch run of the same detector."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lakewatch.detectors import get_detector
from tests.conftest import REPO
from tests.jobs_harness import job_env
from tests.streaming.harness import batch_scores

DETECTOR = "robust_zscore"
PREPARE = """
import sys
from lakewatch.config import load_config
from lakewatch.spark import get_spark
from tests.streaming.harness import append_silver, make_readings
config = load_config("local", [f"table_root={sys.argv[1]}"])
spark = get_spark("prepare", config)
rows = make_readings(series=4, points=400)
for chunk in range(8):  # eight commits in time order: the job reads them one file per micro-batch
    part = rows[(rows.index % 400 >= chunk * 50) & (rows.index % 400 < (chunk + 1) * 50)]
    append_silver(spark, config, part.sort_values(["timestamp", "series_id"]).head(len(part)), f"i{chunk}")
rows.to_parquet(sys.argv[2])
"""


def _env() -> dict[str, str]:
    return {**job_env(), "PYSPARK_SUBMIT_ARGS": "--master local[2] pyspark-shell",
            "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'lib'}"}


def _job(root: Path, log: Path) -> subprocess.Popen:
    args = [sys.executable, str(REPO / "jobs" / "score_stream.py"), "--table-root", str(root),
            "--trigger", "availableNow", "--detector", DETECTOR, "--threshold", "0.9",
            "--set", "streaming.max_files_per_trigger=1", "--set", "streaming.state_partitions=2",
            "--set", "streaming.explain.enabled=false"]
    return subprocess.Popen(args, stdout=log.open("a"), stderr=subprocess.STDOUT, env=_env(), cwd=REPO,
                            start_new_session=True)


def _kill_after_batch(proc: subprocess.Popen, log: Path, batch: int, delay: float, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if f"batch {batch}:" in log.read_text(errors="replace"):
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its JVM, no clean-up
            proc.wait(30)
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no 'batch {batch}:' line before the kill:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_scores_every_point_once(spark, tmp_path):
    root, data, log = tmp_path / "lake", tmp_path / "rows.parquet", tmp_path / "job.log"
    subprocess.run([sys.executable, "-c", PREPARE, str(root), str(data)], check=True, env=_env(), cwd=REPO,
                   timeout=300, capture_output=True)
    _kill_after_batch(_job(root, log), log, batch=1, delay=1.0)
    _kill_after_batch(_job(root, log), log, batch=3, delay=2.5)
    final = _job(root, log)
    assert final.wait(600) == 0, log.read_text(errors="replace")[-3000:]
    text = log.read_text(errors="replace")
    assert "caught up" in text
    scores = spark.read.format("delta").load(str(root / "gold" / "anomaly_scores")).toPandas()
    rows = pd.read_parquet(data)
    assert len(scores) == len(rows) == 1600
    assert not scores.duplicated(["series_id", "channel", "timestamp"]).any()
    got = scores.sort_values(["series_id", "channel", "timestamp"]).reset_index(drop=True)
    expected = batch_scores(rows, get_detector(DETECTOR))
    pd.testing.assert_series_equal(got["score"], expected["score"], check_exact=False, rtol=1e-12, atol=1e-12)
    assert (got["timestamp"].to_numpy() == expected["timestamp"].to_numpy()).all()
    events = spark.read.format("delta").load(str(root / "gold" / "anomalies")).toPandas()
    assert not events.duplicated(["series_id", "channel", "start"]).any()
    assert int(events["points"].sum()) == int(got["flag"].sum()) > 0
