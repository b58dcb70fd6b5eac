"""Databricks source-format notebooks outside Databricks: parameters, the session, and a cell-by-cell runner.

A notebook (``# Databricks notebook source``, cells separated by ``# COMMAND ----------``, Markdown cells as
``# MAGIC %md`` lines) reads its parameters with :func:`notebook_params`: through ``dbutils.widgets`` when the
notebook namespace has ``dbutils`` (Databricks, or this module's runner), from the defaults otherwise.
:func:`run_notebook` executes the code cells in order in one namespace with ``spark``, ``display`` and
``dbutils`` stand-ins, and raises :class:`NotebookCellError` naming the failing cell's index and source.

    python -m lakewatch.notebooks notebooks/03_train_and_register.py --param epochs=1 --param env=local
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakewatch.errors import LakewatchError

HEADER = "# Databricks notebook source"
SEPARATOR = "# COMMAND ----------"
MAGIC = "# MAGIC"


class NotebookError(LakewatchError):
    """A file that is not a Databricks source-format notebook, or a bad parameter."""


class NotebookCellError(NotebookError):
    """A code cell raised: `index` is the cell's 0-based position among all cells, `source` its code."""

    def __init__(self, notebook: str, index: int, source: str, cause: BaseException) -> None:
        self.notebook, self.index, self.source, self.cause = notebook, index, source, cause
        detail = "".join(traceback.format_exception_only(type(cause), cause)).strip()
        super().__init__(f"{notebook}: cell {index} failed: {detail}\n--- cell {index} ---\n{source.rstrip()}")


@dataclass(frozen=True)
class Cell:
    """One notebook cell: its 0-based index, its text, and whether it is a magic (%md, %sql...) cell."""

    index: int
    source: str

    @property
    def magic(self) -> str:
        """The magic command of a ``# MAGIC %...`` cell ("md", "sql", "run"...), "" for a code cell."""
        first = next((line for line in self.source.splitlines() if line.strip()), "")
        if not first.startswith(MAGIC):
            return ""
        rest = first[len(MAGIC):].strip()
        return rest[1:].split()[0] if rest.startswith("%") and len(rest) > 1 else ""

    @property
    def is_code(self) -> bool:
        """A cell the runner executes: Python with at least one statement line."""
        return not self.magic and any(line.strip() and not line.lstrip().startswith("#")
                                      for line in self.source.splitlines())


