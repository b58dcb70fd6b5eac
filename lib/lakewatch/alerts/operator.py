"""Alerts sent from inside the stateful operator: the Python function applyInPandasWithState runs per series sends an
event's notification the moment it flags the event (or its severity rises), before the micro-batch's output
reaches the driver.

Only decisions that need nothing but the series' own event are taken here: the rules (series glob, least peak,
least duration, severity by peak), the severity rise (against the event's previous version, kept in the series'
state) and the per-series threshold. The others need history or other series and stay with the driver
(:mod:`lakewatch.alerts.notifier`, which still decides and records every alert of the batch):

- the digest counts every series' events of a rule in a window (other series live in other tasks): with a digest
  (``alerts.digest.max_events`` > 0) nothing is sent from the operator;
- a rule's cooldown needs the series' last notified event, which ops.alerts holds (the alerts job writes it too):
  a rule with a cooldown is left to the driver;
- the alert budget counts a series' notified events of the week in ops.alerts: an event below the thresholds'
  ceiling (which the budget may hold back) is left to the driver; one at or above it is sent here.

Each send is one attempt: a failure (or a channel the worker saw fail within ``RETRY_CHANNEL_AFTER_S``) leaves the
alert to the driver, which delivers it with retries in the same micro-batch. What happened travels to the driver in
the event row's ``detail`` (:func:`outcome_json`) and the driver records it in ops.alerts. A batch replayed after a
crash sends again with the same Idempotency-Key (the alert id: event id, rule, channel, severity), which the
receiver drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lakewatch.alerts.channels import Sender, make_senders
from lakewatch.alerts.delivery import Outcome, deliver_one
from lakewatch.alerts.policy import PENDING, SENT, Alert, Event, event_alert, from_micros
from lakewatch.alerts.rules import AlertsSettings, ChannelSpec, Rule, severity_rank
from lakewatch.event_ids import event_id
from lakewatch.streaming.state import OpenEvent

RETRY_CHANNEL_AFTER_S = 30.0  # a channel that failed in this worker is left to the driver for this long

# The senders a Python worker made, for the life of the process: OperatorAlerts arrives unpickled with every task,
# and a sender made per task meant a new HTTP client per task, whose TLS context alone takes 20-150 ms to build
# (8 % of a low-latency stream's worker samples under py-spy; BENCHMARKS.md, "Session 25").
_PROCESS_SENDERS: dict[ChannelSpec, Sender] = {}


def _event(series_id: str, channel: str, version: OpenEvent, is_open: bool, detector: str,
           model_version: str) -> Event:
    """The policy's Event for one version of an open/closed event (as the driver reads it from gold.anomalies)."""
    start_us = version.start_ns // 1000
    return Event(event_id(series_id, channel, start_us, detector, model_version), series_id, channel,
                 from_micros(start_us), from_micros(version.end_ns // 1000), from_micros(version.peak_ns // 1000),
                 float(version.peak_score), int(version.points), bool(is_open), detector, model_version)


def outcome_json(outcome: Outcome, alert: Alert) -> dict[str, Any]:
    """What the driver needs of one operator send (in the event row's detail, key ``alerts``)."""
    return {"alert_id": outcome.alert_id, "rule": alert.rule, "target": alert.target, "severity": alert.severity,
            "status": outcome.status, "attempts": outcome.attempts, "error": outcome.last_error,
            "retriable": outcome.retriable,
            "sent_us": int(outcome.sent_at.timestamp() * 1_000_000) if outcome.sent_at is not None else None}


def outcome_from_json(item: Mapping[str, Any]) -> Outcome:
    """Inverse of :func:`outcome_json` (the Outcome part)."""
    sent = from_micros(item["sent_us"]) if item.get("sent_us") is not None else None
    return Outcome(item["alert_id"], item["status"], int(item["attempts"]), item.get("error"), sent,
                   bool(item.get("retriable")), 0.0)


@dataclass
class OperatorAlerts:
    """The alert decisions and sends the stateful operator can make on its own (see the module's docstring).

    Pickled with the scoring function to the Python workers; the senders are made there, on first use and once per
    worker process (``_PROCESS_SENDERS``), from the channels' environment variables (a worker without a channel's
    secret leaves that channel to the driver).
    """

    settings: AlertsSettings
    detector: str
    model_version: str
    _down_until: dict[str, float] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "detector": self.detector, "model_version": self.model_version,
                "_down_until": {}}

    @property
    def active(self) -> bool:
        """Whether any alert can be sent from the operator: no digest, and a rule without a cooldown."""
        return not self.settings.digest.max_events and bool(self.rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules the operator decides (no cooldown)."""
        return tuple(r for r in self.settings.rules if r.cooldown_seconds == 0)

    def decide(self, series_id: str, channel: str, version: OpenEvent, is_open: bool, previous: OpenEvent | None,
               ceiling: float | None = None) -> list[Alert]:
        """The alerts to send now for this version of an event, given its `previous` version (None: new in this
        batch). `ceiling` is the per-series thresholds' (None: thresholds off): a peak below it may be held back by
        the series' threshold or its weekly budget, so it is left to the driver (as is an event whose previous
        version was below it: the driver may have sent or suppressed that one); a peak at or above it passes both,
        as in :func:`lakewatch.alerts.policy.plan`."""
        if not self.active:
            return []
        gated = ceiling is not None

        def passes(event: OpenEvent) -> bool:
            return not gated or event.peak_score >= ceiling

        if not passes(version) or (previous is not None and not passes(previous)):
            return []  # the threshold or the budget (history in ops.alerts) may decide it: the driver does
        event = _event(series_id, channel, version, is_open, self.detector, self.model_version)
        before = _event(series_id, channel, previous, True, self.detector, self.model_version) if previous else None
        alerts = []
        for rule in self.rules:
            severity = rule.evaluate(series_id, event.start, event.end, event.peak_score)
            if severity is None:
                continue
            earlier = rule.evaluate(series_id, before.start, before.end, before.peak_score) if before else None
            if earlier is not None and severity_rank(severity) <= severity_rank(earlier):
                continue  # grew without a higher severity: sent (or decided) before
            alerts.extend(event_alert(event, rule, target, severity, self.settings) for target in rule.channels)
        return alerts

    def send(self, alerts: list[Alert], clock: Callable[[], float] = time.monotonic) -> list[dict[str, Any]]:
        """Send each alert once (no retry: the driver retries what fails); their outcomes as :func:`outcome_json`.
        A channel whose sender cannot be made, or that failed within RETRY_CHANNEL_AFTER_S, is skipped."""
        results = []
        for alert in alerts:
            sender = self._sender(alert.target, clock)
            if sender is None:
                outcome = Outcome(alert.alert_id, PENDING, 0, None, None, True, 0.0)
            else:
                settings = replace(self.settings.delivery, attempts=1)
                outcome = deliver_one(alert, sender, settings, time.monotonic() + settings.seconds("max_time"))
                if outcome.status != SENT:
                    self._down_until[alert.target] = clock() + RETRY_CHANNEL_AFTER_S
            results.append(outcome_json(outcome, alert))
        return results

    def _sender(self, target: str, clock: Callable[[], float]) -> Sender | None:
        if self._down_until.get(target, 0.0) > clock():
            return None
        spec = self.settings.channel(target)
        if spec not in _PROCESS_SENDERS:
            try:
                _PROCESS_SENDERS[spec] = make_senders(_only(self.settings, target))[target]
            except Exception:  # e.g. the secret's variable unset in this worker: the driver sends instead
                self._down_until[target] = clock() + RETRY_CHANNEL_AFTER_S
                return None
        return _PROCESS_SENDERS[spec]


def _only(settings: AlertsSettings, target: str) -> AlertsSettings:
    return replace(settings, channels={target: settings.channel(target)})

