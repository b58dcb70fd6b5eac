"""The few functions that create, read and write the lakehouse tables (their schemas: lakewatch.schemas)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch import schemas
from lakewatch.config import LakewatchConfig
from lakewatch.errors import SchemaMismatch, TableError
from lakewatch.sources.filesystem import hadoop_path

_RECENT_COMMITS = 20  # how far back a tagged commit is looked for when other writers committed after it


def table_location(config: LakewatchConfig, table_name: str) -> str:
    """The storage path of a catalog table: <table_root>/<schema>/<table> (ConfigError for a bad name)."""
    return config.lakehouse.table(table_name)


def catalog_location(spark: SparkSession, table_name: str) -> str:
    """Where the catalog says `table_name` keeps its files (from its catalog entry; the Delta log is not
    replayed, as DeltaTable.detail() would for its size and file count)."""
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table_name}").where(F.col("col_name") == "Location").collect()
    if not rows:
        raise TableError(f"table {table_name} has no Location in DESCRIBE TABLE EXTENDED; expected an external "
                         "Delta table with one")
    return str(rows[0]["data_type"])


def ensure_table(spark: SparkSession, config: LakewatchConfig, table_name: str, schema: T.StructType,
                 partition_by: Sequence[str] = (), properties: Mapping[str, str] | None = None) -> bool:
    """Create the schema and the external Delta table `table_name` at its location if either is absent,
    with the Delta table `properties` given (a table that exists keeps its own).

    Returns True when this call made a new, empty table; False when the table was in the catalog already or
    its location held a Delta table (registered again, with its rows).
    """
    if spark.catalog.tableExists(table_name):
        return False
    ensure_database(spark, config, table_name)
    location = table_location(config, table_name)
    fs, log_dir = hadoop_path(spark, f"{location}/_delta_log")
    had_log = bool(fs.exists(log_dir))
    builder = DeltaTable.createIfNotExists(spark).tableName(table_name).addColumns(schema).location(location)
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    builder.execute()
    return not had_log


def delete_location(spark: SparkSession, location: str) -> None:
    """Delete the files under `location` (a dropped external table's folder), if there are any."""
    fs, path = hadoop_path(spark, location)
    if fs.exists(path):
        fs.delete(path, True)


def ensure_database(spark: SparkSession, config: LakewatchConfig, table_name: str) -> None:
    """Create the schema (database) of `table_name` under the table root if it does not exist."""
    database = table_name.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{config.lakehouse.database(database)}'")


def ensure_tables(spark: SparkSession, config: LakewatchConfig, keys: Sequence[str] | None = None) -> set[str]:
    """Create the fixed-schema lakewatch tables named by `keys` (schemas.TABLE_SCHEMAS keys, the stream tables
    included; default all) that do not exist yet, each with its schemas.TABLE_PROPERTIES; return the names of
    those made new and empty.

    Raises TableError naming a key that is not a fixed-schema table.
    """
    names = config.tables.all()
    chosen = tuple(keys) if keys is not None else tuple(schemas.TABLE_SCHEMAS)
    unknown = [key for key in chosen if key not in schemas.TABLE_SCHEMAS]
    if unknown:
        raise TableError(f"ensure_tables keys {unknown} name no fixed-schema table; expected keys of "
                         f"lakewatch.schemas.TABLE_SCHEMAS: {sorted(schemas.TABLE_SCHEMAS)}")
    return {names[key] for key in chosen
            if ensure_table(spark, config, names[key], schemas.TABLE_SCHEMAS[key], (),
                            schemas.TABLE_PROPERTIES.get(key))}


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select `df`'s columns in `schema`'s order, cast to its types where they differ.

    Raises SchemaMismatch naming the schema (its TABLE_SCHEMAS key when it is one), the missing columns and
    the DataFrame's columns.
    """
    have = {f.name: f.dataType for f in df.schema.fields}
    missing = [f.name for f in schema.fields if f.name not in have]
    if missing:
        raise SchemaMismatch(f"DataFrame with columns {list(have)} lacks {missing} of the {_schema_label(schema)} "
                             f"schema; expected all of {schema.fieldNames()}")
    # A column of the right type is taken as it is: a cast is a round trip to the JVM per column (about 40 % of a
    # conform's time on the stream's small batches), for nothing.
    return df.select(*[df[f.name] if have[f.name] == f.dataType else df[f.name].cast(f.dataType).alias(f.name)
                       for f in schema.fields])


def _schema_label(schema: T.StructType) -> str:
    """The TABLE_SCHEMAS key of `schema` (compared by value), or 'given' for a schema of no fixed table."""
    return next((key for key, known in schemas.TABLE_SCHEMAS.items() if known == schema), "given")


def append(df: DataFrame, table_name: str) -> int:
    """Append `df` to the Delta table `table_name`; return the number of rows written."""
    return _counted_write(df, table_name, lambda w: w.mode("append"))


def replace_where(df: DataFrame, table_name: str, predicate: str) -> int:
    """Atomically replace the rows of `table_name` matching `predicate` with `df` (idempotent re-runs).

    Returns the number of rows written.
    """
    return _counted_write(df, table_name, lambda w: w.mode("overwrite").option("replaceWhere", predicate))


def overwrite(df: DataFrame, table_name: str, location: str) -> int:
    """Replace the whole content (and schema) of `table_name` (an external table at `location`) with `df`.

    Returns the rows written.
    """
    return _counted_write(df, table_name, lambda w: w.mode("overwrite").option("overwriteSchema", "true")
                          .option("path", location))


def _counted_write(df: DataFrame, table_name: str, mode: Callable[[DataFrameWriter], DataFrameWriter]) -> int:
    # The commit is tagged and found again by its tag: one look at the log after the write instead of a
    # catalog lookup and a look at the log before it as well.
    token = f"lakewatch-write-{uuid.uuid4().hex}"
    mode(df.write.format("delta").option("userMetadata", token)).saveAsTable(table_name)
    return int(_tagged_commit_metrics(df.sparkSession, table_name, token).get("numOutputRows", 0))


def _tagged_commit_metrics(spark: SparkSession, table_name: str, token: str) -> dict[str, str]:
    """operationMetrics of the commit of `table_name` whose userMetadata is `token`, looked for in the
    latest commit and then, should writers have committed since, the latest _RECENT_COMMITS; {} if none."""
    table = DeltaTable.forName(spark, table_name)
    for depth in (1, _RECENT_COMMITS):
        rows = table.history(depth).where(F.col("userMetadata") == token).select("operationMetrics").collect()
        if rows:
            return dict(rows[0]["operationMetrics"] or {})
    return {}


def current_version(table: DeltaTable) -> int:
    """The latest commit version of a Delta table."""
    return int(table.history(1).select("version").first()[0])


def metrics_since(spark: SparkSession, table_name: str, version: int) -> dict[str, str]:
    """operationMetrics of the latest commit of `table_name` (e.g. rows a MERGE inserted), or {} when no
    commit came after `version` (a write that changed nothing)."""
    row = DeltaTable.forName(spark, table_name).history(1).select("version", "operationMetrics").first()
    if row is None or row["version"] <= version:
        return {}
    return dict(row["operationMetrics"] or {})
