"""The lakehouse layout: every location for a local, a ``file:`` and a remote table root; bad names; the
launcher's Derby-home entry point; and no other module spelling a working folder's name."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lakewatch import layout
from lakewatch.config import load_config, project_root
from lakewatch.errors import ConfigError
from lakewatch.layout import Lakehouse
from tests.syntax import parse, parse_files

LIB = project_root() / "lib" / "lakewatch"

# Modules another part of the layout refactoring moves onto Lakehouse (tracking, training, tuning); each must
# still spell a working folder's name here, so the integrator empties this set when those branches merge.


def _locations(lake: Lakehouse) -> dict[str, object]:
    return {
        "root": lake.root, "local_root": lake.local_root, "is_local": lake.is_local,
        "database": lake.database("silver"), "table": lake.table("gold.anomaly_scores"),
        "warehouse": lake.warehouse, "metastore": lake.metastore, "derby_home": lake.derby_home,
        "gx": lake.gx, "mlflow": lake.mlflow, "mlflow_db": lake.mlflow_db, "mlflow_artifacts": lake.mlflow_artifacts,
        "checkpoint": lake.checkpoint("score_stream", "q1"), "training": lake.training("r1"),
        "tuning": lake.tuning("r2"), "model": lake.model("r3"),
        "under_relative": lake.under("nab_results"), "under_absolute": lake.under("/elsewhere/results"),
        "under_uri": lake.under("s3a://other/results"),
    }


def _expected(root: str, local: Path | None, uri_root: str) -> dict[str, object]:
    """`root` as given, `local` its local folder (None when remote), `uri_root` the root in its own form."""
    tools = local if local is not None else Path.cwd()
    return {
        "root": uri_root, "local_root": local, "is_local": local is not None,
        "database": f"{uri_root}/silver", "table": f"{uri_root}/gold/anomaly_scores",
        "warehouse": f"{uri_root}/_warehouse", "metastore": tools / "_metastore", "derby_home": tools,
        "gx": tools / "_gx", "mlflow": tools / "_mlflow", "mlflow_db": tools / "_mlflow" / "mlflow.db",
        "mlflow_artifacts": tools / "_mlflow" / "artifacts",
        "checkpoint": f"{uri_root}/_checkpoints/score_stream/q1", "training": f"{uri_root}/_training/r1",
        "tuning": f"{uri_root}/_tuning/r2", "model": f"{uri_root}/_models/r3",
        "under_relative": f"{uri_root}/nab_results", "under_absolute": "/elsewhere/results",
        "under_uri": "s3a://other/results",
    }


@pytest.mark.parametrize(("root", "local", "uri_root"), [
    ("/data/lake/", Path("/data/lake"), "/data/lake"),
    ("file:/data/lake", Path("/data/lake"), "file:/data/lake"),
    ("file:///data/lake/", Path("/data/lake"), "file:///data/lake"),
    ("s3a://bucket/lake", None, "s3a://bucket/lake"),
], ids=["path", "file-uri", "file-uri-slashes", "s3a"])
def test_every_location_of_a_root(root: str, local: Path | None, uri_root: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a remote root keeps its local folders in the working directory
    assert _locations(Lakehouse(root)) == _expected(root, local, uri_root)


def test_config_lakehouse_keeps_a_file_root_as_given() -> None:
    assert load_config("local", ["table_root=file:/data/lake"]).lakehouse == Lakehouse("file:/data/lake")
    assert load_config("local", ["table_root=lake"]).lakehouse.root == str(project_root() / "lake")


@pytest.mark.parametrize("name", ["readings", "a.b.c", ".readings", "silver.", "_mlflow.runs", "silver..x"])
def test_a_bad_table_name_is_a_config_error_naming_it(name: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(name))):
        Lakehouse("/lake").table(name)


def test_a_schema_named_like_a_working_folder_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'_checkpoints' starts with '_'"):
        Lakehouse("/lake").database("_checkpoints")


# ------------------------------------------------------------------------------------- the Derby home entry point
def _derby_home(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = layout.main(["--derby-home", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def no_root_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEWATCH_TABLE_ROOT", raising=False)
    monkeypatch.delenv("LAKEWATCH_ENV", raising=False)


@pytest.mark.usefixtures("no_root_env")
@pytest.mark.parametrize(("argv", "expected"), [
    ((), "{project}/delta_tables"),
    (("--table-root", "/tmp/x"), "/tmp/x"),
    (("--table-root=file:/tmp/y",), "/tmp/y"),
    (("--set", "table_root=/tmp/s", "--set", "synthetic.series=3"), "/tmp/s"),
    (("--set", "table_root=/tmp/s", "--table-root", "/tmp/t"), "/tmp/t"),  # --table-root wins, as in cli
    (("--env", "cluster", "--set", "table_root=hdfs:///lake"), "{cwd}"),  # remote: the working directory
    # the job's own options, --help included, are not the launcher's: train's --table is not --table-root
    (("SELECT 1", "--limit", "5", "--help", "--table", "gold.x", "--table-root", "/tmp/z"), "/tmp/z"),
], ids=["default", "table-root", "file-root", "set", "table-root-over-set", "remote", "job-options"])
def test_derby_home_follows_the_jobs_table_root(argv: tuple[str, ...], expected: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    want = expected.format(project=project_root(), cwd=tmp_path)
    assert _derby_home(capsys, *argv) == (0, f"{want}\n", "")


@pytest.mark.usefixtures("no_root_env")
def test_derby_home_reads_the_table_root_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAKEWATCH_TABLE_ROOT", "/tmp/from-env")
    assert _derby_home(capsys) == (0, "/tmp/from-env\n", "")
    assert _derby_home(capsys, "--table-root", "/tmp/arg") == (0, "/tmp/arg\n", "")


@pytest.mark.usefixtures("no_root_env")
def test_derby_home_of_a_config_that_does_not_load_is_an_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _derby_home(capsys, "--env", "nope")
    assert (status, out) == (1, "")
    assert "environment 'nope'" in err
    with pytest.raises(SystemExit) as exited:
        layout.main(["--table-root", "/tmp/x"])
    assert exited.value.code == 2


def test_the_module_entry_point_prints_the_derby_home_without_importing_spark(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "LAKEWATCH_HOME": str(project_root()), "PYTHONPATH": str(LIB.parent)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lakewatch.layout", "--derby-home",
                           "--table-root", str(tmp_path / "lake")], env=env, capture_output=True, text=True,
                          check=True)
    assert done.stdout == f"{tmp_path / 'lake'}\n"
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "lakewatch.config" in imported and "pyspark" not in imported


# ------------------------------------------------------------------------------------- one module names the folders
def _string_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string constant of a module except docstrings, with its line (f-string parts included)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _folder_spellings() -> dict[str, list[str]]:
    """Modules under lib/lakewatch (but layout.py) whose string literals name a working folder, and where."""
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, layout.WORKING_FOLDERS)) + r")(?![\w-])")
    found: dict[str, list[str]] = {}
    paths = [path for path in sorted(LIB.rglob("*.py")) if path.relative_to(LIB).as_posix() != "layout.py"]
    for path, tree in zip(paths, parse_files(paths), strict=True):
        module = path.relative_to(LIB).as_posix()
        for line, text in _string_literals(tree):
            for match in pattern.finditer(text):
                found.setdefault(module, []).append(f"line {line}: {match.group(1)!r}")
    return found


def test_the_literal_scan_sees_code_and_skips_docstrings() -> None:
    tree = parse('"""Under <root>/_mlflow."""\ndef f(root):\n    """_gx."""\n    return f"{root}/_checkpoints/x"\n')
    assert _string_literals(tree) == [(4, "/_checkpoints/x")]


def test_only_layout_spells_the_working_folder_names() -> None:
    found = _folder_spellings()
    assert found == {}, found
