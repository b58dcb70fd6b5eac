"""One catalog, many drivers: a stream, sql and pipelines share a table root's catalog at the same time."""

from __future__ import annotations

import re

import pytest

from lakewatch.catalog import derby
from lakewatch.concurrent import in_background, run_together
from lakewatch.layout import Lakehouse
from tests.jobs_harness import free_port, run_job
from tests.serving.conftest import StreamingLake, ok, rows, tiny, wait_for_rows

pytestmark = pytest.mark.slow


def _count(output: str) -> int:
    """The single number in a `sql` job's one-cell table (| 400 |)."""
    return int(re.search(r"^\|\s*(\d+)\s*\|$", output, re.MULTILINE).group(1))


def test_sql_and_a_pipeline_run_while_the_stream_scores(streaming_lake: StreamingLake) -> None:
    root = str(streaming_lake.root)
    server = derby.recorded_server(Lakehouse(root))
    counted, appended = run_together(
        lambda: run_job(["sql", "SELECT count(*) FROM silver.readings WHERE timestamp < '2026-01-02'",
                         "--table-root", root]),
        lambda: run_job(["pipeline", "--table-root", root, *tiny(2)]))
    assert _count(ok(counted)) == 400
    assert "silver rows added    400" in ok(appended)
    # Both pipeline runs are recorded: a fourth driver counts them while the stream scores the appended day.
    runs = in_background(lambda: run_job(["sql", "SELECT count(*) FROM ops.pipeline_runs WHERE job = 'pipeline' "
                                                 "AND status = 'succeeded'", "--table-root", root]))
    # The stream picks the appended day up and scores it, each point once; one server served them all.
    wait_for_rows(streaming_lake.root, "gold/anomaly_scores", 800, streaming_lake.stream, streaming_lake.log)
    assert _count(ok(runs.result(timeout=420))) == 2
    assert derby.recorded_server(Lakehouse(root)) == server and derby.answers(server)


def test_two_pipelines_at_once_lose_and_corrupt_nothing(streaming_lake: StreamingLake) -> None:
    root = streaming_lake.root
    before = rows(root, "silver/readings")
    first, second = run_together(lambda: run_job(["pipeline", "--table-root", str(root), *tiny(5)]),
                                 lambda: run_job(["pipeline", "--table-root", str(root), *tiny(6)]))
    succeeded = 0
    for process in (first, second):
        said = process.stdout + process.stderr
        if process.returncode == 0:
            assert "silver rows added    400" in said
            succeeded += 1
        else:  # Delta refused a conflicting commit: the job says so in one line, and wrote nothing half-way
            assert "Traceback" not in said and re.search(r"\[lakewatch\] error: .*concurrent", said), said[-3000:]
    assert succeeded >= 1
    assert rows(root, "silver/readings") == before + 400 * succeeded
    # Every row once, read by Spark through the catalog as well as by delta-rs from the files.
    distinct = ok(run_job(["sql", "SELECT count(DISTINCT series_id, channel, timestamp) FROM silver.readings",
                           "--table-root", str(root)]))
    assert _count(distinct) == before + 400 * succeeded


def test_an_unreachable_catalog_is_one_line_naming_it(tmp_path) -> None:
    uri = f"thrift://127.0.0.1:{free_port()}"
    process = run_job(["sql", "SELECT 1", "--table-root", str(tmp_path / "lake")], LAKEWATCH_METASTORE_URIS=uri)
    assert process.returncode == 1
    said = process.stdout + process.stderr
    lines = [line for line in said.splitlines() if line.startswith("[lakewatch]")]
    assert len(lines) == 1 and f"catalog {uri} (table root {tmp_path / 'lake'}) cannot be reached" in lines[0]
    assert "LAKEWATCH_METASTORE_URIS" in lines[0] and "Traceback" not in said and "Exception" not in said


def test_a_second_table_root_gets_its_own_catalog(tmp_path, streaming_lake: StreamingLake) -> None:
    other = tmp_path / "lake"
    try:
        assert "Derby network server pid" in ok(run_job(["catalog", "start", "--table-root", str(other)]))
        mine = derby.recorded_server(Lakehouse(str(other)))
        theirs = derby.recorded_server(Lakehouse(str(streaming_lake.root)))
        assert derby.answers(mine) and derby.answers(theirs) and mine.port != theirs.port and mine.home == str(other)
    finally:
        stopped = ok(run_job(["catalog", "stop", "--table-root", str(other)]))
    assert "stopped the catalog server" in stopped and not derby.answers(mine)
    assert run_job(["catalog", "status", "--table-root", str(other)]).returncode == 3
