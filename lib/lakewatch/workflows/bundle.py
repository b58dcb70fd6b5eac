"""The Databricks Asset Bundle (databricks.yml at the repository root), generated from conf/workflows.yaml.

Each workflow becomes a job: its schedule as Quartz cron, one job cluster, and per task a ``python_wheel_task``
calling the wheel's ``lakewatch-<job>`` console script with the task's arguments (or a ``notebook_task`` for a
notebook), with the task's retries and timeout. Libraries: the wheel the bundle builds, and the Maven packages
of conf/packages.txt the jobs need on a cluster (Delta, Kafka; Derby is the local catalog server's only).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from lakewatch.config import project_root
from lakewatch.workflows.definition import Task, Workflow, WorkflowFile
from lakewatch.workflows.schedules import to_quartz

BUNDLE_FILE = "databricks.yml"
BUNDLE_NAME = "lakewatch"
PACKAGE = "lakewatch"
CLUSTER_KEY = "lakewatch_cluster"
WHEEL = "./dist/lakewatch-*.whl"
#: Jars that serve the local catalog server only; a Databricks workspace has its own metastore.
LOCAL_ONLY_PACKAGES = ("org.apache.derby:",)
HEADER = ("# Generated from conf/workflows.yaml by `./spark-submit.sh workflows bundle`: edit that file, not this one\n"
          "# (tests/workflows/test_bundle.py fails when the two disagree).\n")


def entry_point(job: str) -> str:
    """The console script setup.py gives job `job`: ``lakewatch-<job>`` with '-' for '_'."""
    return f"{PACKAGE}-{job.replace('_', '-')}"


def maven_packages(root: Path | None = None) -> list[str]:
    """The Maven coordinates of conf/packages.txt a cluster needs (comments, blanks and local-only ones out)."""
    lines = ((root or project_root()) / "conf" / "packages.txt").read_text().splitlines()
    coordinates = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [c for c in coordinates if not c.startswith(LOCAL_ONLY_PACKAGES)]


def job_resource_key(workflow: Workflow) -> str:
    """The bundle's resource key of `workflow`'s job."""
    return f"{BUNDLE_NAME}_{workflow.name}"


def _task(task: Task, libraries: list[dict[str, Any]]) -> dict[str, Any]:
    policy = task.policy
    out: dict[str, Any] = {"task_key": task.name}
    if task.depends_on:
        out["depends_on"] = [{"task_key": name} for name in task.depends_on]
    out["job_cluster_key"] = CLUSTER_KEY
    if task.job is not None:
        out["python_wheel_task"] = {"package_name": PACKAGE, "entry_point": entry_point(task.job)}
        if task.args:
            out["python_wheel_task"]["parameters"] = list(task.args)
    else:
        out["notebook_task"] = {"notebook_path": f"./{task.notebook}"}
        if task.notebook_params:
            out["notebook_task"]["base_parameters"] = {k: str(v) for k, v in task.notebook_params.items()}
    out["libraries"] = copy.deepcopy(libraries)  # a copy each, or YAML writes anchors
    # Databricks retries at a fixed interval: the first delay of the definition (its back-off is Airflow's).
    out["max_retries"] = policy.retries
    out["min_retry_interval_millis"] = policy.retry_delay_seconds * 1000
    out["retry_on_timeout"] = True
    out["timeout_seconds"] = policy.timeout_minutes * 60
    return out


def job_settings(workflow: Workflow, packages: list[str]) -> dict[str, Any]:
    """The job resource of `workflow`, as a dict that databricks-sdk's JobSettings.from_dict reads back whole."""
    libraries = [{"whl": WHEEL}, *({"maven": {"coordinates": c}} for c in packages)]
    job: dict[str, Any] = {"name": f"{BUNDLE_NAME}-{workflow.name}"}
    if workflow.description:
        job["description"] = workflow.description
    if workflow.schedule:
        job["schedule"] = {"quartz_cron_expression": to_quartz(workflow.schedule), "timezone_id": "UTC",
                           "pause_status": "UNPAUSED"}
    job["max_concurrent_runs"] = 1
    job["job_clusters"] = [{"job_cluster_key": CLUSTER_KEY, "new_cluster": {
        "spark_version": "${var.spark_version}", "node_type_id": "${var.node_type_id}",
        "num_workers": "${var.num_workers}", "spark_env_vars": {"LAKEWATCH_TABLE_ROOT": "${var.table_root}"}}}]
    job["tasks"] = [_task(task, libraries) for task in workflow.tasks]
    return job


def bundle(definition: WorkflowFile, root: Path | None = None) -> dict[str, Any]:
    """The whole databricks.yml of `definition`: bundle, variables, the wheel artifact, targets and one job per
    workflow."""
    packages = maven_packages(root)
    return {
        "bundle": {"name": BUNDLE_NAME},
        "variables": {
            "spark_version": {"description": "Databricks Runtime of the job clusters (an LTS with Spark 4)",
                              "default": "17.3.x-scala2.13"},
            "node_type_id": {"description": "the cloud's instance type for the job clusters (set per workspace)",
                             "default": "i3.xlarge"},
            "num_workers": {"description": "workers per job cluster", "default": 2},
            "table_root": {"description": "the lakehouse's table root ($LAKEWATCH_TABLE_ROOT of every job)",
                           "default": "dbfs:/lakewatch/delta_tables"},
        },
        "artifacts": {"lakewatch_wheel": {"type": "whl", "path": ".",
                                          "build": "python -m pip wheel --no-deps --wheel-dir dist ."}},
        "targets": {"dev": {"mode": "development", "default": True},
                    "prod": {"mode": "production"}},
        "resources": {"jobs": {job_resource_key(w): job_settings(w, packages) for w in definition.workflows}},
    }


def render(definition: WorkflowFile, root: Path | None = None) -> str:
    """databricks.yml's text for `definition` (header comment, then the bundle as block YAML, keys in order)."""
    return HEADER + yaml.safe_dump(bundle(definition, root), sort_keys=False, default_flow_style=False, width=120)
