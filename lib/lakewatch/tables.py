"""Schemas of the lakehouse tables and the few functions that create, read and write them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, DataFrameWriter, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakewatch.config import LakewatchConfig
from lakewatch.sources.filesystem import hadoop_path

_RECENT_COMMITS = 20  # how far back a tagged commit is looked for when other writers committed after it

READING_KEYS = ("series_id", "channel", "timestamp")

BRONZE_READINGS = T.StructType([
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_raw", T.StringType()),
    T.StructField("value_raw", T.StringType()),
    T.StructField("raw_record", T.StringType()),
    T.StructField("source_name", T.StringType(), False),
    T.StructField("source", T.StringType(), False),
    T.StructField("source_version", T.StringType(), False),
    T.StructField("record_order", T.LongType(), False),
    T.StructField("ingest_id", T.StringType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
])

SILVER_READINGS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("channel", T.StringType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
    T.StructField("value", T.DoubleType(), False),
    T.StructField("source", T.StringType()),
    T.StructField("ingest_id", T.StringType()),
])

SILVER_QUARANTINE = T.StructType([
    T.StructField("series_id", T.StringType()),
    T.StructField("channel", T.StringType()),
    T.StructField("ts_raw", T.StringType()),
    T.StructField("value_raw", T.StringType()),
    T.StructField("raw_record", T.StringType()),
    T.StructField("reason", T.StringType(), False),
    T.StructField("stage", T.StringType(), False),
    T.StructField("source", T.StringType()),
    T.StructField("source_version", T.StringType()),
    T.StructField("record_order", T.LongType()),
    T.StructField("ingest_id", T.StringType()),
    T.StructField("quarantined_at", T.TimestampType(), False),
])

GOLD_LABELS = T.StructType([
    T.StructField("series_id", T.StringType(), False),
    T.StructField("window_start", T.TimestampType(), False),
    T.StructField("window_end", T.TimestampType(), False),
    T.StructField("kind", T.StringType(), False),
    T.StructField("source_name", T.StringType(), False),
])

OPS_PIPELINE_RUNS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("job", T.StringType(), False),
    T.StructField("args", T.StringType()),
    T.StructField("started_at", T.TimestampType(), False),
    T.StructField("ended_at", T.TimestampType()),
    T.StructField("rows_in", T.LongType()),
    T.StructField("rows_out", T.LongType()),
    T.StructField("status", T.StringType(), False),
    T.StructField("error", T.StringType()),
    T.StructField("details", T.StringType()),
    T.StructField("git_commit", T.StringType()),
    T.StructField("config_hash", T.StringType()),
])

OPS_VALIDATION_RUNS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("suite", T.StringType(), False),
    T.StructField("table_name", T.StringType(), False),
    T.StructField("success", T.BooleanType(), False),
    T.StructField("expectations_evaluated", T.IntegerType(), False),
    T.StructField("expectations_failed", T.IntegerType(), False),
    T.StructField("failures", T.StringType()),
    T.StructField("data_docs", T.StringType()),
    T.StructField("validated_at", T.TimestampType(), False),
])

GOLD_NAB_RESULTS = T.StructType([
    T.StructField("detector", T.StringType(), False),
    T.StructField("series_id", T.StringType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
    T.StructField("value", T.DoubleType()),
    T.StructField("anomaly_score", T.DoubleType(), False),
    T.StructField("label", T.IntegerType(), False),
    T.StructField("flag", T.BooleanType(), False),
])

GOLD_NAB_SCORES = T.StructType([
    T.StructField("detector", T.StringType(), False),
    T.StructField("profile", T.StringType(), False),
    T.StructField("category", T.StringType(), False),
    T.StructField("threshold", T.DoubleType(), False),
    T.StructField("score", T.DoubleType()),
    T.StructField("raw_score", T.DoubleType(), False),
    T.StructField("tp", T.LongType(), False),
    T.StructField("fp", T.LongType(), False),
    T.StructField("fn", T.LongType(), False),
    T.StructField("tn", T.LongType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("evaluated_at", T.TimestampType(), False),
])

# gold.features has columns that depend on the configured windows; see lakewatch.features.
TABLE_SCHEMAS: dict[str, T.StructType] = {
    "bronze_readings": BRONZE_READINGS,
    "silver_readings": SILVER_READINGS,
    "silver_quarantine": SILVER_QUARANTINE,
    "gold_labels": GOLD_LABELS,
    "gold_nab_results": GOLD_NAB_RESULTS,
    "gold_nab_scores": GOLD_NAB_SCORES,
    "ops_pipeline_runs": OPS_PIPELINE_RUNS,
    "ops_validation_runs": OPS_VALIDATION_RUNS,
}


def table_location(config: LakewatchConfig, table_name: str) -> str:
    """The storage path of a catalog table: <table_root>/<schema>/<table> (ConfigError for a bad name)."""
    return config.lakehouse.table(table_name)


def catalog_location(spark: SparkSession, table_name: str) -> str:
    """Where the catalog says `table_name` keeps its files (from its catalog entry; the Delta log is not
    replayed, as DeltaTable.detail() would for its size and file count)."""
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table_name}").where(F.col("col_name") == "Location").collect()
    if not rows:
        raise ValueError(f"table {table_name} has no location in the catalog")
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


def ensure_database(spark: SparkSession, config: LakewatchConfig, table_name: str) -> None:
    """Create the schema (database) of `table_name` under the table root if it does not exist."""
    database = table_name.split(".")[0]
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database} LOCATION '{config.lakehouse.database(database)}'")


def ensure_tables(spark: SparkSession, config: LakewatchConfig, keys: Sequence[str] | None = None) -> set[str]:
    """Create the fixed-schema lakewatch tables named by `keys` (TABLE_SCHEMAS keys; default all) that do
    not exist yet; return the names of those made new and empty."""
    names = config.tables.all()
    return {names[key] for key in (keys if keys is not None else TABLE_SCHEMAS)
            if ensure_table(spark, config, names[key], TABLE_SCHEMAS[key])}


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select and cast `df`'s columns to `schema`, in its order (missing columns are an error)."""
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise ValueError(f"DataFrame lacks columns {missing} needed for the table schema (has {df.columns})")
    return df.select(*[df[f.name].cast(f.dataType).alias(f.name) for f in schema.fields])


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
