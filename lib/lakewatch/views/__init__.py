"""Curated views over the lakehouse tables: the contract every reader (Spark SQL, notebooks, the dashboard, the API)
uses instead of reassembling tables.

Each view is one .sql file in this package, written in the SQL that Spark SQL and DuckDB both accept (DuckDB gets
the few Spark functions they use as macros, lakewatch/readers/spark_functions.sql). A table is named in a file as a
placeholder, ``${gold_anomalies}``, the key of the table in ``config.tables``; :func:`render` fills it with the
catalog name (Spark) or the relation of a reader (DuckDB).

In the Spark catalog each view lives in the schema of its ``home`` table (``gold.open_anomalies`` beside
``gold.anomalies``): :func:`create_views` makes them, and the jobs call it once the tables they write exist (the
pipeline at its end, score_stream at its start). A view whose tables do not exist yet is skipped; the next job that
creates them (pipeline or score_stream) creates the view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from lakewatch.errors import LakewatchError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakewatch.config import LakewatchConfig


@dataclass(frozen=True)
class ViewSpec:
    """A curated view: its name (the .sql file's stem), the table key whose schema holds it, the table keys it
    reads, and what one row is."""

    name: str
    home: str
    tables: tuple[str, ...]
    row: str


VIEWS: dict[str, ViewSpec] = {spec.name: spec for spec in (
    ViewSpec("open_anomalies", "gold_anomalies", ("gold_anomalies",), "an anomaly event still open"),
    ViewSpec("anomaly_contributions", "gold_anomalies", ("gold_anomalies",),
             "one input's SHAP contribution to an anomaly event"),
    ViewSpec("series_health", "gold_anomalies",
             ("silver_readings", "gold_anomaly_scores", "gold_anomalies", "silver_quarantine"),
             "a series (and channel): last reading, last score, freshness, anomalies, quarantined rows"),
    ViewSpec("data_quality", "ops_pipeline_runs", ("ops_pipeline_runs", "ops_validation_runs"),
             "a run that refined or validated data: bronze = silver + quarantined + duplicates, validation result"),
    ViewSpec("quarantine_by_reason", "ops_pipeline_runs", ("silver_quarantine",),
             "quarantined rows of one ingest, stage and reason"),
)}


# Only the braced form is a placeholder: JSON paths such as '$.refine' stay as written.
_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


class ViewError(LakewatchError, KeyError):
    """An unknown view name, or a view rendered without one of the tables it reads."""

    def __str__(self) -> str:  # KeyError quotes its message otherwise
        return str(self.args[0]) if self.args else ""


def spec(name: str) -> ViewSpec:
    """The ViewSpec of view `name` (ViewError naming the known views for an unknown one)."""
    try:
        return VIEWS[name]
    except KeyError:
        raise ViewError(f"no view named {name!r}; lakewatch's views are {sorted(VIEWS)}") from None


def sql_text(name: str) -> str:
    """The text of view `name`'s .sql file, placeholders unfilled."""
    spec(name)
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def render(name: str, relations: Mapping[str, str]) -> str:
    """The SELECT of view `name` with each ``${table_key}`` replaced by ``relations[table_key]`` (a Spark catalog
    name such as ``gold.anomalies``, or a DuckDB relation); ViewError when `relations` lacks one it reads."""
    view = spec(name)
    missing = [key for key in view.tables if key not in relations]
    if missing:
        raise ViewError(f"view {name} reads tables {missing}, which were not given (got {sorted(relations)})")
    return _PLACEHOLDER.sub(lambda m: _fill(name, m.group(1), view.tables, relations), sql_text(name))


def _fill(name: str, key: str, tables: tuple[str, ...], relations: Mapping[str, str]) -> str:
    if key not in tables:
        raise ViewError(f"view {name}'s SQL names table ${{{key}}}, which its ViewSpec does not list ({tables})")
    return relations[key]


def view_name(config: LakewatchConfig, name: str) -> str:
    """The catalog name of view `name`: ``<schema of its home table>.<name>`` (e.g. ``gold.open_anomalies``)."""
    schema = config.tables.all()[spec(name).home].split(".")[0]
    return f"{schema}.{name}"


def view_names(config: LakewatchConfig) -> dict[str, str]:
    """Every view's catalog name, by view name."""
    return {name: view_name(config, name) for name in VIEWS}


def create_views(spark: SparkSession, config: LakewatchConfig, names: Iterable[str] | None = None) -> dict[str, str]:
    """Create (or replace) the views `names` (default all) in the Spark catalog, each in its home table's schema.

    A view whose tables are not all in the catalog yet is skipped; it is created by a later call, which every job
    that creates those tables makes. Returns what happened per view name: ``created`` or ``skipped: missing <tables>``.
    """
    tables = config.tables.all()
    outcome: dict[str, str] = {}
    for name in (VIEWS if names is None else names):
        view = spec(name)
        missing = [tables[key] for key in view.tables if not spark.catalog.tableExists(tables[key])]
        if missing:
            outcome[name] = f"skipped: missing {', '.join(missing)}"
            continue
        from lakewatch.tables import ensure_database  # Spark's side only: the readers load views without it

        ensure_database(spark, config, view_name(config, name))  # its home schema may have no table yet
        spark.sql(f"CREATE OR REPLACE VIEW {view_name(config, name)} AS\n{render(name, tables)}")
        outcome[name] = "created"
    return outcome
