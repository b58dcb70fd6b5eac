"""The `alerts:` configuration (channels, rules, delivery, digest) and rule matching.

A rule names the series it watches (glob patterns, ``fnmatch`` style), the least peak score and duration an event
needs, its severity (one level, or levels by peak score, so an event whose peak rises can move up a level), a
cooldown per series, and the channels it notifies. Secrets (a webhook's signing key, a Slack URL, SMTP login) are
never in the YAML: a channel names the environment variable that holds each one.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from lakewatch.config import Fraction, LakewatchConfig, NonNegativeInt, PositiveInt, validated
from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import parse_duration

SECTION = "alerts"
SEVERITY_LEVELS = ("info", "warning", "error", "critical")  # lowest first
CHANNEL_KINDS = ("webhook", "slack", "email")


def _one_or_many(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


Names = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]  # a list, or one name as a plain string


def severity_rank(level: str) -> int:
    """The position of `level` in SEVERITY_LEVELS (higher is more severe)."""
    return SEVERITY_LEVELS.index(level)


@dataclass(frozen=True)
class ChannelSpec:
    """One notification target. ``kind`` webhook (``url`` or ``url_env``; ``secret_env`` signs the body), slack
    (``url_env``: an incoming-webhook URL is a secret) or email (``host``, ``port``, ``sender``, ``to``;
    ``starttls``, with ``ca_file`` to trust a private CA; ``username_env`` and ``password_env`` for SMTP login)."""

    name: str
    kind: Literal["webhook", "slack", "email"]
    url: str = ""
    url_env: str = ""
    secret_env: str = ""
    host: str = ""
    port: PositiveInt = 25
    starttls: bool = False
    username_env: str = ""
    password_env: str = ""
    sender: str = ""
    to: Names = ()
    ca_file: str = ""
    timeout: str = "5 seconds"

    def __post_init__(self) -> None:
        where = f"alerts.channels.{self.name}"
        parse_duration(self.timeout, f"{where}.timeout")
        if self.kind == "webhook" and bool(self.url) == bool(self.url_env):
            raise ConfigError(f"{where}: a webhook needs exactly one of url or url_env (found url={self.url!r}, "
                              f"url_env={self.url_env!r})")
        if self.kind == "slack" and not (self.url_env or self.url):
            raise ConfigError(f"{where}: a slack channel needs url_env (the variable holding the incoming-webhook URL)")
        if self.kind == "email" and not (self.host and self.sender and self.to):
            raise ConfigError(f"{where}: an email channel needs host, sender and to (found host={self.host!r}, "
                              f"sender={self.sender!r}, to={list(self.to)!r})")
        if self.kind == "email" and bool(self.username_env) != bool(self.password_env):
            raise ConfigError(f"{where}: SMTP login needs both username_env and password_env")

    @property
    def timeout_seconds(self) -> float:
        """The per-request timeout in seconds."""
        return parse_duration(self.timeout, f"alerts.channels.{self.name}.timeout")

    def secret(self, attribute: str, required: bool = True) -> str:
        """The value of the environment variable named by `attribute` (e.g. 'secret_env'); ConfigError naming the
        channel and the variable when it is unset or empty and `required`."""
        variable = getattr(self, attribute)
        if not variable:
            return ""
        value = os.environ.get(variable, "")
        if not value and required:
            raise ConfigError(f"alerts.channels.{self.name}.{attribute}: environment variable {variable} is not set; "
                              f"expected it to hold the channel's {attribute.removesuffix('_env')}")
        return value

    def target_url(self) -> str:
        """The URL a webhook or Slack channel posts to (from `url` or the variable `url_env` names)."""
        return self.url or self.secret("url_env")


@dataclass(frozen=True)
class Rule:
    """Which events notify whom: `series` globs, least peak score and duration, severity, cooldown, channels.

    ``severity`` is one level for every match, or levels by least peak score ({warning: 0.9, critical: 0.99}).
    """

    name: str
    channels: Names
    series: Names = ("*",)
    min_peak_score: Fraction = 0.0
    min_duration: str = "0 seconds"
    severity: str | Mapping[str, Fraction] = "warning"
    cooldown: str = "0 seconds"

    def __post_init__(self) -> None:
        where = f"alerts.rules.{self.name}"
        parse_duration(self.min_duration, f"{where}.min_duration")
        parse_duration(self.cooldown, f"{where}.cooldown")
        levels = [self.severity] if isinstance(self.severity, str) else list(self.severity)
        bad = [level for level in levels if level not in SEVERITY_LEVELS]
        if bad or not levels:
            raise ConfigError(f"{where}.severity={self.severity!r}: expected one of {list(SEVERITY_LEVELS)} or a "
                              "mapping of those levels to least peak scores")
        if not self.channels:
            raise ConfigError(f"{where}.channels: empty; expected at least one channel name")

    @property
    def min_duration_seconds(self) -> float:
        """The least event duration (end - start) in seconds."""
        return parse_duration(self.min_duration, "min_duration")

    @property
    def cooldown_seconds(self) -> float:
        """Event time after an alerted event's start during which a new event of the same series is suppressed."""
        return parse_duration(self.cooldown, "cooldown")

    def matches_series(self, series_id: str) -> bool:
        """Whether `series_id` matches one of the rule's globs."""
        return any(fnmatch.fnmatchcase(series_id, pattern) for pattern in self.series)

    def severity_of(self, peak_score: float) -> str | None:
        """The severity of an event with this peak under this rule (None below every level's score)."""
        if isinstance(self.severity, str):
            return self.severity
        reached = [level for level, least in self.severity.items() if peak_score >= least]
        return max(reached, key=severity_rank) if reached else None

    def evaluate(self, series_id: str, start: datetime, end: datetime, peak_score: float) -> str | None:
        """The severity this rule gives the event, or None when the event does not match it."""
        if not self.matches_series(series_id) or peak_score < self.min_peak_score:
            return None
        if (end - start).total_seconds() < self.min_duration_seconds:
            return None
        return self.severity_of(peak_score)


