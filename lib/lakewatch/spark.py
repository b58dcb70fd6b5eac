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

from lakewatch import catalog
from lakewatch.config import LakewatchConfig, default_conf_dir
from lakewatch.errors import ConfigError

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# Python workers of a local session start from this daemon (pyspark from the installed package, not Spark's zip:
# each task's import-cache reset then costs 0.05 ms instead of ~115 ms; lakewatch.spark_daemon says why).
DAEMON_MODULE_CONF = "spark.python.daemon.module"
DAEMON_MODULE = "lakewatch.spark_daemon"


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


def local_jars() -> list[str]:
    """The local jars spark-submit.sh resolved (Delta, connectors, Derby's server and client), or [] without a list."""
    path = jars_file()
    return [jar for jar in path.read_text().strip().split(",") if jar] if path.exists() else []


def jar_settings() -> dict[str, str]:
    """How a session not started by spark-submit.sh gets its jars: the local jars the launcher resolved
    (``spark.jars``), or, where there is no such list (a wheel installed without the repository), the coordinates
    of conf/packages.txt for Spark's own resolver (``spark.jars.packages``, from Maven Central or ~/.m2)."""
    path = jars_file()
    if path.exists():
        return {"spark.jars": path.read_text().strip()}
    return {"spark.jars.packages": ",".join(package_coordinates())}


def session_conf(config: LakewatchConfig, catalog_conf: Mapping[str, str], job: str = "") -> dict[str, str]:
    """Every Spark setting lakewatch needs, from the config (spark.conf, then spark.job_conf's settings for `job`)
    and the catalog's settings (never the master)."""
    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.catalogImplementation": "hive",
        "spark.sql.warehouse.dir": config.lakehouse.warehouse,
        **catalog_conf,
        "spark.sql.shuffle.partitions": str(config.spark.shuffle_partitions),
        # Keeps derby.log beside the metastore and quiets Spark's console log as spark-submit.sh does
        # (honoured when this process launches the JVM itself).
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={config.lakehouse.derby_home} "
                                         f"-Dlog4j2.configurationFile={default_conf_dir() / 'log4j2.properties'}",
        **jar_settings(),
        # Delta's own retention checks stay on; only schema changes on write are explicit.
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
    }
    if catalog.CONNECTION_URL in catalog_conf:
        # The metastore's JDBC driver is loaded by the JVM's own class loader: put Derby's client there
        # (honoured when this process or spark-submit launches the JVM; spark-submit.sh passes it too).
        # A driver started on a cluster has no local jar list: spark-submit.sh put the client there already.
        client = [jar for jar in local_jars() if Path(jar).name.startswith(f"{catalog.derby.CLIENT_JAR}-")]
        if client:
            conf["spark.driver.extraClassPath"] = client[0]
    conf.update(config.spark.conf_for(job))
    return conf


def get_spark(app_name: str, config: LakewatchConfig, extra_conf: Mapping[str, str] | None = None,
              job: str = "") -> SparkSession:
    """Build (or join) the SparkSession for `app_name` with Delta and the lakewatch catalog; `job` (a name of
    lakewatch.jobs) adds its own settings from spark.job_conf.

    The master comes from spark-submit or from `extra_conf` (the test fixture); never from here. The catalog's
    server is started first if it is not running; a catalog that cannot be reached raises CatalogError.
    """
    # Workers must run this environment's interpreter, or pandas UDFs cannot import lakewatch; PySpark
    # reads it from the environment when it creates the context (spark-submit.sh sets it already).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    with catalog.connecting(config, local_jars()) as catalog_conf:
        builder = SparkSession.builder.appName(app_name)
        # A local session's workers run this process's environment, which has lakewatch; a cluster's executors
        # may not (a job that needs none of its Python there must still run), so they keep Spark's daemon.
        local = {DAEMON_MODULE_CONF: DAEMON_MODULE} if _local_master(extra_conf or {}) else {}
        for key, value in {**local, **session_conf(config, catalog_conf, job), **(extra_conf or {})}.items():
            builder = builder.config(key, value)
        spark = builder.enableHiveSupport().getOrCreate()
        spark.sparkContext.setLogLevel("WARN")
        try:
            # The first use of the catalog connects to it (and makes a new metastore's tables): fail here,
            # in one line, rather than inside the job.
            spark.sql("SHOW DATABASES").collect()
        except Exception as exc:  # any failure to connect is reported the same way
            raise catalog.unreachable(config, str(exc).strip().splitlines()[0]) from None
    return spark


def _local_master(extra_conf: Mapping[str, str]) -> bool:
    """Whether the session about to be built runs in local mode: the master in `extra_conf`, else the one
    spark-submit gave the JVM that started this process, else PySpark's default (local[*])."""
    master = extra_conf.get("spark.master")
    if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):  # started by spark-submit: ask its JVM
        from pyspark import SparkContext

        SparkContext._ensure_initialized()  # joins the running gateway; starts nothing
        master = SparkContext._jvm.java.lang.System.getProperty("spark.master")
    return str(master or "local").startswith("local")


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
    """Print `--conf key=value` pairs, one token per line, for launching spark-sql or the Thrift server like a
    lakewatch session (the catalog's server is started first); one line on stderr and status 1 when the
    catalog cannot be reached."""
    from lakewatch.config import load_config
    from lakewatch.errors import LakewatchError

    config = load_config()
    try:
        with catalog.connecting(config, local_jars()) as catalog_conf:
            conf = session_conf(config, catalog_conf)
    except LakewatchError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        sys.exit(1)
    for key, value in conf.items():
        if key != "spark.jars":
            print("--conf")
            print(f"{key}={value}")


if __name__ == "__main__":
    _print_conf_args()
