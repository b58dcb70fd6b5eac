"""The API on a lakehouse with no table yet, served by uvicorn in a thread of the test on a free loopback port, with
no API key configured: every answer says what is missing and which job creates it, and the write endpoints refuse
(403) because no key is set."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from lakewatch.api import create_app
from tests.conftest import make_config
from tests.dashboard.server import free_port

UNSET_KEY_ENV = "LAKEWATCH_TEST_KEY_NOBODY_SETS"


@pytest.fixture(scope="module")
def empty_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    config = make_config(tmp_path_factory.mktemp("empty-api") / "lake", f"api.key_env={UNSET_KEY_ENV}")
    server = uvicorn.Server(uvicorn.Config(create_app(config), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, name="empty-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.started, "uvicorn did not start within 60 s"
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(30)


def test_an_empty_lakehouse_is_explained(empty_api: str) -> None:
    with httpx.Client(base_url=empty_api, timeout=60) as client:
        health = client.get("/health").json()
        anomalies = client.get("/anomalies").json()
        series = client.get("/series/pump/scores")
        event = client.get("/anomalies/0123456789abcdef")
        metrics = client.get("/metrics").text
    assert health["status"] == "degraded"
    assert not any(t["exists"] for t in health["tables"].values())
    assert "score_stream" in health["tables"]["gold_anomalies"]["hint"]
    assert "pipeline" in health["tables"]["silver_readings"]["hint"]
    assert "the stream has scored nothing yet" in health["problems"]
    assert (anomalies["items"], anomalies["total"]) == ([], 0)
    assert "gold.anomalies does not exist yet" in anomalies["note"] and "score_stream" in anomalies["note"]
    assert series.status_code == 404 and series.json()["field"] == "series_id"
    assert "does not exist yet" in series.json()["detail"]
    assert event.status_code == 404 and event.json()["field"] == "event_id"
    names = {f.name for f in text_string_to_metric_families(metrics)}
    assert "lakewatch_table_exists" in names and "lakewatch_anomalies_opened" not in names


@pytest.mark.parametrize("path", ["/score", "/feedback"])
def test_write_endpoints_refuse_when_no_key_is_configured(empty_api: str, path: str) -> None:
    body = {"readings": [{"series_id": "s", "timestamp": "2026-03-01T00:00:00Z", "value": 1}]} if path == "/score" \
        else {"event_id": "0123456789abcdef", "label": "true_positive"}
    answer = httpx.post(f"{empty_api}{path}", json=body, headers={"X-API-Key": "anything"}, timeout=60)
    assert answer.status_code == 403
    assert answer.json()["field"] == "X-API-Key" and UNSET_KEY_ENV in answer.json()["detail"]
