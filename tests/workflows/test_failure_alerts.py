"""A scheduled task that failed for good is reported through the alert channels alerts.failure_channels names,
signed and with an idempotency key that is the same when a scheduler reports the failure twice."""

from __future__ import annotations

import json

import pytest

from lakewatch.alerts.channels import SIGNATURE_HEADER, signature
from lakewatch.config import load_config
from lakewatch.errors import ConfigError
from lakewatch.workflows.failures import TaskFailure, report_failure
from tests.alerts.receivers import http_receiver

SECRET = "failure-hook-secret"


def _config(url: str, *extra: str):
    return load_config("local", [
        f"alerts.channels={{hook: {{kind: webhook, url: '{url}/hook', secret_env: TEST_FAILURE_SECRET}},"
        f" chat: {{kind: slack, url: '{url}/slack'}}}}",
        "alerts.delivery={attempts: 2, backoff: 0.05 seconds, max_backoff: 0.1 seconds, max_time: 5 seconds}",
        *extra])


FAILURE = TaskFailure(workflow="ingest", task="refine", job="refine", args=("--env", "local"), scheduler="airflow",
                      run_id="scheduled__2026-12-04T07:07:00", try_number=3, error="exit status 1")


def test_a_failed_task_alerts_the_failure_channels_once_per_failure(monkeypatch) -> None:
    monkeypatch.setenv("TEST_FAILURE_SECRET", SECRET)
    with http_receiver() as receiver:
        config = _config(receiver.url, "alerts.failure_channels=[hook, chat]")
        line = report_failure(FAILURE, config)
        report_failure(FAILURE, config)  # the scheduler's callback ran twice
        requests = receiver.wait_for(4, timeout=30)
        hooks = [r for r in requests if r.path == "/hook"]
        slack = [r for r in requests if r.path == "/slack"]
        assert len(hooks) == 2 and len(slack) == 2
        payload = json.loads(hooks[0].body)
        assert payload["kind"] == "task_failure" and payload["task"] == "refine" and payload["tries"] == 3
        assert hooks[0].headers[SIGNATURE_HEADER] == signature(SECRET, hooks[0].body)
        assert hooks[0].headers["Idempotency-Key"] == hooks[1].headers["Idempotency-Key"]
        assert "workflow 'ingest' task 'refine' (refine --env local) failed after 3 tries" in json.loads(
            slack[0].body)["text"]
        assert line.startswith("[lakewatch] scheduled task failed: workflow 'ingest'")

        silent = TaskFailure(**{**FAILURE.__dict__, "task": "quiet", "alert": False})
        report_failure(silent, config)
        without = _config(receiver.url)  # no failure_channels: the log line only
        report_failure(FAILURE, without)
        assert len(receiver.requests) == 4


def test_an_unreachable_channel_is_logged_not_raised(monkeypatch, caplog) -> None:
    monkeypatch.setenv("TEST_FAILURE_SECRET", SECRET)
    config = _config("http://127.0.0.1:9", "alerts.failure_channels=[hook]")
    report_failure(FAILURE, config)
    assert "failure alert to hook not delivered" in caplog.text


def test_unknown_failure_channels_are_refused_naming_them() -> None:
    from lakewatch.alerts.rules import alerts_settings

    with pytest.raises(ConfigError, match=r"alerts.failure_channels: unknown \['pager'\]"):
        alerts_settings(_config("http://127.0.0.1:9", "alerts.failure_channels=[pager]"))
