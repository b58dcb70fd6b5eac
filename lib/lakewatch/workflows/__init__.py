"""Schedules: conf/workflows.yaml (the one definition), its checks, the Databricks bundle made from it, and the
failure hook both schedulers call. The Airflow DAGs that read it live in orchestration/airflow/."""

from lakewatch.workflows.definition import (
    Task,
    TaskPolicy,
    Workflow,
    WorkflowError,
    WorkflowFile,
    default_workflows_path,
    load_workflows,
)
from lakewatch.workflows.failures import TaskFailure, report_failure

__all__ = ["Task", "TaskFailure", "TaskPolicy", "Workflow", "WorkflowError", "WorkflowFile",
           "default_workflows_path", "load_workflows", "report_failure"]
