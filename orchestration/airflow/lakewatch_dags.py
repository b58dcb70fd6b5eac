"""lakewatch's Airflow DAGs: one per workflow of conf/workflows.yaml (or $LAKEWATCH_WORKFLOWS), dag id
``lakewatch_<workflow>``, each task running its job through the launcher (``./spark-submit.sh <job> <args>``).

Run with ``./spark-submit.sh airflow ...``, which points Airflow's DAG folder here. Parsing this file reads one
small YAML file and builds operators; nothing else runs at parse time. A definition with a cycle, an unknown job
or a bad schedule fails the import with the file and line in Airflow's import errors.
"""

from __future__ import annotations

import shlex
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "lib") not in sys.path:
    # lakewatch.workflows needs only PyYAML, pydantic and croniter, which Airflow's environment has too.
    sys.path.insert(0, str(REPO / "lib"))

from lakewatch.workflows import Task, TaskFailure, Workflow, load_workflows, report_failure  # noqa: E402

LAUNCHER = REPO / "spark-submit.sh"
START = pendulum.datetime(2026, 1, 1, tz="UTC")
BACKOFF = 2.0  # Airflow's multiplier for exponential_backoff: the delay doubles with each retry


class LakewatchJobOperator(BashOperator):
    """Runs one lakewatch job as ``./spark-submit.sh <job> <args>``: the launcher supplies the environment, the
    jars, Spark's options and the Derby home, exactly as for a job started by hand. The command is not a Jinja
    template: arguments are the definition's, the same on Databricks."""

    template_fields = ()
    template_ext = ()
    ui_color = "#d6eaf8"

    def __init__(self, *, task: Task, **kwargs: Any) -> None:
        super().__init__(bash_command=shlex.join([str(LAUNCHER), *task.command()]), cwd=str(REPO), **kwargs)


def _failure_callback(workflow: Workflow, task: Task):
    def on_failure(context: dict[str, Any]) -> None:
        instance = context["task_instance"]
        report_failure(TaskFailure(
            workflow=workflow.name, task=task.name, job=task.job, args=task.args, scheduler="airflow",
            run_id=str(context.get("run_id")), try_number=int(instance.try_number),
            error=str(context.get("exception") or "failed"), alert=task.policy.alert_on_failure))
    return on_failure


def build_dag(workflow: Workflow) -> DAG:
    """The DAG of `workflow`: its schedule (UTC, no catch-up, one run at a time) and a LakewatchJobOperator per
    job task, with the task's retries, back-off, timeout and failure report; notebook tasks are Databricks'."""
    with DAG(dag_id=f"lakewatch_{workflow.name}", description=workflow.description or None,
             schedule=workflow.schedule, start_date=START, catchup=False, max_active_runs=1,
             tags=["lakewatch"]) as dag:
        operators = {}
        for task in workflow.tasks:
            if not task.runs_on_airflow:
                continue
            policy = task.policy
            operators[task.name] = LakewatchJobOperator(
                task_id=task.name, task=task, retries=policy.retries,
                retry_delay=timedelta(seconds=policy.retry_delay_seconds),
                retry_exponential_backoff=BACKOFF if policy.exponential_backoff else 0,
                max_retry_delay=timedelta(seconds=policy.max_retry_delay_seconds),
                execution_timeout=timedelta(minutes=policy.timeout_minutes),
                on_failure_callback=_failure_callback(workflow, task))
        for task in workflow.tasks:
            for upstream in task.depends_on:
                if task.name in operators:
                    operators[upstream] >> operators[task.name]
    return dag


for _workflow in load_workflows().workflows:
    globals()[f"lakewatch_{_workflow.name}"] = build_dag(_workflow)