def parse_notebook(path: str | Path) -> list[Cell]:
    """The cells of a Databricks source-format notebook; NotebookError if the first line is not the header."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"notebook {path}: no such file")
    text = path.read_text()
    first, _, body = text.partition("\n")
    if first.strip() != HEADER:
        raise NotebookError(f"notebook {path}: first line is {first[:60]!r}; expected {HEADER!r}")
    chunks: list[list[str]] = [[]]
    for line in body.splitlines():
        if line.strip() == SEPARATOR:
            chunks.append([])
        else:
            chunks[-1].append(line)
    return [Cell(i, "\n".join(lines).strip("\n") + "\n") for i, lines in enumerate(chunks)]


# ------------------------------------------------------------------------------------------------ parameters
def notebook_params(namespace: Mapping[str, Any], **defaults: str) -> dict[str, str]:
    """The notebook's parameters: one text widget per default when ``dbutils`` is in `namespace` (its value
    wins), the defaults otherwise. Call it as ``notebook_params(globals(), table_root="", env="local")``."""
    dbutils = namespace.get("dbutils")
    if dbutils is None:
        return {name: str(value) for name, value in defaults.items()}
    params = {}
    for name, value in defaults.items():
        dbutils.widgets.text(name, str(value), name)
        params[name] = dbutils.widgets.get(name)
    return params


def notebook_config(params: Mapping[str, str]):
    """The lakewatch config a notebook reads: environment ``params["env"]``, table root ``params["table_root"]``
    when it is not empty (else the config's, or $LAKEWATCH_TABLE_ROOT), then ``params["overrides"]``: config
    overrides ``key.sub=value`` separated by ";" (what a job takes as command-line overrides)."""
    from lakewatch.config import load_config

    overrides = [f"table_root={params['table_root']}"] if params.get("table_root") else []
    overrides += [item.strip() for item in str(params.get("overrides", "")).split(";") if item.strip()]
    return load_config(params.get("env") or None, overrides)


def notebook_spark(config, app_name: str = "lakewatch-notebook"):
    """The active session (Databricks' ``spark``, a test's) untouched, or a new lakewatch session."""
    from pyspark.sql import SparkSession

    from lakewatch.spark import get_spark

    return SparkSession.getActiveSession() or get_spark(app_name, config)


def as_int(params: Mapping[str, str], name: str) -> int | None:
    """An integer parameter, None when empty; NotebookError naming it when it is not an integer."""
    text = str(params.get(name, "")).strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise NotebookError(f"parameter {name}={text!r}: expected an integer") from None


def as_float(params: Mapping[str, str], name: str) -> float | None:
    """A number parameter, None when empty; NotebookError naming it when it is not a number."""
    text = str(params.get(name, "")).strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise NotebookError(f"parameter {name}={text!r}: expected a number") from None


def as_list(params: Mapping[str, str], name: str) -> list[str]:
    """A comma-separated parameter as a list of its non-empty items."""
    return [item.strip() for item in str(params.get(name, "")).split(",") if item.strip()]


# ------------------------------------------------------------------------------------------------ stand-ins
class LocalWidgets:
    """``dbutils.widgets`` outside Databricks: text/dropdown/combobox register defaults, get returns the value
    given to the runner, else the default; get of an undeclared widget raises like Databricks does."""

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        self._given = {k: str(v) for k, v in (values or {}).items()}
        self.defaults: dict[str, str] = {}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self.defaults[name] = str(defaultValue)

    def dropdown(self, name: str, defaultValue: str, choices: list[str], label: str | None = None) -> None:
        self.text(name, defaultValue, label)

    combobox = dropdown

    def get(self, name: str) -> str:
        if name in self._given:
            return self._given[name]
        if name not in self.defaults:
            raise NotebookError(f"widget {name!r} is not defined (defined: {sorted(self.defaults)})")
        return self.defaults[name]

    def unused(self) -> list[str]:
        """Given values no widget asked for (a misspelt parameter)."""
        return sorted(set(self._given) - set(self.defaults))


@dataclass
class LocalDbutils:
    """The part of ``dbutils`` lakewatch notebooks use: ``widgets``."""

    widgets: LocalWidgets = field(default_factory=LocalWidgets)


@dataclass
class Display:
    """``display`` outside Databricks: prints a Spark or pandas DataFrame and keeps what it showed. Anything else
    is a NotebookError, so that a notebook that would fail in Databricks fails here too."""

    rows: int = 20
    shown: list[Any] = field(default_factory=list)

    def __call__(self, obj: Any, *args: Any, **kwargs: Any) -> None:
        if hasattr(obj, "show") and hasattr(obj, "schema"):  # a Spark DataFrame
            obj.show(self.rows, truncate=False)
        elif hasattr(obj, "to_string") and hasattr(obj, "head"):  # pandas
            print(obj.head(self.rows).to_string())
        else:
            raise NotebookError(f"display() got a {type(obj).__name__}; expected a Spark or pandas DataFrame")
        self.shown.append(obj)


# ------------------------------------------------------------------------------------------------- runner
def run_notebook(path: str | Path, spark: Any = None, params: Mapping[str, Any] | None = None,
                 display: Callable[..., Any] | None = None, on_cell: Callable[[Cell], None] | None = None
                 ) -> MutableMapping[str, Any]:
    """Execute the notebook's code cells in order in one namespace and return the namespace.

    The namespace holds ``spark`` (when given), ``display`` (a :class:`Display` unless given) and ``dbutils``
    (widgets answer from `params`). Magic cells (%md, ...) are skipped. A cell that raises stops the run with
    :class:`NotebookCellError` (index and source); a parameter that no widget declared is a NotebookError.
    """
    cells = parse_notebook(path)
    dbutils = LocalDbutils(LocalWidgets(params))
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(path), "dbutils": dbutils,
                                 "display": display or Display()}
    if spark is not None:
        namespace["spark"] = spark
    for cell in cells:
        if not cell.is_code:
            continue
        if on_cell:
            on_cell(cell)
        try:
            exec(compile(cell.source, f"{path}#cell{cell.index}", "exec"), namespace)
        except Exception as exc:
            raise NotebookCellError(str(path), cell.index, cell.source, exc) from exc
    if unused := dbutils.widgets.unused():
        raise NotebookError(f"{path}: parameter(s) {unused} match no widget "
                            f"(widgets: {sorted(dbutils.widgets.defaults)})")
    return namespace


def main(argv: list[str] | None = None) -> int:
    """Run a notebook locally: ``python -m lakewatch.notebooks NOTEBOOK [--param name=value ...]``."""
    parser = argparse.ArgumentParser(prog="python -m lakewatch.notebooks", description=main.__doc__)
    parser.add_argument("notebook", help="a Databricks source-format notebook (.py)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a widget value")
    args = parser.parse_args(argv)
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"--param {item!r}: expected NAME=VALUE")
        params[name] = value
    try:
        run_notebook(args.notebook, params=params, on_cell=lambda c: print(f"--- cell {c.index}", flush=True))
    except NotebookError as exc:
        print(f"lakewatch notebooks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
