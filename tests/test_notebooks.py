"""Every notebook runs cell by cell (lakewatch.notebooks.run_notebook) against one small lakehouse, in the shared
test session, in the order a person would open them: explore, evaluate on NAB, train, stream, investigate."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from lakewatch.config import load_config
from lakewatch.notebooks import Display, NotebookCellError, NotebookError, parse_notebook, run_notebook
from lakewatch.pipeline import run_pipeline
from lakewatch.progress import Progress
from lakewatch.sources import build_source
from tests.conftest import REPO, nab_dir

NOTEBOOKS = {p.name: p for p in sorted((REPO / "notebooks").glob("*.py"))}
NAB_FILES = "artificialWithAnomaly/art_daily_jumpsup.csv,realKnownCause/nyc_taxi.csv"


@pytest.fixture(scope="module")
def small_lake(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two synthetic series of 300 points through ingest, refine, validation and features."""
    root = tmp_path_factory.mktemp("notebook-lake")
    config = load_config("local", [f"table_root={root}", "synthetic.series=2", "synthetic.points=300",
                                   "quality.min_rows_per_series=10"])
    run_pipeline(spark, config, build_source(config, "synthetic"), "notebook", Progress("t", stream=io.StringIO()))
    return root


def _run(name: str, spark, lake: Path, **params: str):
    display = Display()
    namespace = run_notebook(NOTEBOOKS[name], spark, {"table_root": str(lake), "env": "local", **params}, display)
    return namespace, display


def test_every_notebook_is_in_databricks_source_format_and_tested_here() -> None:
    assert set(NOTEBOOKS) == {"01_explore_lakehouse.py", "02_evaluate_detectors_on_nab.py",
                              "03_train_and_register.py", "04_watch_the_stream.py", "05_investigate_an_anomaly.py"}
    for path in NOTEBOOKS.values():
        cells = parse_notebook(path)
        assert cells[0].magic == "md" and sum(c.is_code for c in cells) >= 3, path.name
        assert not any(c.magic == "run" for c in cells), f"{path.name}: no %run of configuration notebooks"


def test_01_explore(spark, small_lake: Path) -> None:
    ns, display = _run("01_explore_lakehouse.py", spark, small_lake)
    counts = {r["table"]: r["rows"] for r in ns["layer_counts"].collect()}
    assert counts["bronze.readings"] == counts["silver.readings"] == 600
    assert len(display.shown) == 5  # counts, quarantine, validations, one series and its labels
    assert ns["validations"].first()["success"] is True


def test_02_evaluate_on_nab(spark) -> None:
    corpus = nab_dir()
    ns = run_notebook(NOTEBOOKS["02_evaluate_detectors_on_nab.py"], spark,
                      {"corpus": str(corpus), "detectors": "robust_zscore,windowed_gaussian", "files": NAB_FILES})
    scores = ns["nab_scores"]
    assert list(scores["detector"]).count("robust_zscore") == 1 and len(scores) == 2
    assert set(scores.columns) >= {"standard", "reward_low_FP_rate", "reward_low_FN_rate", "points"}
    assert scores["points"].eq(4032 + 10320).all()  # the two files' rows
    assert scores["standard"].between(-100, 100).all() and scores["standard"].nunique() == 2


def test_03_train_and_register(spark, small_lake: Path) -> None:
    ns, _ = _run("03_train_and_register.py", spark, small_lake, epochs="1", window="16", num_processes="1",
                       corpus=str(nab_dir()), nab_files="artificialWithAnomaly/art_daily_jumpsup.csv")
    result = ns["result"]
    assert result.params["series"] == 2 and len(result.metrics["loss"]) == 1 and result.windows > 0
    assert (Path(ns["artifacts"])).is_dir()
    assert set(ns["scores"]) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert ns["registered"]["model_uri"] and ns["registered"]["version"] >= 1


def test_04_watch_the_stream(spark, small_lake: Path) -> None:
    ns, display = _run("04_watch_the_stream.py", spark, small_lake, detector="robust_zscore", threshold="0.9",
                       overrides="streaming.state_partitions=2; streaming.explain.background=8")
    assert ns["settings"].state_partitions == 2 and ns["settings"].explain["background"] == 8
    report = ns["report"]
    assert report.scored == 600 and report.batches >= 1 and report.stopped
    progress = display.shown[0]
    assert isinstance(progress, pd.DataFrame) and int(progress["scored"].sum()) == 600
    lag = ns["lag"].collect()
    assert len(lag) == 2 and all(r["waiting_rows"] == 0 and r["lag_seconds"] == 0 for r in lag)
    latest = ns["latest"].collect()
    assert latest and all(r["peak_score"] >= 0.9 for r in latest)


