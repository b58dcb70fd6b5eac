"""Notebooks run top to bottom against a small lakehouse, in the shared test session."""

from __future__ import annotations

import io
import runpy
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from lakewatch.config import load_config
from lakewatch.pipeline import run_pipeline
from lakewatch.progress import Progress
from lakewatch.sources import build_source
from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.py"))


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("notebook-lake")
    config = load_config("local", [f"table_root={root}", "synthetic.series=2", "synthetic.points=200",
                                   "quality.min_rows_per_series=10"])
    run_pipeline(spark, config, build_source(config, "synthetic"), "notebook", Progress("t", stream=io.StringIO()))
    return root


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook: Path, small_lake: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert notebook.read_text().startswith("# Databricks notebook source")
    monkeypatch.setenv("LAKEWATCH_TABLE_ROOT", str(small_lake))
    out = io.StringIO()
    with redirect_stdout(out):
        namespace = runpy.run_path(str(notebook), run_name="__main__")
    if "layer_counts" in namespace:
        counts = {r["table"]: r["rows"] for r in namespace["layer_counts"].collect()}
        assert counts["silver.readings"] == 400 and counts["bronze.readings"] == 400
    assert "series_id" in out.getvalue()
