"""Alerts sent from inside the score stream's stateful operator: the webhook request leaves a Python worker while the
micro-batch is still being scored, so it reaches a real loopback receiver before the batch commits anything, and the
batch's driver records it once in ops.alerts without sending it again."""

from __future__ import annotations

import json
import os
import pickle
import threading
import time
from datetime import UTC, timedelta

import psutil
from deltalake import DeltaTable

from lakewatch import tables
from lakewatch.alerts.operator import OperatorAlerts
from lakewatch.alerts.policy import AlertState, Event, plan
from lakewatch.driver_commits import local_path
from lakewatch.event_ids import event_id
from lakewatch.progress import Progress
from lakewatch.streaming.job import run_score_stream
from lakewatch.streaming.settings import StreamSettings
from lakewatch.streaming.state import OpenEvent
from tests.alerts.receivers import http_receiver
from tests.alerts.test_policy import T0, settings
from tests.conftest import make_config
from tests.streaming.harness import append_silver, make_readings


def _sender_pid(port: int) -> int | None:
    """The pid of the local process whose TCP connection has source port `port` (while it is open)."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.pid:
            return conn.pid
    return None


def test_an_alert_leaves_the_operator_before_the_batch_commits_and_is_recorded_once(spark, tmp_path):
    with http_receiver() as receiver:
        config = make_config(tmp_path / "lake", "alerts.enabled=true", "thresholds.enabled=false",
                             f"alerts.channels={{hook: {{kind: webhook, url: '{receiver.url}/hook', "
                             "timeout: 60 seconds}}", "alerts.rules=[{name: all, channels: [hook]}]",
                             "alerts.digest.max_events=0")
        rows = make_readings(series=2, points=120, spikes=2)
        append_silver(spark, config, rows)
        settings = StreamSettings(trigger="availableNow", detector="robust_zscore", threshold=0.99,
                                  state_partitions=2, checkpoint=str(tmp_path / "ckpt"), explain={"enabled": False})
        receiver.hold.set()  # the first request is recorded, its answer held: its sender waits
        runner = threading.Thread(target=run_score_stream, args=(spark, config, settings, Progress("t")))
        runner.start()
        try:
            first = receiver.wait_for(1, timeout=240)[0]
            sender = _sender_pid(first.client[1])
            worker = psutil.Process(sender).cmdline() if sender else []
            time.sleep(2)  # while the operator waits, nothing of the batch can commit
            anomalies = DeltaTable(local_path(tables.catalog_location(spark, config.tables.gold_anomalies)))
            held_version = anomalies.version()
            assert len(anomalies.to_pyarrow_table()) == 0
        finally:
            receiver.hold.clear()
            receiver.release.set()
            runner.join(240)
        assert not runner.is_alive()
        requests = list(receiver.requests)

    assert sender is not None and sender != os.getpid()  # a Python worker of Spark, not the driver (this process)
    assert "pyspark" in " ".join(worker)
    events = spark.table(config.tables.gold_anomalies)
    outbox = spark.table(config.tables.ops_alerts).toPandas()
    assert events.count() >= 2 and len(outbox) == events.count()
    # each alert sent once (by the operator: the driver did not send it again) and recorded once, as sent
    keys = [r.headers["Idempotency-Key"] for r in requests]
    assert sorted(keys) == sorted(outbox["alert_id"]) and len(set(keys)) == len(keys)
    assert set(outbox["status"]) == {"sent"} and set(outbox["attempts"]) == {1}
    assert {json.loads(r.body)["event"]["event_id"] for r in requests} == set(outbox["event_id"])
    # the first request arrived before the first commit holding an event (its batch's events write)
    anomalies.update_incremental()
    commits = [c for c in anomalies.history() if c["version"] > held_version]
    assert commits and first.at * 1000 < min(c["timestamp"] for c in commits)


def _version(start_min: float, minutes: float, peak: float) -> OpenEvent:
    start = int(T0.replace(tzinfo=UTC).timestamp() * 1e9) + int(start_min * 60e9)
    return OpenEvent(start, start + int(minutes * 60e9), start, peak, 1 + int(minutes / 5))


def test_the_operator_decides_what_the_policy_would_send_and_leaves_the_rest_to_the_driver():
    s = settings("alerts.rules=[{name: r, channels: [hook, mail], severity: {warning: 0.9, critical: 0.99}}]",
                 "alerts.digest.max_events=0")
    operator, state = OperatorAlerts(s, "det", "v1"), AlertState()
    versions = [(_version(0, 0, 0.92), None), (_version(0, 5, 0.95), _version(0, 0, 0.92)),
                (_version(0, 10, 0.995), _version(0, 5, 0.95))]  # new; grows, same severity; rises
    for version, previous in versions:
        sent = operator.decide("a", "value", version, True, previous)
        as_event = Event(event_id("a", "value", version.start_ns // 1000, "det", "v1"), "a", "value",
                         T0.replace(tzinfo=UTC), T0.replace(tzinfo=UTC) + timedelta(minutes=(
                             version.end_ns - version.start_ns) / 60e9), T0.replace(tzinfo=UTC), version.peak_score,
                         version.points, True, "det", "v1")
        planned = plan([as_event], s, state)
        assert [(a.alert_id, dict(a.payload)) for a in sent] == [(a.alert_id, dict(a.payload)) for a in planned]
    assert len(sent) == 2 and {a.severity for a in sent} == {"critical"}
    # below the thresholds' ceiling (the weekly budget may hold it back), a cooldown, or a digest: the driver decides
    assert operator.decide("b", "value", _version(0, 0, 0.95), True, None, ceiling=0.999) == []
    assert len(operator.decide("b", "value", _version(0, 0, 0.9995), True, None, ceiling=0.999)) == 2
    cooled = OperatorAlerts(settings("alerts.rules=[{name: r, channels: hook, cooldown: 1 hour}]",
                                     "alerts.digest.max_events=0"), "det", "v1")
    assert not cooled.active and cooled.decide("b", "value", _version(0, 0, 0.95), True, None) == []
    assert not OperatorAlerts(settings("alerts.rules=[{name: r, channels: hook}]"), "det", "v1").active


def test_the_tasks_of_one_worker_share_its_senders():
    """OperatorAlerts reaches a worker pickled with every task; the HTTP client (and its TLS context) is made once
    per worker process and channel, not once per task."""
    s = settings("alerts.rules=[{name: r, channels: [hook, mail]}]", "alerts.digest.max_events=0")
    first, second = (pickle.loads(pickle.dumps(OperatorAlerts(s, "det", "v1"))) for _ in range(2))
    hook = first._sender("hook", time.monotonic)
    assert hook is not None and second._sender("hook", time.monotonic) is hook
    assert first._sender("mail", time.monotonic) not in (None, hook)
    other = settings("alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:10/y'}}",
                     "alerts.rules=[{name: r, channels: [hook]}]", "alerts.digest.max_events=0")
    assert OperatorAlerts(other, "det", "v1")._sender("hook", time.monotonic) not in (None, hook)
