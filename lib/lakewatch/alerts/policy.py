"""Which event versions become notifications: rules, once per severity, cooldown and digest.

Pure Python over :class:`Event` values and an :class:`AlertState` (what ops.alerts already holds), so the stream's
micro-batch hook and the alerts job decide alike, and the rules are tested without Spark.

- One alert per (event, rule, channel) and severity: its ``alert_id`` hashes those four, so an event that grows
  (its end moves, its peak rises) at the same severity makes the same id, which is already recorded: nothing is
  sent. A higher severity is a new id and notifies again; a lower one never does.
- Cooldown (per series and rule, in event time): a new event of a series starting less than ``cooldown`` after the
  start of the series' last notified event is recorded as suppressed.
- Digest (per rule, in event time windows): once more than ``digest.max_events`` events of a rule started within
  one window, further events are recorded as suppressed and one digest alert per channel says so.
- Per-series thresholds and budget (a lakewatch.thresholds.current.ThresholdBook, when given): an event whose peak
  is below its series' current threshold matches no rule (yet: it notifies once its peak reaches it); once
  ``budget_per_week`` events of a series were notified in an ISO week, further events of that week are recorded
  as suppressed (reason budget). An event peaking at or above the book's ceiling passes both.

Event time, not the wall clock, decides cooldown and digest: a micro-batch replayed after a crash then decides
exactly as the first time, and backfilled history is judged by when things happened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lakewatch.alerts.rules import AlertsSettings, Rule, severity_rank
from lakewatch.event_ids import start_micros

if TYPE_CHECKING:
    from lakewatch.thresholds.current import ThresholdBook

KIND_EVENT = "event"
KIND_DIGEST = "digest"
PENDING, SENT, FAILED, SUPPRESSED = "pending", "sent", "failed", "suppressed"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    """One version of a gold.anomalies event, with its event id (lakewatch.event_ids)."""

    event_id: str
    series_id: str
    channel: str
    start: datetime
    end: datetime
    peak_at: datetime
    peak_score: float
    points: int
    is_open: bool
    detector: str
    model_version: str

    def to_json(self) -> dict[str, Any]:
        """The event as JSON-ready values (times as ISO 8601 UTC)."""
        return {"event_id": self.event_id, "series_id": self.series_id, "channel": self.channel,
                "start": _iso(self.start), "end": _iso(self.end), "peak_at": _iso(self.peak_at),
                "peak_score": self.peak_score, "points": self.points, "is_open": self.is_open,
                "detector": self.detector, "model_version": self.model_version}


@dataclass(frozen=True)
class Alert:
    """A notification decided for one channel: to send (``status`` pending) or recorded as suppressed."""

    alert_id: str
    kind: str
    event_id: str | None
    series_id: str | None
    rule: str
    channel: str  # the channel's kind: webhook | slack | email
    target: str  # the channel's name in alerts.channels
    severity: str
    status: str
    event_start: datetime  # the event's start; a digest's window start
    payload: Mapping[str, Any]
    reason: str = ""  # why suppressed: cooldown | digest


def alert_id(event_id: str, rule: str, target: str, severity: str) -> str:
    """The idempotency key of an event alert: 32 hex digits of SHA-256 over event, rule, channel and severity."""
    return _hash("event", event_id, rule, target, severity)


def digest_id(rule: str, target: str, window_start: datetime) -> str:
    """The idempotency key of the digest of `rule` on `target` for the window starting at `window_start`."""
    return _hash("digest", rule, target, str(start_micros(window_start)))


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:32]


def _iso(moment: datetime) -> str:
    return _utc(moment).isoformat().replace("+00:00", "Z")


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def from_micros(micros: int) -> datetime:
    """Epoch microseconds as an aware UTC datetime (exact)."""
    return EPOCH + timedelta(microseconds=int(micros))


def window_start(start: datetime, window_seconds: float) -> datetime:
    """The start of the event-time window (of `window_seconds`, aligned on the epoch) holding `start`."""
    micros = start_micros(_utc(start))
    size = max(int(window_seconds * 1_000_000), 1)
    return EPOCH + timedelta(microseconds=micros - micros % size)


@dataclass
class AlertState:
    """What the outbox already holds, as the policy needs it (built from ops.alerts rows, then kept up to date)."""

    recorded: set[str] = field(default_factory=set)
    severity: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (event, rule, target) -> top rank
    matched: dict[tuple[str, str], str] = field(default_factory=dict)  # (event, rule) -> why suppressed ('' = not)
    last_notified: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (series, rule) -> event start
    window_events: dict[tuple[str, datetime], set[str]] = field(default_factory=dict)  # (rule, window) -> events
    week_notified: dict[tuple[str, datetime], set[str]] = field(default_factory=dict)  # (series, week) -> events

    def add(self, alert: Alert, window_seconds: float) -> None:
        """Take `alert` (decided now, or read back from ops.alerts) into the state."""
        self.recorded.add(alert.alert_id)
        if alert.kind != KIND_EVENT or alert.event_id is None:
            return
        key = (alert.event_id, alert.rule, alert.target)
        self.severity[key] = max(self.severity.get(key, -1), severity_rank(alert.severity))
        self.matched.setdefault((alert.event_id, alert.rule), alert.reason if alert.status == SUPPRESSED else "")
        start = _utc(alert.event_start)
        self.window_events.setdefault((alert.rule, window_start(start, window_seconds)), set()).add(alert.event_id)
        if alert.status != SUPPRESSED and alert.series_id is not None:
            self.week_notified.setdefault((alert.series_id, week_start(start)), set()).add(alert.event_id)
            series = (alert.series_id, alert.rule)
            if series not in self.last_notified or start > self.last_notified[series]:
                self.last_notified[series] = start


def week_start(start: datetime) -> datetime:
    """Monday 00:00 UTC of the ISO week holding `start` (the alert budget's week)."""
    day = _utc(start).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def event_payload(alert_key: str, rule: Rule, severity: str, event: Event) -> dict[str, Any]:
    """The JSON body of an event alert (deterministic: a resend carries the same bytes and signature)."""
    return {"alert_id": alert_key, "kind": KIND_EVENT, "rule": rule.name, "severity": severity,
            "event": event.to_json()}


def event_alert(event: Event, rule: Rule, target: str, severity: str, settings: AlertsSettings,
                status: str = PENDING, reason: str = "") -> Alert:
    """The alert of `event` under `rule` to channel `target` at `severity`: its id and (deterministic) body."""
    key = alert_id(event.event_id, rule.name, target, severity)
    return Alert(key, KIND_EVENT, event.event_id, event.series_id, rule.name, settings.channel(target).kind, target,
                 severity, status, _utc(event.start), event_payload(key, rule, severity, event), reason)


def plan(events: Iterable[Event], settings: AlertsSettings, state: AlertState,
         book: ThresholdBook | None = None) -> list[Alert]:
    """The alerts to record for these event versions under `settings`, given `state` and the per-series thresholds
    and budget of `book` (None: neither); `state` takes them in.

    Events are taken in (start, event id) order so the same input always gives the same decisions.
    """
    alerts: list[Alert] = []
    window_s = settings.digest.window_seconds
    for event in sorted(events, key=lambda e: (_utc(e.start), e.event_id)):
        ungated = book is None or not book.enabled or event.peak_score >= book.ceiling  # no threshold, no budget
        if not ungated and event.peak_score < book.threshold(event.series_id, event.channel, event.detector):
            continue
        for rule in settings.rules:
            severity = rule.evaluate(event.series_id, _utc(event.start), _utc(event.end), event.peak_score)
            if severity is None:
                continue
            matched = state.matched.get((event.event_id, rule.name))
            if matched == "budget" and book is not None and event.peak_score >= book.ceiling:
                matched = None  # grew past the ceiling: the budget no longer holds it back
            # An event keeps the decision of its first match: a suppressed one stays suppressed as it grows.
            reason = matched if matched is not None else _suppression(event, rule, settings, state, alerts,
                                                                      None if ungated else book)
            for target in rule.channels:
                known = state.severity.get((event.event_id, rule.name, target), -1)
                if severity_rank(severity) <= known:
                    continue  # grew without a higher severity
                alert = event_alert(event, rule, target, severity, settings, SUPPRESSED if reason else PENDING,
                                    reason)
                alerts.append(alert)
                state.add(alert, window_s)
    return alerts


def _suppression(event: Event, rule: Rule, settings: AlertsSettings, state: AlertState,
                 alerts: list[Alert], book: ThresholdBook | None = None) -> str:
    """Why a first match of `event` under `rule` is not sent ('' = send); appends a digest when one is due.
    `book` (None for an event at or above the ceiling) holds the alert budget per series and week."""
    start = _utc(event.start)
    last = state.last_notified.get((event.series_id, rule.name))
    if last is not None and last <= start < last + timedelta(seconds=rule.cooldown_seconds):
        return "cooldown"
    if book is not None:
        notified = state.week_notified.get((event.series_id, week_start(start)), set())
        if event.event_id not in notified and len(notified) >= book.budget_per_week:
            return "budget"
    limit = settings.digest.max_events
    if not limit:
        return ""
    window = window_start(start, settings.digest.window_seconds)
    seen = state.window_events.get((rule.name, window), set())
    if len(seen) < limit:
        return ""
    for target in rule.channels:
        key = digest_id(rule.name, target, window)
        if key not in state.recorded:
            payload = {"alert_id": key, "kind": KIND_DIGEST, "rule": rule.name, "window_start": _iso(window),
                       "window": settings.digest.window, "events": len(seen) + 1,
                       "text": f"more than {limit} events of rule {rule.name} started in the {settings.digest.window}"
                               f" from {_iso(window)}; further events of this window are recorded in ops.alerts "
                               "as suppressed"}
            digest = Alert(key, KIND_DIGEST, None, None, rule.name, settings.channel(target).kind, target,
                           rule.severity_of(1.0) or "warning", PENDING, window, payload, "")
            alerts.append(digest)
            state.add(digest, settings.digest.window_seconds)
    return "digest"
