"""The alerts pipeline in one object: anomaly events in, rules and policy, delivery, the outbox record.

The score stream's stateful operator sends what it can decide alone the moment it flags an event
(lakewatch.alerts.operator). The stream then calls :meth:`Notifier.on_events` inside its micro-batch with the
batch's event versions (and what the operator sent) as soon as they are scored, before any Delta write: the events
reach the driver, the rules decide there (with cooldown, digest and budget), the alerts the operator did not send
are delivered, and the outbox records them all, beside the batch's writes (the stream records new alerts with an
idempotent append, lakewatch.alerts.outbox). The alerts job calls :meth:`Notifier.catch_up` with events read from
gold.anomalies, which also redelivers the outbox's pending and retriable failed rows, and records by MERGE. Both
start from the outbox's state, read once.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch import tables
from lakewatch.alerts.channels import Sender, make_senders
from lakewatch.alerts.delivery import Outcome, deliver
from lakewatch.alerts.operator import outcome_from_json
from lakewatch.alerts.outbox import OutboxLog, append_new, outbox_rows, read_state, record, redeliverable
from lakewatch.alerts.policy import (
    KIND_EVENT,
    PENDING,
    SENT,
    SUPPRESSED,
    Alert,
    AlertState,
    Event,
    event_payload,
    from_micros,
    plan,
)
from lakewatch.alerts.rules import AlertsSettings
from lakewatch.config import LakewatchConfig
from lakewatch.event_ids import event_id, event_id_sql
from lakewatch.schemas import OPS_ALERTS
from lakewatch.streaming.sink import OPERATOR_ALERTS
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
    from_operator: int = 0  # alerts the stateful operator had already sent (not delivered again here)

    def line(self) -> str:
        """One line for the job's log."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.statuses.items())) or "no alerts"
        return (f"alerts: {self.events} event versions -> {counts} (send {self.send_seconds:.2f}s, "
                f"record {self.record_seconds:.2f}s)")


# What the operator sent, by alert id: the outcome and the (event id, rule, target, severity) it was for.
OperatorSends = dict[str, tuple[Outcome, tuple[str, str, str, str]]]


def events_from(df: DataFrame) -> list[Event]:
    """Events from gold.anomalies-shaped rows; the rows are few, so they reach the driver. The event id is computed
    by Spark (lakewatch.event_ids.event_id_sql) and times travel as epoch microseconds, so nothing depends on the
    driver's local time zone (PySpark turns a collected timestamp into a naive local datetime)."""
    return events_and_sends(df)[0]


def events_and_sends(df: DataFrame | pa.Table) -> tuple[list[Event], OperatorSends]:
    """:func:`events_from`, and what the stateful operator sent for them (column OPERATOR_ALERTS when present);
    `df` may be the rows already on the driver, as Arrow (the score stream's small batch)."""
    columns = df.column_names if isinstance(df, pa.Table) else df.columns
    sends_column = [OPERATOR_ALERTS] if OPERATOR_ALERTS in columns else []
    rows = _arrow_rows(df) if isinstance(df, pa.Table) else df.select(
        F.expr(event_id_sql()).alias("event_id"), "series_id", "channel",
        *[F.unix_micros(c).alias(c) for c in ("start", "end", "peak_at")], "peak_score", "points", "is_open",
        "detector", "model_version", *sends_column).collect()
    events = [Event(r["event_id"], r["series_id"], r["channel"], from_micros(r["start"]), from_micros(r["end"]),
                    from_micros(r["peak_at"]), float(r["peak_score"]), int(r["points"]), bool(r["is_open"]),
                    r["detector"], r["model_version"]) for r in rows]
    sends: OperatorSends = {}
    for r, event in zip(rows, events, strict=True):
        for item in json.loads(r[OPERATOR_ALERTS]) if sends_column and r[OPERATOR_ALERTS] else []:
            sends[item["alert_id"]] = (outcome_from_json(item),
                                       (event.event_id, item["rule"], item["target"], item["severity"]))
    return events, sends


