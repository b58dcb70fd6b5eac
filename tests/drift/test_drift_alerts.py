"""Drift alerts through a real loopback webhook receiver: the drift run that opens a retrain request sends exactly
one 'drift' notification (keyed by the request), recorded once in ops.alerts; a re-run, or sending the same run's
requests again, sends none; no drift channel configured, nothing sent."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from pyspark.sql import functions as F

from lakewatch.alerts.drift import KIND_DRIFT, drift_alert_id, notify_drift
from lakewatch.alerts.rules import alerts_settings
from lakewatch.config import load_config
from lakewatch.drift.decisions import new_requests
from lakewatch.drift.run import run_drift
from lakewatch.drift.settings import drift_settings
from lakewatch.errors import ConfigError
from tests.alerts.receivers import http_receiver
from tests.conftest import make_config
from tests.drift.lakes import write_readings

DRIFT = ["drift.reference=2d", "drift.window=1d", "drift.min_rows=20", "drift.consecutive_windows=1",
         "drift.mmd_permutations=20"]


@pytest.fixture(scope="module")
def receiver():
    with http_receiver() as started:
        yield started


def test_a_drift_run_sends_one_drift_alert_per_new_request_and_a_rerun_sends_none(spark, receiver,
                                                                                   tmp_path_factory) -> None:
    rng = np.random.default_rng(7)
    n = 3 * 144
    level = rng.normal(10.0, 1.0, n)
    level[-144:] += 3.0  # the last day shifts by 3 sigma
    hook = f"{{hook: {{kind: webhook, url: '{receiver.url}/drift'}}}}"
    config = make_config(tmp_path_factory.mktemp("drift-alerts") / "lake", *DRIFT,
                         f"alerts.channels={hook}", "alerts.drift_channels=[hook]")
    write_readings(spark, config, {"level": level, "steady": rng.normal(10.0, 1.0, n)})
    settings, alerts = drift_settings(config), alerts_settings(config)
    requests_table = config.tables.ops_retrain_requests

    first = run_drift(spark, config, settings, "run-1")
    assert first.requests == 1
    sent = notify_drift(spark, config, alerts, new_requests(spark, requests_table, "run-1"))
    assert (sent.events, sent.statuses) == (1, {"sent": 1})
    request = spark.table(requests_table).where(F.col("run_id") == "run-1").first()
    [got] = receiver.wait_for(1)
    body = json.loads(got.body)
    assert got.path == "/drift" and got.headers["Idempotency-Key"] == drift_alert_id(request.request_id, "hook")
    assert body["kind"] == KIND_DRIFT and body["request"]["request_id"] == request.request_id
    assert body["request"]["series_id"] == "level" and body["request"]["windows"] == 1
    assert body["text"].startswith("drift on level/value: drifted 1 windows in a row")
    outbox = spark.table(config.tables.ops_alerts).select("alert_id", "kind", "series_id", "target", "status",
                                                          "attempts").collect()
    assert [tuple(r) for r in outbox] == [(body["alert_id"], "drift", "level", "hook", "sent", 1)]

    again = run_drift(spark, config, settings, "run-2", first.periods.window_end + timedelta(minutes=10))
    assert again.requests == 0  # 'level' has an open request already
    assert notify_drift(spark, config, alerts, new_requests(spark, requests_table, "run-2")).statuses == {}
    replay = notify_drift(spark, config, alerts, new_requests(spark, requests_table, "run-1"))
    assert (replay.events, replay.statuses) == (1, {})  # recorded already: not sent twice
    assert len(receiver.requests) == 1 and spark.table(config.tables.ops_alerts).count() == 1

    quiet = make_config(tmp_path_factory.mktemp("drift-quiet") / "lake", f"alerts.channels={hook}")
    assert notify_drift(spark, quiet, alerts_settings(quiet),
                        new_requests(spark, requests_table, "run-1")).events == 0
    assert len(receiver.requests) == 1


def test_an_unknown_drift_channel_is_a_config_error_naming_it() -> None:
    config = load_config("local", ["alerts.channels={hook: {kind: webhook, url: 'http://127.0.0.1:9/'}}",
                                   "alerts.drift_channels=[hook, pager]"])
    with pytest.raises(ConfigError, match=r"alerts.drift_channels: unknown \['pager'\]; expected some of \['hook'\]"):
        alerts_settings(config)
