"""One real API server for the tests of this package: ``./spark-submit.sh api`` on a free loopback port, serving a
lakehouse of known rows (tests/dashboard/lakehouse.py, plus silver readings the stream has not scored yet and a
small ops.alerts outbox), with an API key in its environment; stopped by its pid at the end."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakewatch.config import LakewatchConfig, project_root
from tests.conftest import make_config
from tests.dashboard.conftest import job_options
from tests.dashboard.lakehouse import POINTS, START, STEP, write_known_lakehouse
from tests.dashboard.server import free_port, stop

API_KEY = "test-key-0123456789"
KEY_ENV = "LAKEWATCH_TEST_API_KEY"
#: silver.readings rows written after the stream's newest scored one: the stream lags by UNSCORED * STEP.
UNSCORED = 3
#: ops.alerts rows (channel, status) of the outbox the alerts engineer's contract describes.
ALERTS = [("webhook", "sent"), ("webhook", "sent"), ("webhook", "failed"), ("slack", "sent"), ("slack", "pending"),
          ("email", "failed"), ("email", "suppressed")]


@dataclass(frozen=True)
class Api:
    """The running server: its URL, process and lakehouse."""

    url: str
    process: subprocess.Popen
    config: LakewatchConfig
    log: Path

    def client(self, key: str | None = API_KEY) -> httpx.Client:
        """An HTTP client of the server (with the API key unless `key` is None)."""
        return httpx.Client(base_url=self.url, timeout=60, headers={"X-API-Key": key} if key else {})


def write_alerts(config: LakewatchConfig) -> None:
    """A small ops.alerts table in the alerts outbox's columns."""
    n = len(ALERTS)
    created = [START + timedelta(hours=i) for i in range(n)]
    table = pa.table({
        "alert_id": [f"a{i}" for i in range(n)], "kind": ["anomaly"] * n, "event_id": ["0" * 16] * n,
        "series_id": ["machine_temp"] * n, "rule": ["default"] * n, "channel": [c for c, _ in ALERTS],
        "severity": ["critical"] * n, "status": [s for _, s in ALERTS], "attempts": pa.array([1] * n, pa.int32()),
        "last_error": pa.array([None] * n, pa.string()), "created_at": pa.array(created, pa.timestamp("us", "UTC")),
        "sent_at": pa.array([t if s == "sent" else None for t, (_, s) in zip(created, ALERTS, strict=True)],
                            pa.timestamp("us", "UTC"))})
    write_deltalake(config.lakehouse.table(config.tables.ops_alerts), table, mode="overwrite")


def write_unscored_readings(config: LakewatchConfig) -> None:
    """UNSCORED machine_temp readings after the newest scored timestamp."""
    stamps = [START + STEP * (POINTS - 1 + i) for i in range(1, UNSCORED + 1)]
    from lakewatch.readers import LakeReader

    with LakeReader(config) as reader:
        schema = reader.table("silver_readings").schema
    write_deltalake(config.lakehouse.table(config.tables.silver_readings), pa.table({
        "series_id": ["machine_temp"] * UNSCORED, "channel": ["value"] * UNSCORED,
        "timestamp": stamps, "value": [21.0] * UNSCORED, "source": ["synthetic"] * UNSCORED,
        "ingest_id": ["ingest-2"] * UNSCORED}, schema=schema), mode="append")


#: The detector registered as the MLflow champion of the test lakehouse (not the default's parameters).
CHAMPION = ("lakewatch_nab", {"suppress_rows": 80})


def register_champion(config: LakewatchConfig) -> None:
    """Log CHAMPION's detector to the lakehouse's MLflow store and make it the champion."""
    import mlflow

    from lakewatch import tracking
    from lakewatch.detectors import get_detector
    from tests.tracking.conftest import make_readings

    with tracking.start_run(config, "test") as run:
        uri = tracking.log_detector(get_detector(*CHAMPION, catalog=config.detectors), make_readings({"ex": 30}))
        mlflow.log_metric(tracking.NAB_METRIC, 60.0)
    assert tracking.promote_if_better(config, run.info.run_id, uri, 60.0) == (1, True)


def start_api(config: LakewatchConfig, log: Path, env: dict[str, str], *options: str) -> tuple[subprocess.Popen, str]:
    """``./spark-submit.sh api`` on a free port for `config`'s lakehouse, once /health answers."""
    port = free_port()
    env = {**os.environ, "LAKEWATCH_VENV": os.environ.get("LAKEWATCH_VENV", str(Path(os.sys.prefix))), **env}
    command = [str(project_root() / "spark-submit.sh"), "api", "--port", str(port), *job_options(config), *options]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=project_root())
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"the API did not answer on {url} within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="package")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The API serving the known lakehouse, key in $LAKEWATCH_TEST_API_KEY, metrics read at every scrape."""
    folder = tmp_path_factory.mktemp("api")
    config = make_config(folder / "lake")
    write_known_lakehouse(config)
    write_unscored_readings(config)
    write_alerts(config)
    register_champion(config)
    log = folder / "api.log"
    process, url = start_api(config, log, {KEY_ENV: API_KEY}, "--set", f"api.key_env={KEY_ENV}",
                             "--set", "api.metrics_cache_seconds=0", "--set", "api.readings_around=4",
                             "--set", "api.max_body_bytes=65536", "--set", "api.max_points=100")
    try:
        yield Api(url, process, config, log)
    finally:
        stop(process)
