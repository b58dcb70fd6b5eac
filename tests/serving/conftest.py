"""One lakehouse for the serving tests, with tiny synthetic data and a score_stream running on it throughout."""

from __future__ import annotations

import contextlib
import json
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
        time.sleep(0.5)
    tail = log.read_text(errors="replace")[-4000:]
    pytest.fail(f"{table}: {found} rows after {timeout}s, expected {expected}:\n{tail}")


def read_through(checkpoint: Path) -> int:
    """The newest silver.readings version the stream's newest committed micro-batch has read in full (-1 before
    that), from the Delta source offset in the query's checkpoint."""
    committed = [int(path.name) for path in (checkpoint / "commits").glob("[0-9]*")]
    if not committed:
        return -1
    # offsets/<batch>: a format line, the batch's metadata, then one offset per source (silver.readings only).
    # Delta writes the end of a version V as (V + 1, index -1); an index >= 0 is a version read part-way, and
    # isStartingVersion a table snapshot read part-way.
    offset = json.loads((checkpoint / "offsets" / str(max(committed))).read_text().splitlines()[2])
    return -1 if offset["isStartingVersion"] else offset["reservoirVersion"] - 1


def caught_up_rows(root: Path, stream: subprocess.Popen, log: Path, timeout: float = 300) -> int:
    """gold.anomaly_scores' rows once the stream has committed a micro-batch that read silver.readings up to its
    latest version: every silver row is scored, and gold stays as it is until silver changes (no watermark, no
    timeouts: the stream runs no batch without new input)."""
    checkpoint = root / "_checkpoints" / "score_stream" / "score_stream"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert stream.poll() is None, f"the stream stopped:\n{log.read_text(errors='replace')[-4000:]}"
        latest = DeltaTable(str(root / "silver" / "readings")).version()
        if read_through(checkpoint) >= latest:
            return rows(root, "gold/anomaly_scores")
        time.sleep(0.5)
    pytest.fail(f"the stream had not read silver.readings version {latest} after {timeout}s (read through "
                f"{read_through(checkpoint)}):\n{log.read_text(errors='replace')[-4000:]}")


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
