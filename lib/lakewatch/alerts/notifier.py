"""The alerts pipeline in one object: anomaly events in, rules and policy, delivery, the outbox record.

The score stream calls :meth:`Notifier.on_events` inside its micro-batch with the batch's event versions as soon
as they are scored, before any Delta write: the events reach the driver and the rules decide there, and the
delivery and the outbox record run beside the batch's writes (the stream records new alerts with an idempotent
append, lakewatch.alerts.outbox). The alerts job calls :meth:`Notifier.catch_up` with events read from
gold.anomalies, which also redelivers the outbox's pending and retriable failed rows, and records by MERGE. Both
start from the outbox's state, read once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import tables
from lakewatch.alerts.channels import Sender, make_senders
from lakewatch.alerts.delivery import deliver
from lakewatch.alerts.outbox import OutboxLog, append_new, outbox_rows, read_state, record, redeliverable
from lakewatch.alerts.policy import PENDING, Alert, Event, from_micros, plan
from lakewatch.alerts.rules import AlertsSettings
from lakewatch.config import LakewatchConfig
from lakewatch.event_ids import event_id_sql
from lakewatch.schemas import OPS_ALERTS
from lakewatch.thresholds.current import ThresholdBook, threshold_book
from lakewatch.thresholds.settings import threshold_settings

OUTBOX_APP_SUFFIX = "-alerts"  # the stream's outbox appends: txnAppId = the query's app id + this


@dataclass
class NotifyReport:
    """What one pass decided and delivered."""

    events: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    send_seconds: float = 0.0
    record_seconds: float = 0.0
    sent_at: list[float] = field(default_factory=list)  # epoch seconds each sent alert was delivered
    recorded_by: str = ""  # append (the stream's new alerts) | merge

    def line(self) -> str:
        """One line for the job's log."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items())) or "no alerts"
        return (f"alerts: {self.events} event versions -> {counts} (send {self.send_seconds:.2f}s, "
                f"record {self.record_seconds:.2f}s)")


def events_from(df: DataFrame) -> list[Event]:
    """Events from gold.anomalies-shaped rows; the rows are few, so they reach the driver. The event id is computed
    by Spark (lakewatch.event_ids.event_id_sql) and times travel as epoch microseconds, so nothing depends on the
    driver's local time zone (PySpark turns a collected timestamp into a naive local datetime)."""
    micros = [F.unix_micros(c).alias(c) for c in ("start", "end", "peak_at")]
    rows = df.select(F.expr(event_id_sql()).alias("event_id"), "series_id", "channel", *micros, "peak_score",
                     "points", "is_open", "detector", "model_version").collect()
    return [Event(r["event_id"], r["series_id"], r["channel"], from_micros(r["start"]), from_micros(r["end"]),
                  from_micros(r["peak_at"]), float(r["peak_score"]), int(r["points"]), bool(r["is_open"]),
                  r["detector"], r["model_version"]) for r in rows]


def ensure_outbox(spark: SparkSession, config: LakewatchConfig) -> str:
    """Create ops.alerts when absent; return its Delta location."""
    name = config.tables.ops_alerts
    tables.ensure_table(spark, config, name, OPS_ALERTS)
    return tables.catalog_location(spark, name)


def _threshold_book(config: LakewatchConfig) -> ThresholdBook | None:
    """The current per-series thresholds (no row: no gate beyond the rules) when thresholds.enabled."""
    settings = threshold_settings(config)
    return threshold_book(config, 0.0, settings) if settings.enabled else None


