"""conf/workflows.yaml is checked before anything runs: a cycle, an unknown job or task, a bad schedule or an
unknown key is refused with the file and the line of the entry; schedules convert to Databricks' Quartz cron."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lakewatch.entry import job_names
from lakewatch.jobs import workflows as workflows_job
from lakewatch.workflows import WorkflowError, load_workflows
from lakewatch.workflows.schedules import schedule_problem, to_quartz
from tests.conftest import REPO

GOOD = """\
defaults:
  retries: 3
workflows:
  hourly:
    schedule: "@hourly"
    tasks:
      load:
        job: ingest
        args: [--source, nab]
      clean:
        job: refine
        depends_on: [load]
        retries: 0
      gold:
        job: features
        depends_on: [clean]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "workflows.yaml"
    path.write_text(text)
    return path


def _refused(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(WorkflowError) as caught:
        load_workflows(path)
    message = str(caught.value)
    assert message.startswith(f"{path} line "), message
    return message


def test_the_committed_definition_loads_with_its_order_and_policies() -> None:
    definition = load_workflows(REPO / "conf" / "workflows.yaml")
    ingest = definition.workflow("ingest")
    assert ingest.order() == ["ingest", "refine", "validate", "features"]
    assert ingest.task("validate").policy.retries == 0 and ingest.task("features").policy.retries == 2
    score = definition.workflow("score").task("score_stream")
    assert score.command() == ["score_stream", "--trigger", "availableNow"]
    assert (score.policy.retries, score.policy.retry_delay_seconds, score.policy.timeout_minutes) == (1, 30, 9)


def test_defaults_then_task_keys_and_dependency_order(tmp_path: Path) -> None:
    workflow = load_workflows(_write(tmp_path, GOOD)).workflow("hourly")
    assert [(t.name, t.policy.retries, t.depends_on, t.line) for t in workflow.tasks] == [
        ("load", 3, (), 7), ("clean", 0, ("load",), 10), ("gold", 3, ("clean",), 14)]
    assert workflow.order() == ["load", "clean", "gold"]


def test_a_cycle_is_refused_naming_its_tasks_and_line(tmp_path: Path) -> None:
    text = GOOD.replace("depends_on: [load]", "depends_on: [load, gold]")
    message = _refused(tmp_path, text)
    assert "line 10: workflows.hourly.tasks.clean: dependency cycle clean -> gold -> clean" in message


def test_an_unknown_job_is_refused_naming_it_and_its_line(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("job: refine", "job: refinery"))
    assert "line 11: workflows.hourly.tasks.clean.job: unknown job 'refinery'; expected one of [" in message
    assert "'refine'" in message


def test_an_unknown_upstream_task_and_an_unknown_key_are_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD.replace("depends_on: [clean]", "depends_on: [cleen]"))
    assert "line 16: workflows.hourly.tasks.gold.depends_on: unknown task 'cleen'" in message
    message = _refused(tmp_path, GOOD.replace("retries: 0", "retires: 0"))
    assert "line 10: workflows.hourly.tasks.clean: unknown keys ['retires']" in message
    message = _refused(tmp_path, GOOD.replace("retries: 0", "retries: -1"))
    assert "line 10: workflows.hourly.tasks.clean.retries=-1: expected greater than or equal to 0" in message


@pytest.mark.parametrize(("schedule", "problem"), [
    ("61 * * * *", "not a valid cron expression"),
    ("@sometimes", "unknown preset"),
    ("0 * * *", "4 fields; expected 5"),
    ("0 0 1 * 1", "both day-of-month and day-of-week are set"),
])
def test_a_bad_schedule_is_refused_naming_its_line(tmp_path: Path, schedule: str, problem: str) -> None:
    message = _refused(tmp_path, GOOD.replace('"@hourly"', f'"{schedule}"'))
    assert f"line 5: workflows.hourly.schedule: bad schedule '{schedule}': {problem}" in message


def test_a_missing_notebook_and_a_job_after_a_notebook_are_refused(tmp_path: Path) -> None:
    notebook = GOOD.replace("job: refine", "notebook: notebooks/99_nope.py")
    assert "line 11: workflows.hourly.tasks.clean.notebook: no notebook notebooks/99_nope.py" in \
        _refused(tmp_path, notebook)
    real = GOOD.replace("job: refine", "notebook: notebooks/01_explore_lakehouse.py")
    assert "line 16: workflows.hourly.tasks.gold.depends_on: depends on notebook task 'clean'" in \
        _refused(tmp_path, real)


@pytest.mark.parametrize(("cron", "quartz"), [
    ("@hourly", "0 0 * * * ?"),
    ("@weekly", "0 0 0 ? * SUN"),
    ("7 * * * *", "0 7 * * * ?"),
    ("*/10 * * * *", "0 */10 * * * ?"),
    ("0 3 * * 0", "0 0 3 ? * SUN"),
    ("30 6 * * 1-5", "0 30 6 ? * MON-FRI"),
    ("0 0 * * 7,6", "0 0 0 ? * SUN,SAT"),
    ("0 0 1,15 * *", "0 0 0 1,15 * ?"),
])
def test_schedules_convert_to_quartz(cron: str, quartz: str) -> None:
    assert schedule_problem(cron) is None
    assert to_quartz(cron) == quartz


def test_the_job_refuses_a_bad_file_with_one_line_before_anything_runs(tmp_path: Path, capsys) -> None:
    path = _write(tmp_path, GOOD.replace("job: features", "job: featurez"))
    assert workflows_job.main(["check", "--file", str(path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"[lakewatch] error: {path} line 15: workflows.hourly.tasks.gold.job: unknown job 'featurez'; "
        f"expected one of {job_names()}")
    # The same through the launcher, as a user runs it (a Python job: no JVM starts).
    launched = subprocess.run([str(REPO / "spark-submit.sh"), "workflows", "check", "--file", str(path)],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
    assert launched.returncode == 2 and f"{path} line 15:" in launched.stderr
    assert workflows_job.main(["show", "--file", str(_write(tmp_path, GOOD))]) == 0
    assert "  clean          refine after load  [no retries, timeout 60 min, alert on failure]" in \
        capsys.readouterr().out
