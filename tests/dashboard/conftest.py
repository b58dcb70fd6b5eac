"""Fixtures of the dashboard tests: a lakehouse with known anomalies and an empty one, each built once per module,
and the job options that point the app at one of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakewatch.config import LakewatchConfig
from tests.conftest import make_config
from tests.dashboard.lakehouse import write_known_lakehouse


def job_options(config: LakewatchConfig) -> list[str]:
    """The dashboard job's options selecting `config`'s lakehouse (its table root and table names)."""
    sets = [item for key, name in config.tables.all().items() for item in ("--set", f"tables.{key}={name}")]
    return ["--table-root", config.table_root, *sets]


@pytest.fixture(scope="module")
def known_lake(tmp_path_factory: pytest.TempPathFactory) -> LakewatchConfig:
    """A lakehouse holding the rows of tests/dashboard/lakehouse.py."""
    config = make_config(tmp_path_factory.mktemp("known") / "lake")
    write_known_lakehouse(config)
    return config


@pytest.fixture(scope="module")
def empty_lake(tmp_path_factory: pytest.TempPathFactory) -> LakewatchConfig:
    """A lakehouse with no table at all (its root does not exist yet)."""
    return make_config(Path(tmp_path_factory.mktemp("empty")) / "lake")
