"""What happens when a scheduled task has failed for good (its retries spent): one place both schedulers call.

A log line (the job itself has already written its failed row to ops.pipeline_runs when it got as far as
lakewatch.cli.run_job) and, when the task's ``alert_on_failure`` is set, an alert of kind ``task_failure`` through
the channels ``alerts.failure_channels`` names (webhook, Slack, e-mail; lakewatch.alerts), with the same retries
and idempotency key on every channel, so a scheduler that reports one failure twice is dropped by the receiver.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from lakewatch.config import LakewatchConfig, load_config

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


def report_failure(failure: TaskFailure, config: LakewatchConfig | None = None) -> str:
    """Report a task's final failure: logged at ERROR as one line (returned too) and, when ``failure.alert`` is
    set, sent through the channels of ``alerts.failure_channels`` in `config` (the default configuration when
    None). A channel that cannot be reached is logged; the report never raises."""
    line = f"[lakewatch] scheduled task failed: {failure.summary()}"
    LOG.error(line)
    if failure.alert:
        try:
            _alert(failure, config if config is not None else load_config())
        except Exception as exc:  # the scheduler's callback must not fail on the way
            LOG.error("[lakewatch] could not send the failure alert: %s: %s", type(exc).__name__, exc)
    return line


def _alert(failure: TaskFailure, config: LakewatchConfig) -> None:
    from lakewatch.alerts.channels import make_senders
    from lakewatch.alerts.delivery import deliver
    from lakewatch.alerts.policy import PENDING, Alert
    from lakewatch.alerts.rules import alerts_settings

    settings = alerts_settings(config)
    if not settings.failure_channels:
        return
    senders = make_senders(settings)
    key = "|".join((failure.scheduler, failure.run_id, failure.workflow, failure.task))
    now = datetime.now(UTC)
    payload = {"kind": "task_failure", "text": failure.summary(), "workflow": failure.workflow,
               "task": failure.task, "job": failure.job, "args": list(failure.args), "scheduler": failure.scheduler,
               "run_id": failure.run_id, "tries": failure.try_number, "error": failure.error,
               "failed_at": now.isoformat()}
    alerts = [Alert(alert_id=hashlib.sha256(f"task_failure|{key}|{name}".encode()).hexdigest()[:32],
                    kind="task_failure", event_id=None, series_id=None, rule=f"workflow:{failure.workflow}",
                    channel=settings.channel(name).kind, target=name, severity="error", status=PENDING,
                    event_start=now, payload=payload)
              for name in settings.failure_channels]
    try:
        outcomes = deliver(alerts, {name: senders[name] for name in settings.failure_channels}, settings.delivery)
    finally:
        for sender in senders.values():
            sender.close()
    for alert in alerts:
        outcome = outcomes.get(alert.alert_id)
        if outcome is not None and outcome.status != "sent":
            LOG.error("[lakewatch] failure alert to %s not delivered: %s", alert.target, outcome.last_error)
