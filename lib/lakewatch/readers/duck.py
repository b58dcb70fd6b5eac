"""DuckDB connections that read Delta tables: the delta extension loaded by path from the duckdb-extension-delta
package (never downloaded: auto-install and auto-load are off), UTC session time, and the Spark functions the
views use (spark_functions.sql)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import duckdb

from lakewatch.errors import LakewatchError

EXTENSION_FILE = "delta.duckdb_extension"


class DuckDBSetupError(LakewatchError):
    """DuckDB cannot be given the delta extension (package missing, or built for another DuckDB)."""


def delta_extension_path() -> Path:
    """The delta extension file the duckdb-extension-delta package ships for the installed DuckDB version:
    ``<package>/extensions/v<duckdb version>/delta.duckdb_extension`` (the package's __init__ exposes nothing)."""
    try:
        import duckdb_extension_delta
    except ImportError as exc:
        raise DuckDBSetupError(f"the duckdb-extension-delta package is not installed ({exc}); install the version "
                               f"equal to duckdb's ({duckdb.__version__}) from requirements.txt") from None
    folder = Path(duckdb_extension_delta.__file__).parent / "extensions"
    path = folder / f"v{duckdb.__version__}" / EXTENSION_FILE
    if not path.is_file():
        shipped = sorted(p.parent.name for p in folder.glob(f"*/{EXTENSION_FILE}"))
        raise DuckDBSetupError(f"duckdb-extension-delta has no {EXTENSION_FILE} for duckdb {duckdb.__version__} "
                               f"(it ships {shipped or 'none'} under {folder}); install matching versions")
    return path


def connect(database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the delta extension loaded (``delta_scan('<table location>')``), TimeZone UTC, and
    the Spark-named macros of spark_functions.sql; nothing is installed or fetched from the network."""
    con = duckdb.connect(database, config={"autoinstall_known_extensions": False,
                                           "autoload_known_extensions": False})
    try:
        con.execute(f"LOAD '{_quoted(str(delta_extension_path()))}'")
        con.execute("SET TimeZone = 'UTC'")
        con.execute(resources.files(__package__).joinpath("spark_functions.sql").read_text(encoding="utf-8"))
    except Exception:
        con.close()
        raise
    return con


def _quoted(text: str) -> str:
    """`text` for a single-quoted SQL string literal (used only for paths from config, never for user input)."""
    return text.replace("'", "''")


def quote_identifier(name: str) -> str:
    """A DuckDB identifier in double quotes."""
    return '"' + name.replace('"', '""') + '"'
