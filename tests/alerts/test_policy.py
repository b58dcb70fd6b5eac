"""Rules and policy without Spark: matching, once per severity, cooldown and digest, and config errors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lakewatch.alerts.policy import PENDING, SUPPRESSED, AlertState, Event, alert_id, plan
from lakewatch.alerts.rules import alerts_settings
from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from lakewatch.event_ids import event_id

T0 = datetime(2026, 1, 1, 0, 0)
CHANNELS = "alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:9/x'}, mail: {kind: email, " \
           "host: 127.0.0.1, sender: a@b.c, to: x@y.z}}"


def settings(*overrides: str):
    return alerts_settings(load_config("local", [CHANNELS, *overrides]))


def event(series: str, start_min: float, minutes: float = 0, peak: float = 0.95) -> Event:
    start = T0 + timedelta(minutes=start_min)
    eid = event_id(series, "value", start, "det", "v1")
    return Event(eid, series, "value", start, start + timedelta(minutes=minutes), start, peak, 1 + int(minutes / 5),
                 True, "det", "v1")


def test_rule_matching_by_glob_peak_and_duration_gives_its_severity_levels():
    rule = settings("alerts.rules=[{name: pumps, series: ['pump-*', tank], min_peak_score: 0.8, "
                    "min_duration: 10 minutes, severity: {warning: 0.8, critical: 0.99}, channels: hook}]").rules[0]
    assert rule.evaluate("pump-7", T0, T0 + timedelta(minutes=10), 0.9) == "warning"
    assert rule.evaluate("pump-7", T0, T0 + timedelta(minutes=10), 0.995) == "critical"
    assert rule.evaluate("tank", T0, T0 + timedelta(minutes=15), 0.85) == "warning"
    assert rule.evaluate("tank-2", T0, T0 + timedelta(minutes=15), 0.9) is None  # no glob matches
    assert rule.evaluate("pump-7", T0, T0 + timedelta(minutes=5), 0.99) is None  # too short
    assert rule.evaluate("pump-7", T0, T0 + timedelta(minutes=20), 0.7) is None  # peak too low


@pytest.mark.parametrize(("override", "message"), [
    ("alerts.rules=[{name: r, channels: [nope]}]", "alerts.rules.r.channels: unknown ['nope']"),
    ("alerts.rules=[{name: r, channels: hook, severity: loud}]", "alerts.rules.r.severity='loud'"),
    ("alerts.rules=[{name: r, channels: hook, cooldown: soon}]", "alerts.rules.r.cooldown='soon'"),
    ("alerts.rules=[{name: r, channels: hook, colour: red}]", "unknown keys ['colour']"),
    ("alerts.channels.bad={kind: webhook}", "alerts.channels.bad: a webhook needs exactly one of url or url_env"),
    ("alerts.channels.bad={kind: pager, url: x}", "alerts.channels.bad.kind='pager'"),
    ("alerts.digest.window=often", "alerts.digest.window='often'"),
])
def test_bad_alert_config_is_one_error_naming_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        settings(override)
    assert message in str(err.value)


def test_an_event_that_grows_notifies_again_only_when_its_severity_rises():
    s = settings("alerts.rules=[{name: r, channels: [hook, mail], severity: {warning: 0.9, critical: 0.99}}]")
    state = AlertState()
    first = plan([event("a", 0, peak=0.92)], s, state)
    assert [(a.target, a.severity, a.status) for a in first] == [("hook", "warning", PENDING),
                                                                 ("mail", "warning", PENDING)]
    assert first[0].alert_id == alert_id(first[0].event_id, "r", "hook", "warning")
    assert first[0].alert_id != first[1].alert_id
    assert plan([event("a", 0, minutes=10, peak=0.95)], s, state) == []  # grew, still warning
    risen = plan([event("a", 0, minutes=15, peak=0.995)], s, state)
    assert [(a.target, a.severity) for a in risen] == [("hook", "critical"), ("mail", "critical")]
    assert risen[0].payload["event"]["end"] == "2026-01-01T00:15:00Z"
    assert plan([event("a", 0, minutes=20, peak=0.999)], s, state) == []


def test_cooldown_suppresses_new_events_of_a_series_within_it_in_event_time():
    s = settings("alerts.rules=[{name: r, channels: hook, cooldown: 30 minutes}]", "alerts.digest.max_events=0")
    state = AlertState()
    decided = plan([event("a", 0), event("a", 20), event("b", 20), event("a", 35)], s, state)
    assert [(a.series_id, a.status, a.reason) for a in decided] == [
        ("a", PENDING, ""), ("a", SUPPRESSED, "cooldown"), ("b", PENDING, ""), ("a", PENDING, "")]
    # the suppressed event keeps its decision as it grows into a higher severity... there is one level here,
    # so growing changes nothing at all
    assert plan([event("a", 20, minutes=5)], s, state) == []


def test_more_than_n_events_in_a_window_are_suppressed_behind_one_digest_per_channel():
    s = settings("alerts.rules=[{name: r, channels: [hook, mail]}]", "alerts.digest={max_events: 3, window: 1 hour}")
    state = AlertState()
    storm = [event(f"s{i}", i) for i in range(6)]
    decided = plan(storm, s, state)
    kinds = [(a.kind, a.status, a.target) for a in decided]
    assert kinds.count(("event", PENDING, "hook")) == 3
    assert kinds.count(("event", SUPPRESSED, "hook")) == 3
    assert kinds.count(("digest", PENDING, "hook")) == kinds.count(("digest", PENDING, "mail")) == 1
    digest = next(a for a in decided if a.kind == "digest")
    assert digest.payload["window_start"] == "2026-01-01T00:00:00Z"
    # later in the same window: suppressed, no second digest; the next window starts afresh
    later = plan([event("s9", 50), event("s10", 70)], s, state)
    assert [(a.series_id, a.kind, a.status) for a in later] == [
        ("s9", "event", SUPPRESSED), ("s9", "event", SUPPRESSED), ("s10", "event", PENDING),
        ("s10", "event", PENDING)]


def test_the_same_input_and_state_give_the_same_decisions_and_ids():
    s = settings("alerts.rules=[{name: r, channels: [hook], cooldown: 10 minutes}]", "alerts.digest.max_events=2")
    storm = [event(f"s{i % 2}", i * 3) for i in range(7)]
    assert plan(storm, s, AlertState()) == plan(list(reversed(storm)), s, AlertState())
