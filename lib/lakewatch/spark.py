"""The one way lakewatch builds a SparkSession: Delta on, a persistent metastore under the table root."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakewatch.config import LakewatchConfig, default_conf_dir
from lakewatch.errors import ConfigError

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def jars_file() -> Path:
    """The list of jars spark-submit.sh resolved from conf/packages.txt (in the virtual environment)."""
    return Path(os.environ.get("LAKEWATCH_JARS_FILE") or Path(sys.prefix) / "lakewatch-jars.txt")


def package_coordinates() -> list[str]:
    """The Maven coordinates of conf/packages.txt (Delta and the Kafka connector, matching the pyspark pin)."""
    path = default_conf_dir() / "packages.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"jar coordinates {path} cannot be read ({exc})") from exc
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def jar_settings() -> dict[str, str]:
    """How a session not started by spark-submit.sh gets its jars: the local jars the launcher resolved
    (``spark.jars``), or, where there is no such list (a wheel installed without the repository), the coordinates
    of conf/packages.txt for Spark's own resolver (``spark.jars.packages``, from Maven Central or ~/.m2)."""
    path = jars_file()
    if path.exists():
        return {"spark.jars": path.read_text().strip()}
    return {"spark.jars.packages": ",".join(package_coordinates())}


def metastore_dir(config: LakewatchConfig) -> str:
    """Where the embedded Derby metastore lives: under a local table root, else in ./_metastore."""
    return str(config.lakehouse.metastore)


def session_conf(config: LakewatchConfig) -> dict[str, str]:
    """Every Spark setting lakewatch needs, from the config (never the master)."""
    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": config.lakehouse.warehouse,
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore_dir(config)};create=true",
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        # Keeps derby.log beside the metastore and quiets Spark's console log as spark-submit.sh does
        # (honoured when this process launches the JVM itself).
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={config.lakehouse.derby_home} "
                                         f"-Dlog4j2.configurationFile={default_conf_dir() / 'log4j2.properties'}",
        **jar_settings(),
        # Delta's own retention checks stay on; only schema changes on write are explicit.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
    }
    conf.update(dict(config.spark.conf))
    return conf


def get_spark(app_name: str, config: LakewatchConfig, extra_conf: Mapping[str, str] | None = None) -> SparkSession:
    """Build (or join) the SparkSession for `app_name` with Delta and the lakewatch catalog.

    The master comes from spark-submit or from `extra_conf` (the test fixture); never from here.
    """
    # Workers must run this environment's interpreter, or pandas UDFs cannot import lakewatch; PySpark
    # reads it from the environment when it creates the context (spark-submit.sh sets it already).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    for key, value in {**session_conf(config), **(extra_conf or {})}.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


def partitions_for(spark: SparkSession, rows: int, rows_per_partition: int) -> int:
    """Shuffle partitions for `rows` rows: at least one per core, at most about `rows_per_partition` rows each."""
    return max(spark.sparkContext.defaultParallelism, -(-int(rows) // int(rows_per_partition)))


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any]], schema: str) -> DataFrame:
    """A DataFrame of a few rows held on the driver, with `schema` given in DDL, planned as a local relation.

    createDataFrame from a list makes an RDD of pickled rows: every job that reads it (the broadcast side
    of a join, say) starts a Python worker to unpickle them. Sent as Arrow, the rows become a local
    relation that Spark reads in the driver's JVM with no job at all.
    """
    struct = T.StructType.fromDDL(schema)
    return spark.createDataFrame(pd.DataFrame(list(rows), columns=struct.names), struct)


def _print_conf_args() -> None:
    """Print `--conf key=value` pairs, one token per line, for launching spark-sql like a lakewatch session."""
    from lakewatch.config import load_config

    for key, value in session_conf(load_config()).items():
        if key != "spark.jars":
            print("--conf")
            print(f"{key}={value}")


if __name__ == "__main__":
    _print_conf_args()
