"""The SQL endpoint: Spark's Thrift server on the lakehouse's catalog, queried by beeline and impyla while the
stream writes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deltalake import DeltaTable
from impala.dbapi import connect

from lakewatch.concurrent import in_background
from tests.conftest import REPO
from tests.jobs_harness import SPARK_HOME, free_port, job_env, run_job
from tests.serving.conftest import StreamingLake, caught_up_rows, ok, tiny

pytestmark = pytest.mark.slow


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def sql_server(streaming_lake: StreamingLake) -> Iterator[int]:
    """`./spark-submit.sh sql_server` on the streaming lakehouse, on a free loopback port; yields the port."""
    port = free_port()
    log = streaming_lake.root.parent / "sql_server.log"
    command = [str(REPO / "spark-submit.sh"), "sql_server", "--table-root", str(streaming_lake.root),
               "--port", str(port), "--master", "local[1]"]
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=job_env(), cwd=REPO,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not _answers(port):
            assert server.poll() is None, f"the SQL server stopped:\n{log.read_text(errors='replace')[-4000:]}"
            assert time.monotonic() < deadline, f"no SQL server on {port}:\n{log.read_text(errors='replace')[-4000:]}"
            time.sleep(1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(30)
    assert not _answers(port)


def _per_series(root: Path) -> list[tuple[str, int]]:
    """(series_id, rows) of gold.anomaly_scores read from its files with delta-rs, sorted by series."""
    table = DeltaTable(str(root / "gold" / "anomaly_scores")).to_pyarrow_table(columns=["series_id"])
    counts = table.group_by("series_id").aggregate([("series_id", "count")]).to_pylist()
    return sorted((row["series_id"], row["series_id_count"]) for row in counts)


def test_beeline_reads_the_gold_tables(streaming_lake: StreamingLake, sql_server: int) -> None:
    root = streaming_lake.root
    caught_up_rows(root, streaming_lake.stream, streaming_lake.log)  # idle: beeline and delta-rs read one version
    query = "SELECT series_id, count(*) FROM gold.anomaly_scores GROUP BY series_id ORDER BY series_id"
    result = subprocess.run([str(SPARK_HOME / "bin" / "beeline"), "-u", f"jdbc:hive2://127.0.0.1:{sql_server}/default",
                             "--silent=true", "--outputformat=csv2", "--showHeader=false", "-e", query],
                            capture_output=True, text=True, timeout=180, env=job_env())
    assert result.returncode == 0, result.stderr[-3000:]
    got = [(sid, int(n)) for sid, n in (line.split(",") for line in result.stdout.split() if "," in line)]
    assert got == _per_series(root) and len(got) == 2


def test_impyla_sees_what_the_stream_writes_while_it_writes(streaming_lake: StreamingLake, sql_server: int) -> None:
    root = streaming_lake.root
    # Earlier tests appended to silver (rows behind the stream's newest go to quarantine as late): count from
    # where the stream has caught up, so every count below is of a whole day.
    before = caught_up_rows(root, streaming_lake.stream, streaming_lake.log)
    # Day 9: after every day the other serving tests append, or the stream quarantines its rows as late.
    appended = in_background(lambda: run_job(["pipeline", "--table-root", str(root), *tiny(9)]))
    connection = connect(host="127.0.0.1", port=sql_server, auth_mechanism="PLAIN", user="analyst", password="-")
    seen = set()
    try:
        cursor = connection.cursor()
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM gold.anomaly_scores")
            seen.add(cursor.fetchall()[0][0])
            if max(seen) >= before + 400:
                break
            time.sleep(2)
        cursor.execute("SELECT series_id, count(*) FROM gold.anomaly_scores GROUP BY series_id ORDER BY series_id")
        per_series = [(sid, int(n)) for sid, n in cursor.fetchall()]
    finally:
        connection.close()
    assert "silver rows added    400" in ok(appended.result(timeout=300))
    # The server answered from the first count to the last one, as the stream committed day 3.
    assert min(seen) == before and max(seen) == before + 400, sorted(seen)
    assert per_series == _per_series(root)
