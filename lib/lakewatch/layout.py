"""Every location under a lakehouse's table root, in one place.

A lakehouse is a table root (a local folder, a ``file:`` URI, or a cluster file system URI such as
``hdfs://``, ``s3a://`` or ``abfss://``). Under it live the catalog schemas (one folder per schema, one per
table below it) and lakewatch's own working folders, whose names start with ``_`` so that no schema can take
them. Nothing else in lakewatch joins path strings under the table root: it asks a :class:`Lakehouse`.

Some things must sit on a local disk whatever the table root is (the embedded metastore, the Great
Expectations project, the MLflow SQLite store): :meth:`Lakehouse.local_dir` gives them a folder under a local
root, or under the working directory when the root is remote.

``python -m lakewatch.layout --derby-home [job options]`` prints the Derby home of the lakehouse a job's options
select; spark-submit.sh asks it before every job, so it imports neither Spark nor the job. ``--airflow-home``
prints the lakehouse's Airflow home instead (``./spark-submit.sh airflow ...``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakewatch.errors import ConfigError

WAREHOUSE = "_warehouse"
METASTORE = "_metastore"
CATALOG = "_catalog"
GX = "_gx"
MLFLOW = "_mlflow"
CHECKPOINTS = "_checkpoints"
TRAINING = "_training"
TUNING = "_tuning"
MODELS = "_models"
AIRFLOW = "_airflow"
#: Working folders under the table root; none of them is a catalog schema.
WORKING_FOLDERS = (WAREHOUSE, METASTORE, CATALOG, GX, MLFLOW, CHECKPOINTS, TRAINING, TUNING, MODELS, AIRFLOW)

MLFLOW_DB = "mlflow.db"
MLFLOW_ARTIFACTS = "artifacts"


@dataclass(frozen=True)
class Lakehouse:
    """The layout of one table root; build it with ``Lakehouse(config.table_root)`` or ``config.lakehouse``."""

    root: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", str(self.root).rstrip("/") or "/")

    # ------------------------------------------------------------------------------------------- the root
    @property
    def local_root(self) -> Path | None:
        """The root as a local path (``file:`` stripped), or None when it lives on a remote file system."""
        root = self.root
        if root.startswith("file://"):
            root = root[len("file://"):]
        elif root.startswith("file:"):
            root = root[len("file:"):]
        if "://" in root:
            return None
        return Path(root)

    @property
    def is_local(self) -> bool:
        """True when the table root is a folder on this machine's file system."""
        return self.local_root is not None

    def join(self, *parts: str) -> str:
        """A location under the table root, in the root's own form (a path or a URI)."""
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts)])

    def local_dir(self, folder: str) -> Path:
        """A working folder that must be on a local disk: under a local root, else under the working directory."""
        base = self.local_root
        return (base if base is not None else Path.cwd()) / folder

    # ------------------------------------------------------------------------------------------- catalog
    def database(self, schema: str) -> str:
        """The folder of catalog schema `schema` (``bronze``, ``silver``, ``gold``, ``ops``, ...)."""
        if schema.startswith("_"):
            raise ConfigError(f"schema {schema!r} starts with '_', which is kept for lakewatch's working folders")
        return self.join(schema)

    def table(self, table_name: str) -> str:
        """The storage location of catalog table ``schema.table``: ``<root>/<schema>/<table>``."""
        schema, sep, table = table_name.partition(".")
        if not sep or not schema or not table or "." in table:
            raise ConfigError(f"table name {table_name!r} must look like schema.table")
        try:
            return f"{self.database(schema)}/{table}"
        except ConfigError as exc:
            raise ConfigError(f"table name {table_name!r}: {exc}") from None

    @property
    def warehouse(self) -> str:
        """Spark's warehouse folder (managed tables; lakewatch's own tables are external, under their schema)."""
        return self.join(WAREHOUSE)

    @property
    def metastore(self) -> Path:
        """The Derby metastore database (always local), served to every driver by the catalog server."""
        return self.local_dir(METASTORE)

    @property
    def catalog_dir(self) -> Path:
        """The catalog server's working folder (its port and pid in server.json, its lock and its log)."""
        return self.local_dir(CATALOG)

    @property
    def derby_home(self) -> Path:
        """Derby's system home (``derby.system.home``, where derby.log goes): the folder holding the metastore."""
        return self.metastore.parent

    # ------------------------------------------------------------------------------------------- tools
    @property
    def gx(self) -> Path:
        """The Great Expectations project (suites, validation results, Data Docs)."""
        return self.local_dir(GX)

    @property
    def mlflow(self) -> Path:
        """The MLflow folder: the SQLite tracking and registry store and, by default, the artifacts."""
        return self.local_dir(MLFLOW)

    @property
    def mlflow_db(self) -> Path:
        """The default MLflow SQLite database file."""
        return self.mlflow / MLFLOW_DB

    @property
    def mlflow_artifacts(self) -> Path:
        """The default MLflow artifact root."""
        return self.mlflow / MLFLOW_ARTIFACTS

    @property
    def airflow_home(self) -> Path:
        """Airflow's home for this lakehouse's schedules (airflow.cfg, the SQLite metadata DB, task logs)."""
        return self.local_dir(AIRFLOW)

    # ------------------------------------------------------------------------------------------- jobs
    def checkpoint(self, job: str, query: str) -> str:
        """A streaming query's checkpoint folder: ``<root>/_checkpoints/<job>/<query>``."""
        return self.join(CHECKPOINTS, job, query)

    def training(self, run_id: str) -> str:
        """Where a training run writes its training files: ``<root>/_training/<run_id>``."""
        return self.join(TRAINING, run_id)

    def tuning(self, run_id: str) -> str:
        """Where a deep tuning run writes its training files: ``<root>/_tuning/<run_id>``."""
        return self.join(TUNING, run_id)

    def model(self, run_id: str) -> str:
        """Where a trained model is saved outside MLflow: ``<root>/_models/<run_id>``."""
        return self.join(MODELS, run_id)

    def under(self, relative: str) -> str:
        """A configured folder: `relative` under the root, or `relative` itself when it is absolute or a URI."""
        if relative.startswith("/") or "://" in relative or relative.startswith("file:"):
            return relative
        return self.join(relative)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the Derby home (``--derby-home``) or the Airflow home (``--airflow-home``) of the lakehouse that job
    options `argv` select.

    The job's lakehouse comes from its --env, --set table_root=..., --table-root and $LAKEWATCH_TABLE_ROOT, read
    as lakewatch.cli reads them; the job's other options are ignored. Exits 1, with the reason on stderr, when
    that config does not load (the job reports it again as a usage error), and 2 without either flag.
    """
    from lakewatch.config import load_config
    from lakewatch.job_options import add_job_options, config_overrides

    # No help and no abbreviations: `--help` and `--table` (train's own option) belong to the job.
    parser = argparse.ArgumentParser(prog="python -m lakewatch.layout", add_help=False, allow_abbrev=False)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--derby-home", action="store_true", help="print the Derby home of the job's lakehouse")
    which.add_argument("--airflow-home", action="store_true", help="print the Airflow home of the lakehouse")
    add_job_options(parser)
    args, _ = parser.parse_known_args(argv)
    try:
        config = load_config(args.env, config_overrides(args))
    except ConfigError as exc:
        print(f"[lakewatch] {exc}", file=sys.stderr)
        return 1
    print(config.lakehouse.airflow_home if args.airflow_home else config.lakehouse.derby_home)
    return 0


if __name__ == "__main__":
    sys.exit(main())
