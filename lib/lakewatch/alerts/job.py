"""The alerts job's loop: gold.anomalies -> rules -> outbox, then redelivery of pending and retriable alerts."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakewatch.alerts.notifier import Notifier, NotifyReport, events_from
from lakewatch.alerts.rules import AlertsSettings
from lakewatch.config import LakewatchConfig
from lakewatch.progress import Progress


@dataclass
class AlertsRunReport:
    """What the passes of one alerts run did, statuses summed over passes."""

    passes: int = 0
    statuses: dict[str, int] = field(default_factory=dict)

    def add(self, report: NotifyReport) -> None:
        """Count one pass's decisions and deliveries."""
        for status, n in report.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n

    def total(self, statuses: Iterable[str]) -> int:
        """Alerts recorded with one of `statuses`."""
        return sum(self.statuses.get(s, 0) for s in statuses)

    def line(self) -> str:
        """One line: alerts recorded by status."""
        return ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "no alerts"


def run_alerts(spark: SparkSession, config: LakewatchConfig, settings: AlertsSettings, progress: Progress,
               every_seconds: float | None, stop: threading.Event | None = None) -> AlertsRunReport:
    """One pass (`every_seconds` None) or a pass every `every_seconds` until `stop` is set. A pass reads the
    events of gold.anomalies updated since the last pass began (all of them the first time), records and delivers
    their alerts, then delivers the outbox's pending alerts and retriable failures again."""
    notifier = Notifier(spark, config, settings)
    report = AlertsRunReport()
    since: datetime | None = None
    try:
        while True:
            began = time.monotonic()
            pass_start = spark.sql("SELECT current_timestamp() AS t").first()["t"]
            events = spark.read.table(config.tables.gold_anomalies)
            if since is not None:
                events = events.where(F.col("updated_at") >= F.lit(since))
            done = notifier.catch_up(events_from(events))
            since = pass_start
            report.passes += 1
            report.add(done)
            progress.say(f"pass {report.passes}: {done.line()}")
            if every_seconds is None or stop is None:
                return report
            if stop.wait(max(0.0, every_seconds - (time.monotonic() - began))):
                return report
    finally:
        notifier.close()
