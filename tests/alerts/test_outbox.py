"""The alerts job's pass on a real lakehouse: gold.anomalies -> ops.alerts (MERGE on alert_id) -> a recording HTTP
receiver; failures recorded with their error, retriable ones delivered by a later pass, nothing recorded twice."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from lakewatch import schemas, tables
from lakewatch.alerts.job import run_alerts
from lakewatch.alerts.notifier import Notifier
from lakewatch.alerts.outbox import append_new
from lakewatch.alerts.rules import alerts_settings
from lakewatch.event_ids import event_id
from lakewatch.progress import Progress
from tests.alerts.receivers import http_receiver
from tests.conftest import make_config

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # aware: stored by its instant whatever the local zone


def anomalies(rows: list[tuple[str, int, float]]) -> list[tuple]:
    """gold.anomalies rows (series, start minute, peak), 10 minutes long."""
    return [(s, "value", T0 + timedelta(minutes=m), T0 + timedelta(minutes=m + 10), T0 + timedelta(minutes=m + 5),
             peak, 3, 0.9, False, None, None, "det", "v1", 0, T0) for s, m, peak in rows]


@pytest.fixture(scope="module")
def receiver():
    with http_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory, receiver):
    config = make_config(
        tmp_path_factory.mktemp("alerts-lake"),
        f"alerts.channels={{hook: {{kind: webhook, url: '{receiver.url}/hook', secret_env: OUTBOX_TEST_SECRET}}, "
        f"chat: {{kind: slack, url: '{receiver.url}/slack'}}}}",
        "alerts.rules=[{name: pumps, series: 'pump-*', min_peak_score: 0.9, channels: [hook, chat], "
        "severity: {warning: 0.9, critical: 0.99}}]",
        "alerts.delivery={attempts: 2, backoff: 0.05 seconds, max_backoff: 0.1 seconds, max_time: 10 seconds, "
        "parallel: 1}")
    tables.ensure_table(spark, config, config.tables.gold_anomalies, schemas.GOLD_ANOMALIES)
    return config


def outbox(spark, config):
    return spark.table(config.tables.ops_alerts).toPandas().sort_values(["event_start", "target", "severity"])


def test_a_pass_records_each_alert_once_and_a_later_pass_delivers_retriable_failures(spark, lake, receiver,
                                                                                       monkeypatch):
    monkeypatch.setenv("OUTBOX_TEST_SECRET", "k")
    settings = alerts_settings(lake)
    spark.createDataFrame(anomalies([("pump-1", 0, 0.95), ("pump-2", 30, 0.5), ("fan-1", 60, 0.99)]),
                          schemas.GOLD_ANOMALIES).write.format("delta").mode("append").saveAsTable(
        lake.tables.gold_anomalies)
    receiver.requests.clear()
    receiver.statuses[:] = [503, 503]  # the first alert's two attempts fail; the second alert goes through
    run_alerts(spark, lake, settings, Progress("t", stream=io.StringIO()), None)
    first = outbox(spark, lake)
    assert first[["series_id", "target", "severity"]].values.tolist() == [["pump-1", "chat", "warning"],
                                                                           ["pump-1", "hook", "warning"]]
    assert sorted(first["status"]) == ["failed", "sent"]
    failed = first[first["status"] == "failed"].iloc[0]
    assert failed["attempts"] == 2 and failed["retriable"] and "HTTP 503" in failed["last_error"]
    eid = event_id("pump-1", "value", T0, "det", "v1")
    assert set(first["event_id"]) == {eid}
    assert json.loads(first["payload"].iloc[0])["event"]["event_id"] == eid

    # the event grows into critical; the next pass sends the rise and delivers the failure again
    spark.createDataFrame(anomalies([("pump-1", 0, 0.995)]), schemas.GOLD_ANOMALIES).write.format("delta").mode(
        "overwrite").option("replaceWhere", "series_id = 'pump-1'").saveAsTable(lake.tables.gold_anomalies)
    run_alerts(spark, lake, settings, Progress("t", stream=io.StringIO()), None)
    second = outbox(spark, lake)
    assert len(second) == 4 and set(second["status"]) == {"sent"}
    assert second.groupby(["event_id", "rule", "target", "severity"]).size().max() == 1
    assert second[second["alert_id"] == failed["alert_id"]]["attempts"].iloc[0] == 3
    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    assert len(keys) == 6 and len(set(keys)) == 4  # 2 failed tries + 4 deliveries, one key per alert

    # a third pass has nothing to send; a replayed record changes nothing
    run_alerts(spark, lake, settings, Progress("t", stream=io.StringIO()), None)
    assert len(receiver.requests) == 6
    notifier = Notifier(spark, lake, settings)
    assert notifier.redeliver().statuses == {}
    assert len(outbox(spark, lake)) == 4


def test_the_stream_appends_its_new_alerts_once_per_batch_and_merges_after_another_writer(spark, lake, receiver,
                                                                                            monkeypatch):
    monkeypatch.setenv("OUTBOX_TEST_SECRET", "k")
    settings = alerts_settings(lake)
    receiver.statuses[:] = []
    stream = Notifier(spark, lake, settings)  # the stream's notifier: its state is read now
    first = stream.on_events(spark.createDataFrame(anomalies([("pump-7", 600, 0.95)]), schemas.GOLD_ANOMALIES),
                             7, "query")()
    assert first.recorded_by == "append" and first.statuses == {"sent": 2}
    rows = outbox(spark, lake)
    appended = rows[rows["series_id"] == "pump-7"]
    assert len(appended) == 2 and set(appended["status"]) == {"sent"}
    # the batch replayed (same query app id and batch id): Delta skips the append, the outbox is unchanged
    replayed = [tuple(r) for r in spark.table(lake.tables.ops_alerts).where("series_id = 'pump-7'").collect()]
    append_new(spark, stream.location, replayed, "query-alerts", 7, "query-alerts")
    assert len(outbox(spark, lake)) == len(rows)

    # the alerts job records pump-8's event, which the stream's state has not seen: the stream then merges
    spark.createDataFrame(anomalies([("pump-8", 700, 0.95)]), schemas.GOLD_ANOMALIES).write.format("delta").mode(
        "append").saveAsTable(lake.tables.gold_anomalies)
    run_alerts(spark, lake, settings, Progress("t", stream=io.StringIO()), None)
    again = stream.on_events(spark.createDataFrame(anomalies([("pump-8", 700, 0.95)]), schemas.GOLD_ANOMALIES),
                             8, "query")()
    assert again.recorded_by == "merge" and again.statuses == {"sent": 2}  # sent twice with one key: recorded once
    rows = outbox(spark, lake)
    assert not rows.duplicated("alert_id").any() and len(rows[rows["series_id"] == "pump-8"]) == 2
    # with its state read again and no other writer since, the next batch appends again
    third = stream.on_events(spark.createDataFrame(anomalies([("pump-9", 800, 0.95)]), schemas.GOLD_ANOMALIES),
                             9, "query")()
    assert third.recorded_by == "append" and len(outbox(spark, lake)) == len(rows) + 2
