"""Alerts from inside the score stream, across a hard kill: the webhook receiver records a notification and holds
its answer while the test SIGKILLs the stream's driver between sending and recording; the restarted stream replays
the micro-batch and sends again with the same Idempotency-Key. Every event is delivered at least once and recorded
in ops.alerts exactly once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.alerts.receivers import http_receiver
from tests.conftest import REPO
from tests.streaming.test_stream_recovery import _env

SECRET = "stream-alerts-secret"
PREPARE = """
import sys
from lakewatch.config import load_config
from lakewatch.spark import get_spark
from tests.streaming.harness import append_silver, make_readings
config = load_config("local", [f"table_root={sys.argv[1]}"])
spark = get_spark("prepare", config)
rows = make_readings(series=3, points=240, spikes=3)
for chunk in range(2):  # two commits, read one per micro-batch
    part = rows[(rows.index % 240 >= chunk * 120) & (rows.index % 240 < (chunk + 1) * 120)]
    append_silver(spark, config, part.sort_values(["timestamp", "series_id"]), f"i{chunk}")
"""


def _stream(root: Path, log: Path, url: str) -> subprocess.Popen:
    alerts = (f"alerts={{enabled: true, channels: {{hook: {{kind: webhook, url: '{url}/hook', "
              "secret_env: STREAM_ALERTS_SECRET, timeout: 120 seconds}}, rules: [{name: all, series: 's*', "
              "channels: [hook]}], digest: {max_events: 0}}")
    args = [sys.executable, str(REPO / "jobs" / "score_stream.py"), "--table-root", str(root),
            "--trigger", "availableNow", "--detector", "robust_zscore", "--threshold", "0.9",
            "--set", "streaming.max_files_per_trigger=1", "--set", "streaming.state_partitions=2",
            "--set", "streaming.explain.enabled=false", "--set", alerts]
    return subprocess.Popen(args, stdout=log.open("a"), stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                            env={**_env(), "STREAM_ALERTS_SECRET": SECRET})


@pytest.mark.slow
def test_kill_between_sending_and_recording_then_restart_records_each_alert_once(spark, tmp_path):
    root, log = tmp_path / "lake", tmp_path / "stream.log"
    subprocess.run([sys.executable, "-c", PREPARE, str(root)], check=True, env=_env(), cwd=REPO, timeout=300,
                   capture_output=True)
    with http_receiver() as receiver:
        receiver.hold.set()  # record the first notification, then keep its answer back
        first = _stream(root, log, receiver.url)
        try:
            held = receiver.wait_for(1, timeout=300)[0]
        finally:
            os.killpg(first.pid, signal.SIGKILL)  # the driver and its JVM: nothing recorded, no batch committed
            first.wait(30)
        receiver.hold.clear()
        receiver.release.set()
        final = _stream(root, log, receiver.url)
        assert final.wait(600) == 0, log.read_text(errors="replace")[-3000:]
        requests = list(receiver.requests)
    assert "alerts on: 1 rules" in log.read_text()

    events = spark.read.format("delta").load(str(root / "gold" / "anomalies"))
    event_ids = {r[0] for r in events.selectExpr(
        "substr(sha2(concat_ws('|', series_id, channel, CAST(unix_micros(start) AS STRING), detector, "
        "model_version), 256), 1, 16)").collect()}
    outbox = spark.read.format("delta").load(str(root / "ops" / "alerts")).toPandas()
    assert len(event_ids) >= 2
    # recorded exactly once per (event, rule, channel), all sent
    assert sorted(outbox["event_id"]) == sorted(event_ids)
    assert not outbox.duplicated(["event_id", "rule", "target"]).any()
    assert set(outbox["status"]) == {"sent"} and set(outbox["channel"]) == {"webhook"}
    # delivered at least once each, signed, with the outbox's key; the held one was sent again with the same key
    bodies = [json.loads(r.body) for r in requests]
    assert {b["event"]["event_id"] for b in bodies} == event_ids
    for request, body in zip(requests, bodies, strict=True):
        assert request.headers["Idempotency-Key"] == body["alert_id"]
        assert request.headers["X-Lakewatch-Signature"] == "sha256=" + hmac.new(
            SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    keys = [r.headers["Idempotency-Key"] for r in requests]
    assert keys.count(held.headers["Idempotency-Key"]) == 2 and held.body == requests[keys.index(
        held.headers["Idempotency-Key"], 1)].body
    assert set(keys) == set(outbox["alert_id"])  # a receiver dropping repeat keys sees each alert once