def _arrow_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Gold.anomalies-shaped Arrow rows as :func:`events_and_sends` reads them: times as epoch microseconds, and
    the event id computed in Python (lakewatch.event_ids, the same id as its SQL)."""
    times = {c: pc.cast(table[c], pa.int64()).to_pylist() for c in ("start", "end", "peak_at")}
    rows = table.drop_columns(list(times)).to_pylist()
    for i, row in enumerate(rows):
        row.update({c: values[i] for c, values in times.items()})
        row["event_id"] = event_id(row["series_id"], row["channel"], row["start"], row["detector"],
                                   row["model_version"])
    return rows


def with_operator_sends(alerts: list[Alert], sends: OperatorSends, events: Sequence[Event],
                        settings: AlertsSettings, state: AlertState) -> list[Alert]:
    """The batch's alerts as `plan` decided them, made to agree with what the operator already sent: an alert it
    sent is recorded as sent whatever the driver decided (a message that left cannot be unsent; the two disagree
    only when a per-series threshold changed between the worker's and the driver's reading), and one the plan did
    not make (and the outbox does not hold) is added; `state` takes the additions in."""
    sent = {key for key, (outcome, _) in sends.items() if outcome.status == SENT}
    out = [replace(a, status=PENDING, reason="") if a.alert_id in sent and a.status == SUPPRESSED else a
           for a in alerts]
    planned = {a.alert_id for a in out}
    by_id = {e.event_id: e for e in events}
    rules = {r.name: r for r in settings.rules}
    for key in sorted(sent - planned):
        event_id, rule_name, target, severity = sends[key][1]
        if key in state.recorded or event_id not in by_id or rule_name not in rules or target not in settings.channels:
            continue
        event = by_id[event_id]
        alert = Alert(key, KIND_EVENT, event_id, event.series_id, rule_name, settings.channel(target).kind, target,
                      severity, PENDING, event.start, event_payload(key, rules[rule_name], severity, event))
        out.append(alert)
        state.add(alert, settings.digest.window_seconds)
    return out


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

    def on_events(self, events_df: DataFrame | pa.Table, batch_id: int, app_id: str) -> Callable[[], NotifyReport]:
        """The score stream's hook, called once the micro-batch is scored and before its writes: the batch's event
        versions (gold.anomalies rows, with what the operator sent in OPERATOR_ALERTS) reach the driver and the
        rules decide now; returns the rest, delivering those alerts the operator did not send and recording them
        all, for the batch to run beside its writes (and finish before it ends).

        The decisions depend on the events and the outbox only, so a replayed batch decides the same; the
        record is an append once per (`app_id`, the query's txnAppId, and `batch_id`) while the stream is the
        outbox's only writer.
        """
        events, sends = events_and_sends(events_df)
        alerts = with_operator_sends(plan(events, self.settings, self.state, self.book), sends, events,
                                     self.settings, self.state)
        txn = (f"{app_id}{OUTBOX_APP_SUFFIX}", batch_id)

        def deliver_and_record() -> NotifyReport:
            report = self._deliver_and_record(alerts, txn, {key: outcome for key, (outcome, _) in sends.items()})
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

    def _deliver_and_record(self, alerts: list[Alert], txn: tuple[str, int] | None = None,
                            done: Mapping[str, Outcome] | None = None) -> NotifyReport:
        """Deliver the pending ones of `alerts` but those `done` says were sent already (by the stream's operator;
        its failures are delivered here with retries, their attempts added), then record them all: appended once
        per `txn` (txnAppId, the stream's batch id) when they come from the stream's batch (`plan` makes only alert
        ids the state does not hold) and no other writer committed to the outbox since this run last looked;
        otherwise by MERGE on alert_id (after another writer's commits the state is read again, so later batches
        decide from what that writer recorded)."""
        report = NotifyReport()
        if not alerts:
            return report
        done = done or {}
        began = time.perf_counter()
        already = {a.alert_id: done[a.alert_id] for a in alerts if a.alert_id in done and done[a.alert_id].status
                   == SENT}
        outcomes = deliver([a for a in alerts if a.status == PENDING and a.alert_id not in already], self.senders,
                           self.settings.delivery)
        for key, outcome in outcomes.items():
            if key in done:
                outcomes[key] = replace(outcome, attempts=outcome.attempts + done[key].attempts)
        outcomes.update(already)
        report.from_operator = len(already)
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
