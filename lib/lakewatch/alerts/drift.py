"""Drift alerts: every retrain request a drift run opens (lakewatch.drift.decisions.new_requests) goes out once
through the channels ``alerts.drift_channels`` names, as an alert of kind ``drift``, recorded in ops.alerts.

Rules, cooldown and digest do not apply: a request is already the decision "this series drifted for N windows in a
row", and drift opens at most one open request per series and channel. The alert id (the Idempotency-Key a
receiver sees, and the outbox's key) is derived from the request id and the channel, so sending the requests of a
run twice records and sends nothing new; a delivery that failed stays in the outbox for the alerts job's redelivery
like any other alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakewatch.alerts.channels import SENDERS
from lakewatch.alerts.delivery import deliver
from lakewatch.alerts.notifier import NotifyReport, ensure_outbox
from lakewatch.alerts.outbox import outbox_rows, record
from lakewatch.alerts.policy import PENDING, Alert, from_micros
from lakewatch.alerts.rules import AlertsSettings
from lakewatch.config import LakewatchConfig

KIND_DRIFT = "drift"
RULE = "drift"
SEVERITY = "warning"


@dataclass(frozen=True)
class DriftRequest:
    """One ops.retrain_requests row, as an alert needs it."""

    request_id: str
    series_id: str
    channel: str
    window_end: datetime
    windows: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The request as JSON-ready values (window_end as ISO 8601 UTC)."""
        return {"request_id": self.request_id, "series_id": self.series_id, "channel": self.channel,
                "window_end": self.window_end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "windows": self.windows, "reason": self.reason}


def requests_from(df: DataFrame) -> list[DriftRequest]:
    """DriftRequests from ops.retrain_requests rows (few: one per drifted series); window_end travels as epoch
    microseconds, so the driver's time zone plays no part."""
    rows = df.select("request_id", "series_id", "channel", F.unix_micros("window_end").alias("window_end_us"),
                     "windows", "reason").orderBy("series_id", "channel", "request_id").collect()
    return [DriftRequest(r["request_id"], r["series_id"], r["channel"], from_micros(r["window_end_us"]),
                         int(r["windows"]), r["reason"]) for r in rows]


def drift_alert_id(request_id: str, target: str) -> str:
    """The idempotency key of the drift alert of request `request_id` on channel `target` (32 hex digits)."""
    return hashlib.sha256(f"{KIND_DRIFT}|{request_id}|{target}".encode()).hexdigest()[:32]


def drift_alerts(requests: Sequence[DriftRequest], settings: AlertsSettings) -> list[Alert]:
    """One pending alert per request and channel of ``settings.drift_channels`` (none when it is empty)."""
    alerts = []
    for request in requests:
        text = (f"drift on {request.series_id}/{request.channel}: {request.reason}; retrain request "
                f"{request.request_id} is open (./spark-submit.sh retrain)")
        for target in settings.drift_channels:
            key = drift_alert_id(request.request_id, target)
            payload = {"alert_id": key, "kind": KIND_DRIFT, "rule": RULE, "severity": SEVERITY, "text": text,
                       "request": request.to_json()}
            alerts.append(Alert(key, KIND_DRIFT, None, request.series_id, RULE, settings.channel(target).kind,
                                target, SEVERITY, PENDING, request.window_end, payload))
    return alerts


def notify_drift(spark: SparkSession, config: LakewatchConfig, settings: AlertsSettings,
                 requests: DataFrame) -> NotifyReport:
    """Send the drift alerts of `requests` (ops.retrain_requests rows) that ops.alerts does not hold yet, and
    record every one in the outbox; returns what was sent (``events`` = requests seen). Nothing is read or sent
    when ``alerts.drift_channels`` is empty."""
    report = NotifyReport()
    if not settings.drift_channels:
        return report
    found = requests_from(requests)
    report.events = len(found)
    alerts = drift_alerts(found, settings)
    if not alerts:
        return report
    location = ensure_outbox(spark, config)
    ids = [a.alert_id for a in alerts]
    known = {r["alert_id"] for r in spark.read.format("delta").load(location)
             .where(F.col("alert_id").isin(ids)).select("alert_id").collect()}
    fresh = [a for a in alerts if a.alert_id not in known]
    if not fresh:
        return report
    senders = {name: SENDERS[settings.channel(name).kind](settings.channel(name)) for name in settings.drift_channels}
    try:
        outcomes = deliver(fresh, senders, settings.delivery)
    finally:
        for sender in senders.values():
            sender.close()
    rows = outbox_rows(fresh, outcomes, datetime.now(UTC))
    for row in rows:
        report.statuses[row[7]] = report.statuses.get(row[7], 0) + 1
    report.sent_at = [o.sent_at.timestamp() for o in outcomes.values() if o.sent_at is not None]
    record(spark, location, rows)
    return report
