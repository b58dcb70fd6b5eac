"""ops.alerts, the outbox: every alert decided is recorded once, by a MERGE on its alert_id.

A row is inserted when its alert_id is new; a row already there is updated (attempts added, status, error) unless
it is already sent, so a replayed micro-batch, a second pass of the alerts job, or the stream and the job both
delivering the same alert leave one row. Reading it back gives the :class:`~lakewatch.alerts.policy.AlertState`
the policy starts from after a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.alerts.delivery import Outcome
from lakewatch.alerts.policy import FAILED, PENDING, SENT, SUPPRESSED, Alert, AlertState, from_micros
from lakewatch.schemas import OPS_ALERTS

STATE_COLUMNS = ("alert_id", "kind", "event_id", "series_id", "rule", "channel", "target", "severity", "status",
                 "reason")


def _event_start_micros() -> Column:
    """event_start as epoch microseconds: a collected timestamp would be a naive datetime in the local zone."""
    return F.unix_micros("event_start").alias("event_start_us")


def _utc(moment: datetime | None) -> datetime | None:
    """`moment` as an aware UTC datetime (PySpark stores an aware datetime by its instant; a naive one would be
    read in the driver's local zone); a naive `moment` is UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def outbox_rows(alerts: Sequence[Alert], outcomes: Mapping[str, Outcome], now: datetime) -> list[tuple]:
    """ops.alerts rows (OPS_ALERTS order) for `alerts`: suppressed ones as they are, the others with the outcome
    of their delivery (pending when not tried)."""
    rows = []
    for alert in alerts:
        outcome = outcomes.get(alert.alert_id)
        status = alert.status if alert.status == SUPPRESSED or outcome is None else outcome.status
        rows.append((
            alert.alert_id, alert.kind, alert.event_id, alert.series_id, alert.rule, alert.channel, alert.severity,
            status, outcome.attempts if outcome else 0, outcome.last_error if outcome else None, _utc(now),
            _utc(outcome.sent_at) if outcome else None, alert.target,
            bool(outcome.retriable) if outcome and status == FAILED else False, alert.reason or None,
            _utc(alert.event_start), json.dumps(dict(alert.payload), sort_keys=True), _utc(now)))
    return rows


def record(spark: SparkSession, location: str, rows: Sequence[tuple]) -> None:
    """MERGE `rows` into the outbox Delta table at `location` on alert_id: new ids inserted; known ids not yet sent
    take the new status, error, sent_at and retriable flag, and add the new attempts."""
    if not rows:
        return
    source = spark.createDataFrame(list(rows), OPS_ALERTS)
    target = DeltaTable.forPath(spark, location)
    (target.alias("t").merge(source.alias("s"), "t.alert_id = s.alert_id")
     .whenMatchedUpdate(condition=f"t.status <> '{SENT}' AND s.status <> '{SUPPRESSED}'", set={
         "status": "s.status", "attempts": "t.attempts + s.attempts", "last_error": "s.last_error",
         "sent_at": "s.sent_at", "retriable": "s.retriable", "updated_at": "s.updated_at"})
     .whenNotMatchedInsertAll()
     .execute())


def read_state(outbox: DataFrame, window_seconds: float) -> AlertState:
    """The policy's state from the outbox's rows (only the columns it needs reach the driver)."""
    state = AlertState()
    for row in outbox.select(*STATE_COLUMNS, _event_start_micros()).collect():
        state.add(Alert(row["alert_id"], row["kind"], row["event_id"], row["series_id"], row["rule"], row["channel"],
                        row["target"], row["severity"], row["status"], from_micros(row["event_start_us"]), {},
                        row["reason"] or ""),
                  window_seconds)
    return state


def redeliverable(outbox: DataFrame, max_attempts: int) -> list[Alert]:
    """Alerts of the outbox to try again: pending ones, and failed ones marked retriable with fewer than
    `max_attempts` attempts so far (a refusal for good, or a row out of attempts, stays failed)."""
    retry = (F.col("status") == FAILED) & F.col("retriable") & (F.col("attempts") < max_attempts)
    rows = outbox.select("*", _event_start_micros()).where((F.col("status") == PENDING) | retry).collect()
    return [Alert(r["alert_id"], r["kind"], r["event_id"], r["series_id"], r["rule"], r["channel"], r["target"],
                  r["severity"], PENDING, from_micros(r["event_start_us"]), json.loads(r["payload"]), r["reason"] or "")
            for r in rows]
