"""What happens when a scheduled task has failed for good (its retries spent): one place both schedulers call.

Today that is a log line (the job itself has already written its failed row to ops.pipeline_runs when it got as
far as lakewatch.cli.run_job). When the alerts package lands, :func:`report_failure` is where a failure becomes
an alert through its channels: the task's ``alert_on_failure`` says whether it should.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

LOG = logging.getLogger("lakewatch.workflows")


@dataclass(frozen=True)
class TaskFailure:
    """A task that failed after its last try: where it ran (`scheduler`, its `run_id` there), what it ran, how
    many tries it had and the error the scheduler saw."""

    workflow: str
    task: str
    job: str | None
    args: tuple[str, ...]
    scheduler: str
    run_id: str
    try_number: int
    error: str
    alert: bool = True

    def summary(self) -> str:
        """One line naming the workflow, the task, the command and the error."""
        command = " ".join([self.job or "", *self.args]).strip()
        return (f"workflow {self.workflow!r} task {self.task!r} ({command}) failed after {self.try_number} "
                f"tr{'y' if self.try_number == 1 else 'ies'} in {self.scheduler} run {self.run_id}: {self.error}")


def report_failure(failure: TaskFailure) -> str:
    """Report a task's final failure: logged at ERROR as one line (returned too).

    The hook for alerts: once lakewatch's alert channels exist, send ``failure`` through them here when
    ``failure.alert`` is set, so that every scheduler (Airflow's on_failure_callback, a Databricks job's
    notifications) alerts the same way.
    """
    line = f"[lakewatch] scheduled task failed: {failure.summary()}"
    LOG.error(line)
    return line
