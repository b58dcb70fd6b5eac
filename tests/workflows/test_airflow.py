"""The Airflow DAGs for real, on a tiny lakehouse with Airflow's SQLite metadata DB: `./spark-submit.sh airflow
dags test` runs a workflow's tasks in dependency order through the launcher; a failing job is retried once, then
marked failed and reported; the task after it never runs; the job's failed runs are in ops.pipeline_runs.

The first run creates Airflow's own environment through the launcher, as a user's first command does (a minute or
two, once per checkout); the DAG run itself costs two short Spark jobs."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.conftest import REPO
from tests.jobs_harness import job_env

pytestmark = pytest.mark.slow

LAUNCHER = str(REPO / "spark-submit.sh")

WORKFLOW = """\
defaults:
  retries: 0
  timeout_minutes: 10
workflows:
  tiny:
    schedule: "@daily"
    tasks:
      check:
        job: workflows
        args: [check]
      broken:
        job: sql
        args: ["SELECT * FROM gold.no_such_table"]
        depends_on: [check]
        retries: 1
        retry_delay_seconds: 1
      after:
        job: features
        depends_on: [broken]
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the test's Airflow commands: the tiny workflow, a fresh lakehouse (whose _airflow folder
    is Airflow's home, the launcher's default), Airflow's own virtual environment ready."""
    work = tmp_path_factory.mktemp("airflow")
    (work / "workflows.yaml").write_text(WORKFLOW)
    env = {**job_env(), "LAKEWATCH_WORKFLOWS": str(work / "workflows.yaml"), "LAKEWATCH_TABLE_ROOT": str(work / "lake")}
    env.pop("AIRFLOW_HOME", None)
    ready = subprocess.run([LAUNCHER, "airflow", "version"], capture_output=True, text=True, timeout=900, env=env,
                           cwd=REPO)
    assert ready.returncode == 0, ready.stderr[-3000:]
    return env


@pytest.fixture(scope="module")
def airflow_run(airflow_env: dict[str, str]) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """(the lakehouse, the finished `airflow dags test lakewatch_tiny`)."""
    run = subprocess.run([LAUNCHER, "airflow", "dags", "test", "lakewatch_tiny"], capture_output=True, text=True,
                         timeout=900, env=airflow_env, cwd=REPO)
    return Path(airflow_env["LAKEWATCH_TABLE_ROOT"]), run


def _tries(lake: Path) -> dict[str, list[tuple[int, str, str, str]]]:
    """Every try of every task: task id -> [(try number, state, start, end)] in try order."""
    with sqlite3.connect(lake / "_airflow" / "airflow.db") as db:
        rows = db.execute("SELECT task_id, try_number, state, start_date, end_date FROM task_instance_history "
                          "WHERE dag_id = 'lakewatch_tiny' UNION ALL "
                          "SELECT task_id, try_number, state, start_date, end_date FROM task_instance "
                          "WHERE dag_id = 'lakewatch_tiny' ORDER BY 1, 2").fetchall()
    tries: dict[str, list[tuple[int, str, str, str]]] = {}
    for task, number, state, start, end in rows:
        tries.setdefault(task, []).append((number, state, start, end))
    return tries


def test_tasks_run_in_order_the_failing_one_is_retried_and_the_next_never_runs(airflow_run) -> None:
    lake, run = airflow_run
    said = run.stdout + run.stderr
    assert run.returncode == 1, said[-5000:]
    assert "dag_id=lakewatch_tiny" in said and "state=failed" in said
    tries = _tries(lake)
    assert [(n, state) for n, state, _, _ in tries["check"]] == [(1, "success")]
    # Two tries of broken (the history keeps the first as failed; it was set up_for_retry in between), then failed.
    assert [(n, state) for n, state, _, _ in tries["broken"]] == [(1, "failed"), (2, "failed")]
    assert said.count("new_state=up_for_retry") == 1 and said.count("new_state=failed") == 1
    assert [(n, state) for n, state, _, _ in tries["after"]] == [(0, "upstream_failed")]  # never tried
    check_end, first_try, second_try = tries["check"][0][3], tries["broken"][0], tries["broken"][1]
    assert check_end <= first_try[2] and first_try[3] <= second_try[2]  # check, then broken, then broken again