class Notifier:
    """Rules, policy state, senders and the outbox of one alerts run (the stream's or the job's)."""

    def __init__(self, spark: SparkSession, config: LakewatchConfig, settings: AlertsSettings,
                 senders: dict[str, Sender] | None = None) -> None:
        # A session of its own: the stream's events MERGE sets txnAppId/txnVersion in its session's conf while
        # this records, in another thread, into another table.
        self.spark = spark.newSession()
        self.settings = settings
        self.location = ensure_outbox(spark, config)
        self.senders = senders if senders is not None else make_senders(settings)
        self.log = OutboxLog(self.location)  # its version before the state's: nothing is missed
        self.tag = f"lakewatch-alerts-{uuid.uuid4()}"  # the userMetadata of this run's MERGEs
        self.log.own.add(self.tag)
        self.state = read_state(self._outbox(), settings.digest.window_seconds)
        self.book = _threshold_book(config)  # per-series thresholds and alert budget (lakewatch.thresholds)

    def _outbox(self) -> DataFrame:
        return self.spark.read.format("delta").load(self.location)

    def notify(self, events: Sequence[Event]) -> NotifyReport:
        """Decide the alerts for `events`, deliver those to send, record them all in the outbox."""
        report = self._deliver_and_record(plan(events, self.settings, self.state, self.book))
        report.events = len(events)
        return report

    def on_events(self, events_df: DataFrame, batch_id: int, app_id: str) -> Callable[[], NotifyReport]:
        """The score stream's hook, called once the micro-batch is scored and before its writes: the batch's event
        versions (gold.anomalies rows) reach the driver and the rules decide now; returns the rest, delivering
        those alerts and recording them all, for the batch to run beside its writes (and finish before it ends).

        The decisions depend on the events and the outbox only, so a replayed batch decides the same; the
        record is an append once per (`app_id`, the query's txnAppId, and `batch_id`) while the stream is the
        outbox's only writer.
        """
        events = events_from(events_df)
        alerts = plan(events, self.settings, self.state, self.book)
        txn = (f"{app_id}{OUTBOX_APP_SUFFIX}", batch_id)

        def deliver_and_record() -> NotifyReport:
            report = self._deliver_and_record(alerts, txn)
            report.events = len(events)
            return report

        return deliver_and_record

    def redeliver(self) -> NotifyReport:
        """Deliver the outbox's pending alerts and retriable failures again; record the outcomes."""
        return self._deliver_and_record(redeliverable(self._outbox(), self.settings.delivery.max_attempts))

    def catch_up(self, events: Sequence[Event]) -> NotifyReport:
        """The alerts job's pass: the alerts `events` call for, and the outbox's pending alerts and retriable
        failures, delivered together and recorded in one MERGE."""
        again = redeliverable(self._outbox(), self.settings.delivery.max_attempts)
        if self.book is not None:
            self.book.refresh()  # each pass judges by the thresholds of its start
        fresh = plan(events, self.settings, self.state, self.book)
        known = {a.alert_id for a in fresh}
        report = self._deliver_and_record(fresh + [a for a in again if a.alert_id not in known])
        report.events = len(events)
        return report

    def _deliver_and_record(self, alerts: list[Alert], txn: tuple[str, int] | None = None) -> NotifyReport:
        """Deliver the pending ones of `alerts`, then record them all: appended once per `txn` (txnAppId, the
        stream's batch id) when they come from the stream's batch (`plan` makes only alert ids the state does not
        hold) and no other writer committed to the outbox since this run last looked; otherwise by MERGE on
        alert_id (after another writer's commits the state is read again, so later batches decide from what that
        writer recorded)."""
        report = NotifyReport()
        if not alerts:
            return report
        began = time.perf_counter()
        outcomes = deliver([a for a in alerts if a.status == PENDING], self.senders, self.settings.delivery)
        report.send_seconds = time.perf_counter() - began
        report.sent_at = [o.sent_at.timestamp() for o in outcomes.values() if o.sent_at is not None]
        rows = outbox_rows(alerts, outcomes, datetime.now(UTC))
        for row in rows:
            report.statuses[row[7]] = report.statuses.get(row[7], 0) + 1
        began = time.perf_counter()
        if txn is not None:
            self.log.own.add(txn[0])
        others = self.log.others_since()
        if txn is not None and not others:
            append_new(self.spark, self.location, rows, *txn, tag=txn[0])
            report.recorded_by = "append"
        else:
            record(self.spark, self.location, rows, self.tag)
            report.recorded_by = "merge"
            if others:
                self.state = read_state(self._outbox(), self.settings.digest.window_seconds)
        report.record_seconds = time.perf_counter() - began
        return report

    def close(self) -> None:
        """Close the senders' connections."""
        for sender in self.senders.values():
            sender.close()
