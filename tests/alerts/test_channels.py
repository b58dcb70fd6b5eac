"""Senders and delivery against real receivers on loopback: a recording HTTP server and an SMTP server with
STARTTLS and AUTH LOGIN."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import replace
from datetime import datetime

import pytest

from lakewatch.alerts.channels import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, make_senders
from lakewatch.alerts.delivery import deliver
from lakewatch.alerts.policy import FAILED, PENDING, SENT, AlertState, Event, plan
from lakewatch.alerts.rules import alerts_settings
from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from tests.alerts.receivers import http_receiver, smtp_receiver

SECRET = "hmac-test-secret"


@pytest.fixture(scope="module")
def receiver():
    with http_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def smtp(tmp_path_factory):
    with smtp_receiver(tmp_path_factory.mktemp("smtp")) as s:
        yield s


@pytest.fixture(autouse=True)
def _env(monkeypatch, smtp):
    monkeypatch.setenv("TEST_HOOK_SECRET", SECRET)
    monkeypatch.setenv("TEST_SMTP_USER", smtp.user)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", smtp.password)


def settings(receiver, smtp, *extra: str):
    channels = (f"alerts.channels={{hook: {{kind: webhook, url: '{receiver.url}/hook', secret_env: TEST_HOOK_SECRET}},"
                f" chat: {{kind: slack, url: '{receiver.url}/slack'}}, mail: {{kind: email, host: 127.0.0.1, "
                f"port: {smtp.port}, starttls: true, ca_file: '{smtp.cert}', username_env: TEST_SMTP_USER, "
                f"password_env: TEST_SMTP_PASSWORD, sender: lakewatch@example.com, to: [oncall@example.com]}}}}")
    return alerts_settings(load_config("local", [
        channels, "alerts.rules=[{name: r, channels: [hook, chat, mail]}]",
        "alerts.delivery={attempts: 3, backoff: 0.05 seconds, max_backoff: 0.1 seconds, max_time: 10 seconds}",
        *extra]))


def one_event(series: str = "pump-1") -> Event:
    t = datetime(2026, 1, 1)
    return Event(f"{abs(hash(series)):016x}"[:16], series, "value", t, t, t, 0.97, 3, False, "det", "v1")


def test_each_channel_delivers_with_its_key_signature_and_login(receiver, smtp):
    s = settings(receiver, smtp)
    alerts = plan([one_event()], s, AlertState())
    senders = make_senders(s)
    before = len(receiver.requests)
    outcomes = deliver(alerts, senders, s.delivery)
    assert {o.status for o in outcomes.values()} == {SENT}
    hook_alert = next(a for a in alerts if a.target == "hook")
    got = {r.path: r for r in receiver.requests[before:]}
    hook = got["/hook"]
    assert hook.headers[IDEMPOTENCY_HEADER] == hook_alert.alert_id
    expected_sig = "sha256=" + hmac.new(SECRET.encode(), hook.body, hashlib.sha256).hexdigest()
    assert hook.headers[SIGNATURE_HEADER] == expected_sig
    body = json.loads(hook.body)
    assert body["event"]["series_id"] == "pump-1" and body["alert_id"] == hook_alert.alert_id
    assert body["severity"] == "warning" and body["rule"] == "r"
    assert "pump-1/value" in json.loads(got["/slack"].body)["text"]
    mail = smtp.messages[-1]
    mail_alert = next(a for a in alerts if a.target == "mail")
    assert mail["Message-ID"] == f"<{mail_alert.alert_id}@lakewatch>"
    assert mail[IDEMPOTENCY_HEADER] == mail_alert.alert_id
    assert "pump-1" in mail["Subject"] and smtp.logins[-1] == "LOGIN"
    for sender in senders.values():
        sender.close()


def test_5xx_and_429_are_retried_with_backoff_but_a_4xx_is_refused_for_good(receiver, smtp):
    s = settings(receiver, smtp, "alerts.rules=[{name: r, channels: [hook]}]")
    senders = make_senders(s)
    receiver.statuses[:] = [503, 429]
    before = len(receiver.requests)
    (ok,) = deliver(plan([one_event("a")], s, AlertState()), senders, s.delivery).values()
    assert (ok.status, ok.attempts, ok.last_error) == (SENT, 3, None)
    assert len({r.headers[IDEMPOTENCY_HEADER] for r in receiver.requests[before:]}) == 1  # one key on every try
    receiver.statuses[:] = [400]
    (bad,) = deliver(plan([one_event("b")], s, AlertState()), senders, s.delivery).values()
    assert (bad.status, bad.attempts, bad.retriable) == (FAILED, 1, False)
    assert "HTTP 400" in bad.last_error
    receiver.statuses[:] = [500, 502, 503, 504]
    (down,) = deliver(plan([one_event("c")], s, AlertState()), senders, s.delivery).values()
    assert (down.status, down.attempts, down.retriable) == (FAILED, 3, True)
    assert "HTTP 503" in down.last_error
    receiver.statuses.clear()


def test_a_dead_receiver_costs_at_most_the_deadline_and_leaves_untried_alerts_pending(receiver, smtp):
    s = alerts_settings(load_config("local", [
        "alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:9/nothing-listens', timeout: 1 second}}",
        "alerts.rules=[{name: r, channels: hook}]",
        "alerts.delivery={attempts: 50, backoff: 0.3 seconds, max_backoff: 0.3 seconds, max_time: 1.5 seconds, "
        "parallel: 1}"]))
    alerts = plan([one_event(f"x{i}") for i in range(3)], s, AlertState())
    began = time.monotonic()
    outcomes = deliver(alerts, make_senders(s), s.delivery)
    assert time.monotonic() - began < 3
    first, *rest = (outcomes[a.alert_id] for a in alerts)
    assert first.status == FAILED and first.attempts > 1 and "ConnectError" in first.last_error
    assert all(o.retriable for o in outcomes.values())  # the alerts job tries them again later
    assert all(o.attempts < first.attempts for o in rest)
    late = deliver(alerts, make_senders(s), replace(s.delivery, max_time="0 seconds"))
    assert {(o.status, o.attempts) for o in late.values()} == {(PENDING, 0)}


def test_a_missing_secret_variable_is_a_config_error_naming_it(receiver, smtp, monkeypatch):
    monkeypatch.delenv("TEST_HOOK_SECRET")
    with pytest.raises(ConfigError, match=r"alerts\.channels\.hook\.secret_env: environment variable TEST_HOOK_SECRET"):
        make_senders(settings(receiver, smtp))


def test_wrong_smtp_password_is_a_permanent_failure(receiver, smtp, monkeypatch):
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong")
    s = settings(receiver, smtp, "alerts.rules=[{name: r, channels: [mail]}]")
    (out,) = deliver(plan([one_event("m")], s, AlertState()), make_senders(s), s.delivery).values()
    assert (out.status, out.attempts, out.retriable) == (FAILED, 1, False)
    assert "SMTP 535" in out.last_error
