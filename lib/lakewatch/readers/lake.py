"""LakeReader: the lakehouse's Delta tables and curated views as Arrow tables, without Spark or a JVM.

Tables are read with deltalake (``table``), or queried with DuckDB (``sql``, ``view``), where every lakewatch table
is a view under its catalog name (``gold.anomalies`` is ``SELECT * FROM delta_scan('<its location>')``) and every
curated view of lakewatch.views sits beside it (``gold.open_anomalies``). Queries take parameters (``?``); nothing
a user typed is pasted into SQL.

A table that does not exist yet (an empty lakehouse) is an empty relation of its schema in DuckDB, so views give
empty results, and :meth:`LakeReader.explain` says which job creates what is missing; ``table()`` raises
TableNotFound with that hint. Tables that appear later are picked up by the next query.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable

from lakewatch import views as lw_views
from lakewatch.config import LakewatchConfig
from lakewatch.errors import NoSuchSeries, TableNotFound
from lakewatch.readers import duck
from lakewatch.readers.duck import quote_identifier

EXPLANATION_KEY = b"lakewatch.explanation"
_PIPELINE = "run ./spark-submit.sh pipeline (ingest, refine, validate, features) to create it"
_STREAM = "run ./spark-submit.sh score_stream (--trigger availableNow scores what silver holds, then stops)"
#: What to run to create each table, by config.tables key.
TABLE_HINTS: dict[str, str] = {
    "gold_features": "it is a Spark SQL view over silver.readings: query it with ./spark-submit.sh sql",
    "gold_nab_results": "run ./spark-submit.sh evaluate_nab (or pipeline, which creates it empty)",
    "gold_nab_scores": "run ./spark-submit.sh evaluate_nab (or pipeline, which creates it empty)",
    "gold_anomaly_scores": _STREAM,
    "gold_anomalies": _STREAM,
    "gold_feedback": "POST /feedback on the API (./spark-submit.sh api) creates it with the first verdict",
    "gold_drift_metrics": "run ./spark-submit.sh drift to create it",
    "ops_retrain_requests": "run ./spark-submit.sh drift to create it",
    "ops_thresholds": "run ./spark-submit.sh recalibrate to create it",
    "gold_evaluations": "run ./spark-submit.sh evaluate --labels gold.labels to create it",
}
#: config.tables keys that name Spark SQL views, not Delta tables (gold.features, computed from silver when queried):
#: not readable here; a query naming one raises TableNotFound with its hint.
SPARK_VIEWS = ("gold_features",)
#: Tables whose series a series_id is looked up in.
SERIES_TABLES = ("silver_readings", "gold_anomaly_scores")


class LakeReader:
    """Read-only access to one lakehouse (``config.lakehouse``) through deltalake and one DuckDB database.

    Use it as a context manager or call :meth:`close`. Safe to share between threads: each query runs on its own
    DuckDB cursor.
    """

    def __init__(self, config: LakewatchConfig, connection: duckdb.DuckDBPyConnection | None = None) -> None:
        self.config = config
        self._spark_views = {k: n for k, n in config.tables.all().items() if k in SPARK_VIEWS}
        self._names = {k: n for k, n in config.tables.all().items() if k not in SPARK_VIEWS}
        self._con = connection if connection is not None else duck.connect()
        self._lock = threading.RLock()
        self._deltas: dict[str, DeltaTable] = {}
        self._state: dict[str, str] = {}  # key -> "delta" (a delta_scan view) | "empty" (empty placeholder table)
        self.refresh()

    # ----------------------------------------------------------------------------------------------- names
    @property
    def tables(self) -> dict[str, str]:
        """Catalog name of every lakewatch Delta table, by config.tables key (``{"gold_anomalies": "gold.anomalies"}``;
        not the Spark SQL views of SPARK_VIEWS)."""
        return dict(self._names)

    @property
    def views(self) -> dict[str, str]:
        """Catalog name (the DuckDB relation too) of every curated view, by view name
        (``{"open_anomalies": "gold.open_anomalies", ...}``); see lakewatch.views.VIEWS for what each holds."""
        return lw_views.view_names(self.config)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection holding the table and view relations (for callers that need DuckDB itself)."""
        return self._con

    def key(self, table: str) -> str:
        """The config.tables key of `table`, given as a key or a catalog name (TableNotFound-free: KeyError lists
        the known ones)."""
        if table in self._names:
            return table
        for key, name in self._names.items():
            if name == table:
                return key
        raise KeyError(f"{table!r} is not a lakewatch table; known: {sorted(self._names.values())}")

    def location(self, table: str) -> str:
        """Where the Delta table `table` (key or catalog name) lives, as deltalake and DuckDB want it."""
        lakehouse = self.config.lakehouse
        if lakehouse.local_root is not None:
            lakehouse = type(lakehouse)(str(lakehouse.local_root))
        return lakehouse.table(self._names[self.key(table)])

    def exists(self, table: str) -> bool:
        """True when `table` (key or catalog name) has a Delta table at its location."""
        return bool(DeltaTable.is_deltatable(self.location(table)))

    def not_found(self, table: str) -> TableNotFound:
        """The TableNotFound error for `table`: its catalog name, location and the job that creates it."""
        key = self.key(table)
        return TableNotFound(self._names[key], self.location(key), TABLE_HINTS.get(key, _PIPELINE))

    def missing(self) -> dict[str, TableNotFound]:
        """The tables that do not exist yet, by key, each with the error explaining what creates it."""
        return {key: self.not_found(key) for key in self._names if not self.exists(key)}

    # ----------------------------------------------------------------------------------------------- reads
    def table(self, table: str, columns: Sequence[str] | None = None,
              where: Mapping[str, Any] | None = None) -> pa.Table:
        """The rows of Delta table `table` (key or catalog name) read with deltalake at its latest version, as an
        Arrow table: only `columns` (default all) and rows whose columns equal `where`'s values (pushed down to
        the files). Raises TableNotFound when the table does not exist yet."""
        key = self.key(table)
        dataset = self._delta(key).to_pyarrow_dataset()
        condition = None
        for column, value in (where or {}).items():
            term = pads.field(column) == value
            condition = term if condition is None else condition & term
        return dataset.to_table(columns=list(columns) if columns is not None else None, filter=condition)

    def sql(self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pa.Table:
        """Run a DuckDB query over the lakewatch tables and views (by catalog name, e.g. ``gold.anomalies``) with
        `params` bound to its ``?`` (or ``$name``) placeholders; the result as an Arrow table.

        A query naming a table that does not exist and has no known schema, or a Spark SQL view (gold.features),
        raises TableNotFound."""
        self._pick_up_new_tables()
        try:
            with self._con.cursor() as cur:
                return cur.execute(query, params).fetch_arrow_table() if params is not None else \
                    cur.execute(query).fetch_arrow_table()
        except duckdb.CatalogException as exc:
            for key in self._names:
                if self._state.get(key) is None and self._names[key].split(".")[-1] in str(exc):
                    raise self.not_found(key) from exc
            for key, name in self._spark_views.items():
                if name.split(".")[-1] in str(exc):
                    raise TableNotFound(name, self.config.lakehouse.table(name), TABLE_HINTS[key]) from exc
            raise

    def view(self, name: str, series_id: str | None = None, channel: str | None = None) -> pa.Table:
        """The rows of curated view `name` (lakewatch.views.VIEWS), those of one series (and channel) when given.

        Empty when the tables it reads do not exist yet: the result's schema metadata then holds the explanation
        under ``lakewatch.explanation`` (also :meth:`explain`). A series_id that is in no table raises NoSuchSeries.
        """
        relation = self._relation(self.views[lw_views.spec(name).name])
        query, params = f"SELECT * FROM {relation}", []
        if series_id is not None:
            query, params = query + " WHERE series_id = ?", [series_id]
            if channel is not None:
                query, params = query + " AND channel = ?", [series_id, channel]
        result = self.sql(query, params)
        if result.num_rows == 0 and series_id is not None:
            self.require_series(series_id, channel)
        explanation = self.explain(name)
        if explanation:
            result = result.replace_schema_metadata({**(result.schema.metadata or {}),
                                                     EXPLANATION_KEY: explanation.encode()})
        return result

    def explain(self, name: str) -> str | None:
        """Why view `name` is empty when the tables it reads do not all exist yet (which tables, what to run);
        None when they all exist."""
        spec = lw_views.spec(name)
        missing = [self.not_found(key) for key in spec.tables if not self.exists(key)]
        if not missing:
            return None
        return f"{self.views[name]} is empty: " + "; ".join(str(m) for m in missing)

    def series(self) -> pa.Table:
        """Every (series_id, channel) in silver.readings or gold.anomaly_scores, sorted."""
        union = " UNION ".join(f"SELECT DISTINCT series_id, channel FROM {self._relation(self._names[k])}"
                               for k in SERIES_TABLES)
        return self.sql(f"SELECT series_id, channel FROM ({union}) ORDER BY series_id, channel")

    def require_series(self, series_id: str, channel: str | None = None) -> None:
        """NoSuchSeries unless `series_id` (and `channel`, when given) has a row in silver.readings or
        gold.anomaly_scores; the error explains an empty lakehouse."""
        condition, params = "series_id = ?", [series_id]
        if channel is not None:
            condition, params = condition + " AND channel = ?", [series_id, channel]
        probes = " UNION ALL ".join(
            f"SELECT 1 FROM (SELECT 1 FROM {self._relation(self._names[k])} WHERE {condition} LIMIT 1)"
            for k in SERIES_TABLES)
        if self.sql(probes, params * len(SERIES_TABLES)).num_rows:
            return
        where = " or ".join(self._names[k] for k in SERIES_TABLES)
        absent = [self.not_found(k) for k in SERIES_TABLES if not self.exists(k)]
        explanation = "; ".join(str(e) for e in absent)
        raise NoSuchSeries(series_id, where, channel, explanation)

    # ----------------------------------------------------------------------------------------------- setup
    def refresh(self) -> None:
        """(Re)register every table in DuckDB (a delta_scan view where the table exists, an empty table of its
        schema where it does not) and every curated view; queries call it for tables that appeared since."""
        with self._lock:
            empty_schemas = _known_schemas()
            for key, name in self._names.items():
                self._register(key, name, empty_schemas)
            relations = {key: self._relation(name) for key, name in self._names.items()}
            for view, catalog_name in self.views.items():
                self._ensure_schema(catalog_name)
                self._con.execute(f"CREATE OR REPLACE VIEW {self._relation(catalog_name)} AS\n"
                                  f"{lw_views.render(view, relations)}")

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> LakeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------------------------- private
    def _pick_up_new_tables(self) -> None:
        if any(state != "delta" and self.exists(key) for key, state in self._state.items()) or \
                any(key not in self._state and self.exists(key) for key in self._names):
            self.refresh()

    def _register(self, key: str, name: str, empty_schemas: Mapping[str, pa.Schema]) -> None:
        relation = self._relation(name)
        state = self._state.get(key)
        if self.exists(key):
            if state == "delta":
                return
            if state == "empty":
                self._con.execute(f"DROP TABLE {relation}")
            self._ensure_schema(name)
            location = self.location(key).replace("'", "''")
            self._con.execute(f"CREATE OR REPLACE VIEW {relation} AS SELECT * FROM delta_scan('{location}')")
            self._state[key] = "delta"
        elif state is None and key in empty_schemas:
            self._ensure_schema(name)
            empty = empty_schemas[key].empty_table()  # noqa: F841 (read by DuckDB's replacement scan)
            self._con.execute(f"CREATE TABLE {relation} AS SELECT * FROM empty")
            self._state[key] = "empty"

    def _delta(self, key: str) -> DeltaTable:
        with self._lock:
            table = self._deltas.get(key)
            if table is None:
                if not self.exists(key):
                    raise self.not_found(key)
                table = self._deltas[key] = DeltaTable(self.location(key))
            else:
                table.update_incremental()
            return table

    def _ensure_schema(self, catalog_name: str) -> None:
        self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(catalog_name.split('.')[0])}")

    @staticmethod
    def _relation(catalog_name: str) -> str:
        return ".".join(quote_identifier(part) for part in catalog_name.split("."))


def _known_schemas() -> dict[str, pa.Schema]:
    """Arrow schemas of the fixed-schema tables (by config.tables key), for the empty stand-ins of missing tables.

    Imports only pyspark's type classes (no JVM)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    from lakewatch.schemas import TABLE_SCHEMAS

    return {key: to_arrow_schema(schema) for key, schema in TABLE_SCHEMAS.items()}


def open_reader(config: LakewatchConfig) -> LakeReader:
    """A LakeReader of `config`'s lakehouse (close it when done, or use it in a ``with`` block)."""
    return LakeReader(config)
