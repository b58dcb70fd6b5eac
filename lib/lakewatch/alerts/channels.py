"""Senders, one per configured channel: a signed JSON webhook, a Slack incoming webhook, e-mail over SMTP.

Every sender takes an :class:`~lakewatch.alerts.policy.Alert` and either returns (delivered) or raises
:class:`DeliveryError`, which says whether trying again may help: network errors, timeouts, HTTP 408, 429 and 5xx,
and SMTP 4xx replies are worth a retry; any other HTTP 4xx, a redirect, or an SMTP 5xx reply is not.

Webhook requests carry ``Idempotency-Key: <alert_id>`` and ``X-Lakewatch-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body bytes under the secret from the variable ``secret_env`` names, so a receiver can
check the sender and drop a repeat. E-mail carries the key as its Message-ID and an ``Idempotency-Key`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from lakewatch.alerts.policy import KIND_EVENT, Alert
from lakewatch.alerts.rules import AlertsSettings, ChannelSpec
from lakewatch.errors import LakewatchError

SIGNATURE_HEADER = "X-Lakewatch-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
RETRIABLE_HTTP = frozenset({408, 429})


class DeliveryError(LakewatchError):
    """A notification was not delivered; ``retriable`` says whether another attempt may succeed."""

    def __init__(self, message: str, retriable: bool) -> None:
        super().__init__(message)
        self.retriable = retriable


class Sender(Protocol):
    """Delivers one alert or raises DeliveryError."""

    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


def body_bytes(payload: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a payload (sorted keys, no spaces): what is signed and sent."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The signature header value: 'sha256=' + hex HMAC-SHA256 of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def summary(alert: Alert) -> str:
    """One line for people: severity, rule, series and peak (or the digest's text)."""
    if alert.kind != KIND_EVENT:  # a digest, a failed scheduled task: their payload says it in words
        return f"[{alert.severity}] {alert.payload['text']}"
    event = alert.payload["event"]
    return (f"[{alert.severity}] {alert.rule}: anomaly on {event['series_id']}/{event['channel']} from "
            f"{event['start']} to {event['end']}, peak score {event['peak_score']:.3f} at {event['peak_at']} "
            f"({event['points']} points{', still open' if event['is_open'] else ''}; event {event['event_id']})")


def _check_http(response: httpx.Response, channel: str) -> None:
    code = response.status_code
    if 200 <= code < 300:
        return
    detail = f"{channel}: HTTP {code} {response.reason_phrase} from {response.request.url.host}: {response.text[:200]}"
    raise DeliveryError(detail, retriable=code >= 500 or code in RETRIABLE_HTTP)


class _HttpSender:
    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.url = spec.target_url()
        self.client = httpx.Client(timeout=spec.timeout_seconds, follow_redirects=False)

    def _post(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = self.client.post(self.url, content=body, headers={"Content-Type": "application/json",
                                                                          **headers})
        except httpx.HTTPError as exc:  # refused, reset, timed out: the receiver may be back soon
            raise DeliveryError(f"{self.spec.name}: {type(exc).__name__}: {exc}", retriable=True) from exc
        _check_http(response, self.spec.name)

    def close(self) -> None:
        self.client.close()


class WebhookSender(_HttpSender):
    """POSTs the alert's JSON payload, signed, with its idempotency key."""

    def __init__(self, spec: ChannelSpec) -> None:
        super().__init__(spec)
        self.secret = spec.secret("secret_env")

    def send(self, alert: Alert) -> None:
        """Deliver `alert` (DeliveryError when the receiver does not answer 2xx)."""
        body = body_bytes(alert.payload)
        headers = {IDEMPOTENCY_HEADER: alert.alert_id}
        if self.secret:
            headers[SIGNATURE_HEADER] = signature(self.secret, body)
        self._post(body, headers)


class SlackSender(_HttpSender):
    """POSTs a Slack incoming-webhook message ({"text": ...}) summarising the alert."""

    def send(self, alert: Alert) -> None:
        """Deliver `alert` as a Slack message."""
        self._post(body_bytes({"text": summary(alert)}), {IDEMPOTENCY_HEADER: alert.alert_id})


class EmailSender:
    """Sends a plain-text e-mail through SMTP, with STARTTLS and login when configured."""

    def __init__(self, spec: ChannelSpec) -> None:
        self.spec = spec
        self.username = spec.secret("username_env")
        self.password = spec.secret("password_env")

    def message(self, alert: Alert) -> EmailMessage:
        """The e-mail for `alert`: summary as subject, the payload as JSON in the body, the key as Message-ID."""
        msg = EmailMessage()
        msg["Subject"] = summary(alert)[:200]
        msg["From"] = self.spec.sender
        msg["To"] = ", ".join(self.spec.to)
        msg["Message-ID"] = f"<{alert.alert_id}@lakewatch>"
        msg[IDEMPOTENCY_HEADER] = alert.alert_id
        msg.set_content(summary(alert) + "\n\n" + json.dumps(alert.payload, indent=2, sort_keys=True) + "\n")
        return msg

    def send(self, alert: Alert) -> None:
        """Deliver `alert` (DeliveryError: SMTP 4xx and network errors retriable, 5xx not)."""
        spec = self.spec
        try:
            with smtplib.SMTP(spec.host, spec.port, timeout=spec.timeout_seconds) as smtp:
                if spec.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=spec.ca_file or None))
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(self.message(alert))
        except smtplib.SMTPResponseException as exc:
            text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"{spec.name}: SMTP {exc.smtp_code} {text}", retriable=400 <= exc.smtp_code < 500) \
                from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"{spec.name}: recipients refused: {exc.recipients}", retriable=False) from exc
        except ssl.SSLError as exc:
            raise DeliveryError(f"{spec.name}: TLS: {exc}", retriable=False) from exc
        except (TimeoutError, OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{spec.name}: {type(exc).__name__}: {exc}", retriable=True) from exc

    def close(self) -> None:
        """Nothing held between messages."""


SENDERS = {"webhook": WebhookSender, "slack": SlackSender, "email": EmailSender}


def make_senders(settings: AlertsSettings) -> dict[str, Sender]:
    """A sender per configured channel name; ConfigError when a variable a channel names is unset."""
    return {name: SENDERS[spec.kind](spec) for name, spec in settings.channels.items()}
