"""The evaluation modules the package docstring calls Spark-free import neither pyspark nor a lakewatch module
that does (the detectors, config and errors, and each other, only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import lakewatch.evaluation
from tests.syntax import parse_files

FOLDER = Path(lakewatch.evaluation.__file__).parent
SPARK_FREE = ("__init__", "corpus", "nab_files", "nab_scoring", "nab_threshold", "in_process")
ALLOWED = ("lakewatch.detectors", "lakewatch.config", "lakewatch.errors", "lakewatch.layout",
           *(f"lakewatch.evaluation.{name}" for name in SPARK_FREE if name != "__init__"))


def imported_modules(path: Path) -> list[str]:
    """Every absolute module `path` imports, function-level imports included."""
    found = []
    for node in ast.walk(parse_files([path])[0]):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import; lakewatch imports absolutely"
            found.append(node.module or "")
    return found


def _bad(module: str) -> bool:
    if module == "pyspark" or module.startswith("pyspark."):
        return True
    return module.startswith("lakewatch") and not any(module == a or module.startswith(a + ".") for a in ALLOWED)


def test_the_docstring_lists_the_spark_free_modules_and_spark_run_apart() -> None:
    doc = lakewatch.evaluation.__doc__ or ""
    for name in SPARK_FREE[1:]:
        assert f"``{name}``" in doc.split("On Spark:")[0], name
    assert "``spark_run``" in doc.split("On Spark:")[1]
    assert any(m.startswith("pyspark") for m in imported_modules(FOLDER / "spark_run.py"))


@pytest.mark.parametrize("name", SPARK_FREE)
def test_spark_free_modules_import_no_spark(name: str) -> None:
    bad = [module for module in imported_modules(FOLDER / f"{name}.py") if _bad(module)]
    assert not bad, f"lakewatch.evaluation.{name} imports {bad}"
