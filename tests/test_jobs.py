"""The spark-submit jobs end to end, each in its own process: the catalog outlives a session and bad
arguments are refused up front (the same jobs on a standalone and a YARN cluster: tests/test_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakewatch.concurrent import run_together
from tests.jobs_harness import run_job

TINY = ["--set", "synthetic.series=2", "--set", "synthetic.points=200", "--set", "quality.min_rows_per_series=10"]


def _ok(process) -> str:
    assert process.returncode == 0, f"exit {process.returncode}\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    return process.stdout


def _said(process) -> str:
    # spark-submit merges the Python driver's stderr into its own stdout; look at both.
    return process.stdout + process.stderr


@pytest.mark.slow
def test_pipeline_job_tables_are_queryable_by_name_from_a_new_session(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    out = _ok(run_job(["pipeline", "--table-root", root, *TINY]))
    assert "silver rows added    400" in out and "gold.features          view over silver.readings" in out
    # One new session (one JVM) reads both tables by name: the run's record, and silver's rows counted; Spark's
    # own spark-sql shell, at the same time, reads the gold view through the same catalog.
    runs, shell = run_together(
        lambda: run_job(["sql", "SELECT job, status, rows_out, (SELECT count(*) FROM silver.readings) AS n "
                         "FROM ops.pipeline_runs WHERE job = 'pipeline'", "--table-root", root]),
        lambda: run_job(["spark-sql", "-e", "SELECT count(*) FROM gold.features"], LAKEWATCH_TABLE_ROOT=root))
    assert "|pipeline|succeeded|400|400|" in _ok(runs).replace(" ", "")
    assert "400" in _ok(shell).split()


@pytest.mark.slow
def test_bad_arguments_are_refused_before_spark_starts(tmp_path: Path) -> None:
    bad_source = run_job(["pipeline", "--source", "nope", "--table-root", str(tmp_path)])
    assert bad_source.returncode == 2
    assert "unknown source 'nope': expected 'synthetic', 'machines' or one of ['nab', 'skab']" in _said(bad_source)
    bad_value = run_job(["pipeline", "--set", "synthetic.points=-5", "--table-root", str(tmp_path)])
    assert bad_value.returncode == 2 and "synthetic.points=-5: expected greater than 0" in _said(bad_value)
    unknown = run_job(["nosuchjob"])
    assert unknown.returncode == 2 and "unknown job 'nosuchjob'" in _said(unknown)


@pytest.mark.slow
def test_missing_source_path_fails_with_one_clear_line(tmp_path: Path) -> None:
    process = run_job(["ingest", "--source", "nab", "--path", str(tmp_path / "no-such-nab"),
                       "--table-root", str(tmp_path / "lake")])
    assert process.returncode == 1
    assert f"error: source 'nab': path {tmp_path / 'no-such-nab'}/data does not exist" in _said(process)


@pytest.mark.slow
def test_running_out_of_memory_ends_in_one_lakewatch_line_not_a_dead_jvm(tmp_path: Path) -> None:
    # 2,000 strings of 1 MB collected into one row do not fit a 512 MB heap: the task fails with Java's
    # OutOfMemoryError, and the job says so in one line with what to change (exit 1), instead of Spark ending the
    # JVM with exit code 52 and only its own log lines.
    process = run_job(["sql", "--driver-memory", "512m", "--table-root", str(tmp_path / "lake"),
                       "SELECT size(collect_list(repeat(CAST(id AS STRING), 1000000))) FROM range(2000)"])
    assert process.returncode == 1, _said(process)
    last = [line for line in _said(process).splitlines() if line.startswith("[lakewatch] error:")]
    assert last and "sql ran out of memory (java.lang.OutOfMemoryError: Java heap space) with a 512m" in last[-1]
    assert "--driver-memory" in last[-1] and "Traceback" not in _said(process)


@pytest.mark.slow
def test_evaluate_nab_scores_a_published_results_directory() -> None:
    from tests.conftest import nab_dir

    nab = nab_dir()
    out = _ok(run_job(["evaluate_nab", "--score-only", "--results-dir", str(nab / "results"), "--detector", "numenta",
                       "--corpus", str(nab)]))
    scores = {line.split()[1]: float(line.split()[2]) for line in out.splitlines() if line.startswith("numenta ")}
    # Threshold optimisation over every distinct score: at least the published 70.10 / 63.12 / 74.32.
    assert scores["standard"] == pytest.approx(70.10, abs=0.01)
    assert scores["reward_low_FP_rate"] >= 63.12 and scores["reward_low_FN_rate"] == pytest.approx(74.32, abs=0.01)
    refused = run_job(["evaluate_nab", "--score-only", "--detector", "numenta", "--corpus", str(nab)])
    assert refused.returncode == 2 and "--score-only needs --results-dir DIR" in _said(refused)
