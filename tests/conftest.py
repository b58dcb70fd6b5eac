"""One local SparkSession for the whole test run, and a private lakehouse (config + table root) per test."""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import pytest

from lakewatch.config import LakewatchConfig, load_config, project_root

# Naive datetimes in tests mean UTC, whatever the machine's zone.
os.environ["TZ"] = "UTC"
time.tzset()

REPO = project_root()
SHARED_NAB = (REPO / ".." / "shared" / "nab").resolve()
_counter = itertools.count()


def nab_dir() -> Path:
    """The shared NAB corpus; tests that need it skip with a clear message when ../shared is absent."""
    if not (SHARED_NAB / "data").is_dir():
        pytest.skip(f"the NAB corpus is not at {SHARED_NAB} (../shared is absent)")
    return SHARED_NAB


def make_config(root: Path, *overrides: str) -> LakewatchConfig:
    """A config whose tables live under `root` in schemas of their own (t<N>_bronze, ...)."""
    prefix = f"t{next(_counter)}"
    names = load_config("local").tables.all()
    table_overrides = [f"tables.{key}={prefix}_{name}" for key, name in names.items()]
    return load_config("local", [f"table_root={root}", *table_overrides, *overrides])


@pytest.fixture(scope="session", autouse=True)
def _stop_catalog_servers(tmp_path_factory: pytest.TempPathFactory):
    """At the end of the run, stop every catalog server that a session or job started on a temporary root."""
    yield
    from lakewatch.catalog import derby
    from lakewatch.layout import Lakehouse

    for record in tmp_path_factory.getbasetemp().rglob(derby.SERVER_FILE):
        derby.stop_server(Lakehouse(str(record.parent.parent)))


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory):
    """local[2], 2 shuffle partitions, UI off, Delta on, metastore and warehouse in a temporary folder."""
    from lakewatch.spark import get_spark

    root = tmp_path_factory.mktemp("session-lake")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    config = load_config("local", [f"table_root={root}"])
    session = get_spark("lakewatch-tests", config, {
        "spark.master": "local[2]",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.ui.enabled": "false",
        "spark.databricks.delta.snapshotPartitions": "1",
        "spark.sql.adaptive.coalescePartitions.initialPartitionNum": "2",
    })
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> LakewatchConfig:
    """A fresh, empty lakehouse config for one test."""
    return make_config(tmp_path / "lake")