def test_05_investigate(spark, small_lake: Path) -> None:
    """Runs after the stream notebook (pytest keeps file order): gold.anomalies has events with SHAP inputs."""
    ns, _ = _run("05_investigate_an_anomaly.py", spark, small_lake, before="10", after="5")
    event = ns["event"]
    context = ns["context"].toPandas()
    inside = context[context["in_event"]]
    assert len(inside) == event["points"] + int((~inside["flag"]).sum()) and inside["flag"].any()
    assert context["score"].max() == pytest.approx(event["peak_score"])
    assert len(context[context["timestamp"] < event["start"]]) <= 10
    attributions = ns["attributions"]
    assert len(attributions) > 0 and attributions["shap"].abs().is_monotonic_decreasing
    for row in ns["similar"].collect():
        assert row["end"] < event["start"] and row["distance"] >= 0
    # Asking for one series' events picks an event of that series.
    ns2, _ = _run("05_investigate_an_anomaly.py", spark, small_lake, series_id=event["series_id"])
    assert ns2["event"]["series_id"] == event["series_id"]


def test_a_failing_cell_fails_with_its_index_and_source(spark, small_lake: Path, tmp_path: Path) -> None:
    notebook = tmp_path / "broken.py"
    notebook.write_text("# Databricks notebook source\n# MAGIC %md # Broken\n\n# COMMAND ----------\n\n"
                        "from lakewatch.notebooks import notebook_params\n"
                        "params = notebook_params(globals(), table='silver.readings')\n\n"
                        "# COMMAND ----------\n\nrows = spark.table(params['table']).count()\n\n"
                        "# COMMAND ----------\n\nmissing = spark.table('no_such_schema.no_such_table').count()\n\n"
                        "# COMMAND ----------\n\nnever = True\n")
    with pytest.raises(NotebookCellError) as failure:
        run_notebook(notebook, spark, {"table": "silver.readings"})
    assert failure.value.index == 3 and "no_such_schema.no_such_table" in failure.value.source
    assert re.search(r"cell 3 failed: .*(TABLE_OR_VIEW_NOT_FOUND|no_such_table)", str(failure.value))
    with pytest.raises(NotebookError, match=r"parameter\(s\) \['tabel'\] match no widget"):
        run_notebook(_first_cells(notebook, tmp_path), spark, {"table": "silver.readings", "tabel": "x"})
    with pytest.raises(NotebookError, match="expected '# Databricks notebook source'"):
        (tmp_path / "plain.py").write_text("print(1)\n")
        run_notebook(tmp_path / "plain.py")


def _first_cells(notebook: Path, tmp_path: Path) -> Path:
    text = notebook.read_text()
    ok = tmp_path / "ok.py"
    ok.write_text(text[: text.index("# COMMAND ----------\n\nmissing")])
    return ok


def test_the_command_line_runs_a_notebook_and_reports_a_failing_cell(tmp_path: Path, capsys) -> None:
    from lakewatch.notebooks import main

    notebook = tmp_path / "tiny.py"
    notebook.write_text("# Databricks notebook source\n# MAGIC %md # Tiny\n\n# COMMAND ----------\n\n"
                        "from lakewatch.notebooks import as_int, notebook_params\n"
                        "params = notebook_params(globals(), n='2')\n\n# COMMAND ----------\n\n"
                        "print(1 / (as_int(params, 'n') - 3))\n\n# COMMAND ----------\n\ndisplay(params)\n")
    assert main([str(notebook)]) == 1  # display() of a dict: refused, as in Databricks
    out = capsys.readouterr()
    assert "--- cell 1" in out.out and "-1.0" in out.out  # cell 0 is Markdown: skipped
    assert "cell 3 failed: lakewatch.notebooks.NotebookError: display() got a dict" in out.err
    assert main([str(notebook), "--param", "n=3"]) == 1
    assert "cell 2 failed: ZeroDivisionError" in capsys.readouterr().err
    assert main([str(notebook), "--param", "n=x"]) == 1
    assert "parameter n='x': expected an integer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(notebook), "--param", "n"])
