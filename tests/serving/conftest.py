"""One lakehouse for the serving tests, with tiny synthetic data and a score_stream running on it throughout."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from deltalake import DeltaTable

from lakewatch.catalog import derby
from lakewatch.layout import Lakehouse
from tests.conftest import REPO
from tests.jobs_harness import job_env, run_job

#: 2 series x 200 points, 5 minutes apart: 400 rows a pipeline run, in 16.7 hours from `start`.
TINY = ["--set", "synthetic.series=2", "--set", "synthetic.points=200", "--set", "quality.min_rows_per_series=10"]


def tiny(day: int) -> list[str]:
    """Pipeline options for 400 synthetic rows starting on day `day` of January 2026 (days never overlap)."""
    return [*TINY, "--set", f"synthetic.start='2026-01-{day:02d}T00:00:00Z'"]


def ok(process: subprocess.CompletedProcess[str]) -> str:
    """The output of a job that must have succeeded (its whole story otherwise)."""
    assert process.returncode == 0, f"exit {process.returncode}\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    return process.stdout + process.stderr


def rows(root: Path, table: str) -> int:
    """Rows of Delta table `schema/table` under `root`, read without Spark (delta-rs), at its latest version."""
    return DeltaTable(str(root / table)).to_pyarrow_dataset().count_rows()


def wait_for_rows(root: Path, table: str, expected: int, stream: subprocess.Popen, log: Path,
                  timeout: float = 300) -> None:
    """Wait until the stream has written `expected` rows to `table`; fail with its log if it stops or stalls."""
    deadline = time.monotonic() + timeout
    found = -1
    while time.monotonic() < deadline:
        assert stream.poll() is None, f"the stream stopped:\n{log.read_text(errors='replace')[-4000:]}"
        if any((root / table / "_delta_log").glob("*.json")):  # its first commit is there
            found = rows(root, table)
            if found >= expected:
                assert found == expected, f"{table}: {found} rows, expected {expected}"
                return
        time.sleep(2)
    tail = log.read_text(errors="replace")[-4000:]
    pytest.fail(f"{table}: {found} rows after {timeout}s, expected {expected}:\n{tail}")


@dataclass
class StreamingLake:
    """A table root with the pipeline run once (day 1) and score_stream running on it."""

    root: Path
    stream: subprocess.Popen
    log: Path


@pytest.fixture(scope="session")
def streaming_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StreamingLake]:
    """Ingest day 1 (400 rows), start score_stream (2-second micro-batches), wait for its 400 scores."""
    root = tmp_path_factory.mktemp("serving") / "lake"
    ok(run_job(["pipeline", "--table-root", str(root), *tiny(1)]))
    log = root.parent / "stream.log"
    command = [str(REPO / "spark-submit.sh"), "score_stream", "--table-root", str(root),
               "--trigger", "processingTime=2 seconds", "--detector", "robust_zscore",
               "--threshold", "0.9", "--set", "streaming.explain.enabled=false",
               "--set", "streaming.state_partitions=2"]
    with log.open("w") as out:
        stream = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=job_env(), cwd=REPO,
                                  start_new_session=True)
    try:
        wait_for_rows(root, "gold/anomaly_scores", 400, stream, log)
        yield StreamingLake(root, stream, log)
    finally:
        _stop(stream)
        derby.stop_server(Lakehouse(str(root)))


def _stop(stream: subprocess.Popen) -> None:
    """Stop the stream's process group (TERM, then KILL after a minute); one that already ended is left be."""
    if stream.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(stream.pid, signal.SIGTERM)
    try:
        stream.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(stream.pid, signal.SIGKILL)
        stream.wait(30)