def test_the_final_failure_is_reported_once_and_recorded_by_the_job(airflow_run) -> None:
    lake, run = airflow_run
    said = run.stdout + run.stderr
    report = ("[lakewatch] scheduled task failed: workflow 'tiny' task 'broken' (sql SELECT * FROM gold.no_such_table) "
              "failed after 2 tries in airflow run manual__")
    assert said.count(report) == 1, said[-5000:]
    runs = DeltaTable(str(lake / "ops" / "pipeline_runs")).to_pandas()
    failed = runs[runs["job"] == "sql"].sort_values("started_at")
    assert list(failed["status"]) == ["failed", "failed"]
    assert all(error.startswith("SQL error: [TABLE_OR_VIEW_NOT_FOUND]") for error in failed["error"])
    assert set(runs["job"]) == {"sql"}  # features never ran


# Every operator's settings as the DAG file builds them from the committed definition, printed by Airflow's Python.
_DUMP = """
import json, runpy
found = runpy.run_path("orchestration/airflow/lakewatch_dags.py")
dags = {k: v for k, v in found.items() if k.startswith("lakewatch_")}
print(json.dumps({dag_id: {"schedule": dag.schedule if isinstance(dag.schedule, str) else None, "tasks": {
    t.task_id: [t.bash_command, sorted(t.upstream_task_ids), t.retries, t.retry_delay.total_seconds(),
                t.retry_exponential_backoff, t.max_retry_delay.total_seconds(), t.execution_timeout.total_seconds()]
    for t in dag.tasks}} for dag_id, dag in dags.items()}))
"""


def test_the_dags_carry_the_definitions_schedules_dependencies_retries_and_timeouts(airflow_env, tmp_path) -> None:
    env = {**airflow_env, "AIRFLOW_HOME": str(tmp_path)}
    env.pop("LAKEWATCH_WORKFLOWS")  # the committed conf/workflows.yaml
    dumped = subprocess.run([str(REPO / ".venv-airflow" / "bin" / "python"), "-c", _DUMP], capture_output=True,
                            text=True, timeout=300, env=env, cwd=REPO)
    assert dumped.returncode == 0, dumped.stderr[-3000:]
    dags = json.loads(dumped.stdout.strip().splitlines()[-1])
    assert set(dags) == {"lakewatch_ingest", "lakewatch_score", "lakewatch_evaluate", "lakewatch_alerts",
                         "lakewatch_drift", "lakewatch_thresholds"}
    assert dags["lakewatch_ingest"]["schedule"] == "7 * * * *"
    ingest = dags["lakewatch_ingest"]["tasks"]
    assert ingest["ingest"] == [f"{LAUNCHER} ingest --source nab", [], 2, 120.0, 2.0, 1800.0, 3600.0]
    assert ingest["validate"][1:3] == [["refine"], 0] and ingest["features"][1] == ["validate"]
    score = dags["lakewatch_score"]["tasks"]["score_stream"]
    assert score == [f"{LAUNCHER} score_stream --trigger availableNow", [], 1, 30.0, 2.0, 1800.0, 540.0]
    # The notebook task is Databricks': Airflow has the two job tasks.
    assert sorted(dags["lakewatch_evaluate"]["tasks"]) == ["evaluate_nab", "train"]
    drift = dags["lakewatch_drift"]["tasks"]
    assert drift["retrain"][:3] == [f"{LAUNCHER} retrain", ["drift"], 0]


def test_a_definition_with_a_cycle_stops_airflow_before_any_task_runs(airflow_env, tmp_path) -> None:
    cyclic = tmp_path / "workflows.yaml"
    cyclic.write_text(WORKFLOW.replace("job: workflows\n", "job: workflows\n        depends_on: [after]\n"))
    env = {**airflow_env, "LAKEWATCH_WORKFLOWS": str(cyclic), "LAKEWATCH_TABLE_ROOT": str(tmp_path / "lake")}
    run = subprocess.run([LAUNCHER, "airflow", "dags", "test", "lakewatch_tiny"], capture_output=True, text=True,
                         timeout=300, env=env, cwd=REPO)
    said = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"{cyclic} line 8: workflows.tiny.tasks.check: dependency cycle check -> after -> broken -> check" in said
    assert "Running command" not in said and not (tmp_path / "lake" / "ops").exists()
