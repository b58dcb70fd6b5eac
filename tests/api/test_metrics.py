"""GET /metrics in Prometheus' text format, parsed with prometheus_client's own parser; every value is what the
known lakehouse (tests/api/conftest.py) holds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lakewatch.api.metrics import LakehouseCollector
from lakewatch.readers import LakeReader
from tests.api.conftest import ALERTS, UNSCORED
from tests.dashboard.lakehouse import EVENTS, QUARANTINE_REASONS, STEP


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_of_the_lakehouse(api) -> None:
    with api.client() as client:
        feedback = client.post("/feedback", json={"event_id": client.get("/anomalies").json()["items"][0]["event_id"],
                                                  "label": "true_positive"})
        answer = client.get("/metrics")
    assert feedback.status_code == 201
    assert answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    by_name: dict[str, dict[tuple, float]] = {}
    for (name, labels), value in samples.items():
        by_name.setdefault(name, {})[labels] = value

    assert by_name["lakewatch_anomalies_opened_total"] == {(): len(EVENTS)}
    assert by_name["lakewatch_anomalies_open"] == {(): sum(e.is_open for e in EVENTS)}
    for status in ("sent", "failed"):
        expected = {(("channel", c),): sum(1 for ch, s in ALERTS if ch == c and s == status)
                    for c in {c for c, _ in ALERTS}}
        assert by_name[f"lakewatch_alerts_{status}_total"] == expected
    assert by_name["lakewatch_alerts_pending"][(("channel", "slack"),)] == 1
    assert by_name["lakewatch_stream_lag_seconds"] == {(): UNSCORED * STEP.total_seconds()}
    assert by_name["lakewatch_pipeline_last_run_duration_seconds"] == {(("job", "pipeline"),): 180.0,
                                                                      (("job", "validate"),): 60.0}
    assert by_name["lakewatch_pipeline_last_run_success"] == {(("job", "pipeline"),): 1.0, (("job", "validate"),): 1.0}
    assert by_name["lakewatch_pipeline_last_run_status"] == {(("job", "pipeline"), ("status", "succeeded")): 1.0,
                                                            (("job", "validate"), ("status", "succeeded")): 1.0}
    assert by_name["lakewatch_validation_runs_failed_total"] == {(): 1.0}
    assert by_name["lakewatch_validation_expectations_failed_total"] == {(): 1.0}
    assert by_name["lakewatch_validation_last_success"] == {(): 0.0}
    assert by_name["lakewatch_quarantined_rows_total"] == {(("reason", r),): n for r, n in QUARANTINE_REASONS.items()}
    assert by_name["lakewatch_feedback_total"][(("label", "true_positive"),)] >= 1
    assert by_name["lakewatch_metrics_collect_errors"] == {(): 0.0}
    assert by_name["lakewatch_table_exists"][(("table", api.config.tables.ops_alerts),)] == 1.0
    assert by_name["lakewatch_api_requests_total"][(("method", "POST"), ("route", "/feedback"), ("status", "201"))] >= 1


def test_seconds_since_the_last_micro_batch(api) -> None:
    now = datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    with LakeReader(api.config) as reader:
        families = {f.name: f for f in LakehouseCollector(reader, 0, now=lambda: now).collect()}
    newest = max(e.end for e in EVENTS)  # the pump event runs to the last point, scored 30 s after it
    assert families["lakewatch_stream_seconds_since_last_batch"].samples[0].value == pytest.approx(
        (now - newest).total_seconds() - 30)


def test_metrics_of_an_empty_lakehouse_are_only_the_tables_missing(tmp_path) -> None:
    from tests.conftest import make_config

    with LakeReader(make_config(tmp_path / "lake")) as reader:
        families = {f.name: f for f in LakehouseCollector(reader, 0).collect()}
    assert set(families) == {"lakewatch_table_exists", "lakewatch_metrics_collect_errors",
                             "lakewatch_metrics_collect_seconds"}
    assert {s.value for s in families["lakewatch_table_exists"].samples} == {0.0}
