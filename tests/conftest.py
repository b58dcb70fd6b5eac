"""One local SparkSession for the whole test run, and a private lakehouse (config + table root) per test."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pytest

from lakewatch.config import LakewatchConfig, load_config, project_root
from lakewatch.evaluation.corpus import NabCorpus, default_corpus_path

# Naive datetimes in tests mean UTC, whatever the machine's zone.
os.environ["TZ"] = "UTC"
time.tzset()

REPO = project_root()
SHARED_NAB = default_corpus_path()
_counter = itertools.count()


def nab_dir() -> Path:
    """The shared NAB corpus; tests that need it skip with a clear message when it is absent."""
    if not NabCorpus(SHARED_NAB).data_dir.is_dir():
        pytest.skip(f"the NAB corpus is not at {SHARED_NAB} (../shared is absent; LAKEWATCH_NAB_DIR names another)")
    return SHARED_NAB


def nab_subset(root: Path, keys: Iterable[str], data: Mapping[str, pd.DataFrame] | None = None) -> NabCorpus:
    """A NAB checkout at `root` holding only the shared corpus' files `keys`, their windows and NAB's profiles;
    `data` replaces a file's rows by the given frame (timestamp, value)."""
    shared, corpus = NabCorpus(nab_dir()), NabCorpus(root)
    windows = json.loads(shared.windows_file.read_text())
    for key in keys:
        corpus.data_file(key).parent.mkdir(parents=True, exist_ok=True)
        if data is not None and key in data:
            data[key].to_csv(corpus.data_file(key), index=False)
        else:
            shutil.copy(shared.data_file(key), corpus.data_file(key))
    for path in (corpus.windows_file, corpus.profiles_file):
        path.parent.mkdir(parents=True, exist_ok=True)
    corpus.windows_file.write_text(json.dumps({key: windows[key] for key in keys}))
    shutil.copy(shared.profiles_file, corpus.profiles_file)
    return corpus


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
