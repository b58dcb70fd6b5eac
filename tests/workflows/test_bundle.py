"""databricks.yml is generated from conf/workflows.yaml and checked offline (the Databricks CLI cannot be installed
here): every job reads back whole as databricks-sdk's JobSettings, every python_wheel_task names a console script
the wheel really has, every notebook exists, and the libraries are conf/packages.txt's Delta and Kafka."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from databricks.sdk.service.jobs import JobSettings

from lakewatch.workflows import load_workflows
from lakewatch.workflows.bundle import BUNDLE_FILE, render
from tests.conftest import REPO


@pytest.fixture(scope="module")
def committed() -> dict:
    return yaml.safe_load((REPO / BUNDLE_FILE).read_text())


@pytest.fixture(scope="module")
def console_scripts(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The console scripts of the wheel's metadata, built from setup.py (egg_info writes entry_points.txt)."""
    out = tmp_path_factory.mktemp("metadata")
    built = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    points = configparser.ConfigParser()
    points.read(next(out.glob("*.egg-info")) / "entry_points.txt")
    return set(points["console_scripts"])


def test_the_committed_bundle_is_what_the_definition_generates() -> None:
    assert (REPO / BUNDLE_FILE).read_text() == render(load_workflows(REPO / "conf" / "workflows.yaml"))


def test_every_job_reads_back_whole_as_job_settings(committed: dict) -> None:
    jobs = committed["resources"]["jobs"]
    assert set(jobs) == {"lakewatch_ingest", "lakewatch_score", "lakewatch_evaluate", "lakewatch_alerts",
                         "lakewatch_drift", "lakewatch_thresholds"}
    for key, job in jobs.items():
        assert JobSettings.from_dict(job).as_dict() == job, f"{key}: keys JobSettings does not know were dropped"
    # The check itself catches a key JobSettings does not know.
    bad = {**jobs["lakewatch_score"], "shedule": {"quartz_cron_expression": "0 0 * * * ?"}}
    assert JobSettings.from_dict(bad).as_dict() != bad


def test_schedules_retries_and_dependencies_follow_the_definition(committed: dict) -> None:
    ingest = committed["resources"]["jobs"]["lakewatch_ingest"]
    assert ingest["schedule"]["quartz_cron_expression"] == "0 7 * * * ?"
    tasks = {task["task_key"]: task for task in ingest["tasks"]}
    assert [d["task_key"] for d in tasks["features"]["depends_on"]] == ["validate"]
    assert (tasks["validate"]["max_retries"], tasks["ingest"]["max_retries"]) == (0, 2)
    assert tasks["ingest"]["python_wheel_task"] == {"package_name": "lakewatch", "entry_point": "lakewatch-ingest",
                                                    "parameters": ["--source", "nab"]}
    score = committed["resources"]["jobs"]["lakewatch_score"]
    assert score["schedule"]["quartz_cron_expression"] == "0 */10 * * * ?"
    assert score["tasks"][0]["timeout_seconds"] == 9 * 60


def test_entry_points_exist_in_the_wheel_and_notebooks_in_the_repository(committed: dict, console_scripts) -> None:
    wheel_tasks = notebook_tasks = 0
    for job in committed["resources"]["jobs"].values():
        for task in job["tasks"]:
            if "python_wheel_task" in task:
                wheel_tasks += 1
                assert task["python_wheel_task"]["entry_point"] in console_scripts, task["task_key"]
            else:
                notebook_tasks += 1
                assert (REPO / task["notebook_task"]["notebook_path"]).is_file(), task["task_key"]
    assert (wheel_tasks, notebook_tasks) == (11, 1)
    assert "lakewatch-score-stream" in console_scripts


def test_libraries_are_the_wheel_and_the_clusters_maven_packages(committed: dict) -> None:
    wanted = [line for line in (REPO / "conf" / "packages.txt").read_text().splitlines()
              if line.startswith(("io.delta:", "org.apache.spark:spark-sql-kafka"))]
    assert len(wanted) == 2
    for job in committed["resources"]["jobs"].values():
        for task in job["tasks"]:
            assert task["libraries"] == [{"whl": "./dist/lakewatch-*.whl"},
                                         *({"maven": {"coordinates": c}} for c in wanted)]
    build = committed["artifacts"]["lakewatch_wheel"]
    assert build["type"] == "whl" and "wheel" in build["build"] and Path(REPO / build["path"]).is_dir()
