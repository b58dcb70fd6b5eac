"""Delivering alerts with retries (tenacity): exponential backoff, no retry of a permanent refusal, and one deadline
for a whole pass so a dead receiver cannot hold the stream's micro-batch for long.

Alerts go out in parallel (a thread pool; each sender is thread-safe: httpx clients are, SMTP opens a connection per
message). An alert that was never tried before the deadline stays pending; one whose tries ran out is failed, with
its last error and whether a later pass may retry it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from lakewatch.alerts.channels import DeliveryError, Sender
from lakewatch.alerts.policy import FAILED, PENDING, SENT, Alert
from lakewatch.alerts.rules import DeliverySettings


@dataclass(frozen=True)
class Outcome:
    """What delivering one alert came to."""

    alert_id: str
    status: str  # sent | failed | pending (not tried before the deadline)
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    retriable: bool
    seconds: float


def _retriable(exc: BaseException) -> bool:
    return isinstance(exc, DeliveryError) and exc.retriable


def deliver_one(alert: Alert, sender: Sender, settings: DeliverySettings, deadline: float) -> Outcome:
    """Try `alert` on `sender` until it is delivered, refused for good, out of attempts, or the next wait would
    pass `deadline` (time.monotonic()); exceptions other than DeliveryError count as retriable failures."""
    began = time.monotonic()
    if began >= deadline:
        return Outcome(alert.alert_id, PENDING, 0, None, None, True, 0.0)

    def past_deadline(state: RetryCallState) -> bool:
        return time.monotonic() + (state.upcoming_sleep or 0.0) >= deadline

    retrying = Retrying(
        stop=stop_after_attempt(settings.attempts) | past_deadline,
        wait=wait_exponential(multiplier=settings.seconds("backoff"), max=settings.seconds("max_backoff")),
        retry=retry_if_exception(lambda exc: _retriable(exc) or not isinstance(exc, DeliveryError)),
        reraise=True)
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        sender.send(alert)

    try:
        retrying(attempt)
    except DeliveryError as exc:
        return Outcome(alert.alert_id, FAILED, attempts, str(exc)[:1000], None, exc.retriable,
                       time.monotonic() - began)
    except Exception as exc:  # a sender's bug or an unexpected library error: recorded, the job goes on
        return Outcome(alert.alert_id, FAILED, attempts, f"{type(exc).__name__}: {exc}"[:1000], None, True,
                       time.monotonic() - began)
    return Outcome(alert.alert_id, SENT, attempts, None, datetime.now(UTC), False, time.monotonic() - began)


def deliver(alerts: Sequence[Alert], senders: Mapping[str, Sender], settings: DeliverySettings) -> dict[str, Outcome]:
    """Deliver `alerts` (each to the sender of its target) in parallel, within settings.max_time; returns the
    outcome of each by alert id."""
    if not alerts:
        return {}
    deadline = time.monotonic() + settings.seconds("max_time")
    with ThreadPoolExecutor(max_workers=min(settings.parallel, len(alerts)),
                            thread_name_prefix="lakewatch-alert") as pool:
        futures = [pool.submit(deliver_one, alert, senders[alert.target], settings, deadline) for alert in alerts]
        return {outcome.alert_id: outcome for outcome in (f.result() for f in futures)}
