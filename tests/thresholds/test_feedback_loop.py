"""Feedback to thresholds to alerts on a real lakehouse: verdicts given with the feedback CLI (its good id, unknown
id and bad label too), `recalibrate` raising the threshold of the series whose alerts were false, and the next
alerts pass sending fewer alerts for it to a real loopback HTTP receiver, while the other series' alerts go on."""

from __future__ import annotations

import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakewatch import schemas, tables
from lakewatch.alerts.job import run_alerts
from lakewatch.alerts.rules import alerts_settings
from lakewatch.config import load_config
from lakewatch.event_ids import event_id
from lakewatch.jobs import feedback
from lakewatch.progress import Progress
from lakewatch.thresholds.current import read_current, thresholds_location
from lakewatch.thresholds.recalibrate import recalibrate
from lakewatch.thresholds.settings import threshold_settings
from tests.alerts.receivers import http_receiver
from tests.jobs_harness import run_job

MONDAY = datetime(2026, 1, 5, tzinfo=UTC)
WEEK_1 = [("pump-1", 0, 0.70), ("pump-1", 1, 0.75), ("pump-1", 2, 0.80), ("pump-2", 0, 0.72), ("pump-2", 1, 0.90)]
WEEK_2 = [("pump-1", 7, 0.72), ("pump-1", 8, 0.78), ("pump-1", 9, 0.95), ("pump-2", 7, 0.73), ("pump-2", 8, 0.80)]


def anomalies(rows: list[tuple[str, int, float]]) -> list[tuple]:
    """Closed gold.anomalies rows (series, start day after MONDAY, peak), ten minutes long, flagged at 0.6."""
    out = []
    for series, day, peak in rows:
        start = MONDAY + timedelta(days=day, hours=6)
        out.append((series, "value", start, start + timedelta(minutes=10), start + timedelta(minutes=5), peak, 3, 0.6,
                    False, None, None, "det", "v1", 0, start))
    return out


def eid(series: str, day: int) -> str:
    return event_id(series, "value", MONDAY + timedelta(days=day, hours=6), "det", "v1")


@pytest.fixture(scope="module")
def receiver():
    with http_receiver() as r:
        yield r


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory, receiver):
    """Config overrides (also given to the CLI as --set) and the config: tables of their own, one webhook rule
    for every series, default threshold 0.6, a budget that week 1 stays within."""
    root = tmp_path_factory.mktemp("feedback-lake")
    names = load_config("local").tables.all()
    overrides = [f"table_root={root}", *[f"tables.{key}=fbloop_{name}" for key, name in names.items()],
                 f"alerts.channels={{hook: {{kind: webhook, url: '{receiver.url}/hook'}}}}",
                 "alerts.rules=[{name: all, channels: hook}]",
                 "alerts.delivery={attempts: 1, max_time: 10 seconds, parallel: 1}",
                 "streaming.threshold=0.6", "thresholds.budget_per_week=5"]
    config = load_config("local", overrides)
    tables.ensure_table(spark, config, config.tables.gold_anomalies, schemas.GOLD_ANOMALIES)
    return overrides, config


def append_events(spark, config, rows) -> None:
    spark.createDataFrame(anomalies(rows), schemas.GOLD_ANOMALIES).write.format("delta").mode("append").saveAsTable(
        config.tables.gold_anomalies)


def alerts_pass(spark, config, receiver) -> dict[str, int]:
    """Run one alerts pass; the alerts the receiver got in it, counted by series."""
    before = len(receiver.requests)
    run_alerts(spark, config, alerts_settings(config), Progress("t", stream=io.StringIO()), None)
    counts: dict[str, int] = {}
    for request in receiver.requests[before:]:
        series = json.loads(request.body)["event"]["series_id"]
        counts[series] = counts.get(series, 0) + 1
    return counts


def verdict(overrides, event: str, label: str, *more: str) -> int:
    return feedback.main([*(a for o in overrides for a in ("--set", o)), "--event", event, "--label", label, *more])


def test_feedback_marking_a_series_false_raises_its_threshold_and_the_next_pass_sends_fewer_alerts(
        spark, lake, receiver, capsys):
    overrides, config = lake
    append_events(spark, config, WEEK_1)
    assert alerts_pass(spark, config, receiver) == {"pump-1": 3, "pump-2": 2}

    for day in (0, 1, 2):
        assert verdict(overrides, eid("pump-1", day), "false", "--note", "pump cleaning", "--reviewer", "ana") == 0
    assert verdict(overrides, eid("pump-2", 1), "TRUE", "--reviewer", "bo") == 0
    assert "false_positive recorded for event " + eid("pump-1", 0) in capsys.readouterr().out
    given = DeltaTable(tables.table_location(config, config.tables.gold_feedback)).to_pandas()
    assert sorted(zip(given["series_id"], given["label"], given["reviewer"], given["source"], strict=True)) == [
        ("pump-1", "false_positive", "ana", "cli")] * 3 + [("pump-2", "true_positive", "bo", "cli")]
    assert set(given["note"].dropna()) == {"pump cleaning"}

    settings = threshold_settings(config)
    report = recalibrate(spark, config, settings, "run-1", "tester")
    assert (report.series, report.verdicts, report.changed, report.raised) == (2, 4, 1, 1)
    columns = ("series_id", "channel", "detector", "threshold", "previous", "default_threshold", "false_positives",
               "true_positives", "events", "worst_week_events", "set_by", "run_id")
    got = spark.table(config.tables.ops_thresholds)
    assert got.where(F.col("reason").startswith("feedback: above 3 of 3 false positives")).count() == 1
    assertDataFrameEqual(got.select(*columns), spark.createDataFrame(
        [("pump-1", "value", "det", 0.801, None, 0.6, 3, 0, 3, 0, "tester", "run-1")],
        schemas.OPS_THRESHOLDS.__class__([schemas.OPS_THRESHOLDS[c] for c in columns])))
    assert read_current(thresholds_location(config)) == {("pump-1", "value", "det"): 0.801}
    assert recalibrate(spark, config, settings, "run-2").changed == 0  # same feedback: nothing new
    assert got.count() == 1

    append_events(spark, config, WEEK_2)
    assert alerts_pass(spark, config, receiver) == {"pump-1": 1, "pump-2": 2}  # only pump-1's 0.95 clears 0.801


def test_the_feedback_cli_names_an_unknown_event_and_refuses_a_bad_label_or_id(lake, capsys):
    overrides, _ = lake
    assert verdict(overrides, "0123456789abcdef", "false") == 1
    assert "--event 0123456789abcdef: no anomaly event with that id in fbloop_gold.anomalies" in capsys.readouterr().err
    for event, label, message in ((eid("pump-1", 0), "maybe", "argument --label: invalid choice: 'maybe'"),
                                  ("pump-1", "true", "--event 'pump-1': expected an event id of 16 hex digits")):
        with pytest.raises(SystemExit) as exit_info:
            verdict(overrides, event, label)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_launcher_runs_the_feedback_cli_without_spark(lake):
    overrides, _ = lake
    done = run_job(["feedback", *(a for o in overrides for a in ("--set", o)), "--event", "fedcba9876543210",
                    "--label", "true"], timeout=120, LAKEWATCH_VENV=os.environ.get("LAKEWATCH_VENV", ""))
    assert done.returncode == 1, done.stderr
    assert "[lakewatch] error: --event fedcba9876543210: no anomaly event with that id" in done.stderr