@dataclass(frozen=True)
class DeliverySettings:
    """Retries: up to `attempts` tries per alert and pass, exponential backoff from `backoff` to `max_backoff`, and
    at most `max_time` for all the alerts of one pass (what is left untried stays pending for the alerts job);
    `parallel` alerts at once. The alerts job tries a retriable failure again until it has `max_attempts` in all."""

    attempts: PositiveInt = 4
    max_attempts: PositiveInt = 12
    backoff: str = "0.5 seconds"
    max_backoff: str = "5 seconds"
    max_time: str = "20 seconds"
    parallel: PositiveInt = 8

    def seconds(self, name: str) -> float:
        """The duration field `name` in seconds."""
        return parse_duration(getattr(self, name), f"alerts.delivery.{name}")


@dataclass(frozen=True)
class DigestSettings:
    """When more than `max_events` events of one rule start within one `window` of event time, the rest are
    recorded as suppressed and one digest per channel and window says so (0 = no digest)."""

    max_events: NonNegativeInt = 20
    window: str = "10 minutes"

    @property
    def window_seconds(self) -> float:
        """The digest window in seconds."""
        return parse_duration(self.window, "alerts.digest.window")


@dataclass(frozen=True)
class _RawAlerts:
    enabled: bool = False
    channels: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    rules: Sequence[Mapping[str, Any]] = ()
    delivery: Mapping[str, Any] = field(default_factory=dict)
    digest: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = "processingTime=30 seconds"
    failure_channels: Sequence[str] = ()
    drift_channels: Sequence[str] = ()
    send_from: Literal["operator", "batch"] = "operator"


@dataclass(frozen=True)
class AlertsSettings:
    """The resolved `alerts:` section. ``enabled``: the score stream notifies from inside its micro-batches."""

    enabled: bool
    channels: Mapping[str, ChannelSpec]
    rules: tuple[Rule, ...]
    delivery: DeliverySettings
    digest: DigestSettings
    trigger: str
    failure_channels: tuple[str, ...] = ()  # told when a scheduled task fails for good (lakewatch.workflows)
    drift_channels: tuple[str, ...] = ()  # told of each retrain request a drift run opens (lakewatch.alerts.drift)
    send_from: str = "operator"  # the stream's first send: operator (lakewatch.alerts.operator) | batch (driver only)

    def channel(self, name: str) -> ChannelSpec:
        """The channel called `name` (rules are checked to name known channels on load)."""
        return self.channels[name]


def alerts_settings(config: LakewatchConfig) -> AlertsSettings:
    """The `alerts:` section of `config` as AlertsSettings; ConfigError naming the key for anything malformed, a
    rule naming an unknown channel, or two rules with one name."""
    raw = config.settings(SECTION, _RawAlerts)
    channels = {name: validated(ChannelSpec, spec, f"{SECTION}.channels.{name}", name=str(name))
                for name, spec in raw.channels.items()}
    rules = []
    for i, spec in enumerate(raw.rules):
        if not isinstance(spec, Mapping) or not spec.get("name"):
            raise ConfigError(f"{SECTION}.rules[{i}]: expected a mapping with a name, found {spec!r}")
        rule = validated(Rule, spec, f"{SECTION}.rules.{spec['name']}")
        unknown = [c for c in rule.channels if c not in channels]
        if unknown:
            raise ConfigError(f"{SECTION}.rules.{rule.name}.channels: unknown {unknown}; expected some of "
                              f"{sorted(channels)}")
        if any(r.name == rule.name for r in rules):
            raise ConfigError(f"{SECTION}.rules: two rules called {rule.name!r}; expected unique names")
        rules.append(rule)
    for key in ("failure_channels", "drift_channels"):
        unknown = [c for c in getattr(raw, key) if c not in channels]
        if unknown:
            raise ConfigError(f"{SECTION}.{key}: unknown {unknown}; expected some of {sorted(channels)}")
    settings = AlertsSettings(raw.enabled, channels, tuple(rules),
                              validated(DeliverySettings, raw.delivery, f"{SECTION}.delivery"),
                              validated(DigestSettings, raw.digest, f"{SECTION}.digest"), raw.trigger,
                              tuple(raw.failure_channels), tuple(raw.drift_channels), raw.send_from)
    for name in ("backoff", "max_backoff", "max_time"):
        settings.delivery.seconds(name)
    settings.digest.window_seconds  # noqa: B018 - parse now, so a bad window fails on load
    return settings
