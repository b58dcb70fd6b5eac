"""What every spark-submit job shares: common options, config, session, run record and exit status."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import delta.exceptions.captured  # noqa: F401  (see DELTA_CONFLICTS)
from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from pyspark.sql import SparkSession

from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import ConfigError, LakewatchError, SourceError, ValidationFailed
from lakewatch.job_options import add_job_options, config_overrides
from lakewatch.progress import Progress
from lakewatch.runs import RunRecord, track_run
from lakewatch.sources.synthetic import SOURCE_NAME as SYNTHETIC
from lakewatch.spark import get_spark

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_VALIDATION = 0, 1, 2, 3

# Delta's optimistic-concurrency refusals. PySpark raises them as these classes (instead of a bare Py4JJavaError)
# only once delta.exceptions.captured has patched its exception conversion: imported below for that alone.
DELTA_CONFLICTS = (ConcurrentAppendException, ConcurrentDeleteDeleteException, ConcurrentDeleteReadException,
                   ConcurrentTransactionException, ConcurrentWriteException, DeltaConcurrentModificationException,
                   MetadataChangedException, ProtocolChangedException)

JobBody = Callable[[SparkSession, LakewatchConfig, RunRecord, Progress], int]


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every job takes (--env, --set, --table-root)."""
    parser = argparse.ArgumentParser(prog=_command(prog), description=description)
    add_job_options(parser)
    return parser


def _command(job: str) -> str:
    """How the user started `job`: an installed wheel's lakewatch command or console script, else the launcher."""
    started_as = Path(sys.argv[0]).name
    if started_as == "lakewatch":
        return f"lakewatch {job}"
    if started_as.startswith("lakewatch-"):
        return started_as
    return f"./spark-submit.sh {job}"


def config_from_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> LakewatchConfig:
    """Load the layered config for parsed job arguments; a bad config is a usage error naming it."""
    try:
        return load_config(args.env, config_overrides(args))
    except ConfigError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --source and --path, checked by parse_job_args."""
    parser.add_argument("--source", default=SYNTHETIC,
                        help="'synthetic' (built-in data, the default) or a source named in conf/ (e.g. nab)")
    parser.add_argument("--path", default=None, help="read the source from this path instead of its configured one")


def parse_job_args(parser: argparse.ArgumentParser,
                   argv: Sequence[str] | None) -> tuple[argparse.Namespace, LakewatchConfig]:
    """Parse `argv`, load the config they select, and check --source if the parser has it."""
    args = parser.parse_args(argv)
    config = config_from_args(args, parser)
    source = getattr(args, "source", None)
    if source is not None and source != SYNTHETIC and source not in config.sources:
        parser.error(f"unknown source '{source}': expected 'synthetic' or one of {sorted(config.sources)}")
    return args, config


def run_job(job: str, argv: Sequence[str], config: LakewatchConfig, body: JobBody) -> int:
    """Build the session, run `body` inside a recorded run, report errors plainly; return the exit status."""
    try:
        spark = get_spark(f"lakewatch-{job}", config)
    except LakewatchError as exc:  # the catalog cannot be reached
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    progress = Progress(job, spark.sparkContext)
    try:
        with track_run(spark, config, job, argv) as record:
            status = body(spark, config, record, progress)
            record.exit_status = int(status or 0)
        return status
    except ValidationFailed as exc:
        print(f"[lakewatch] validation failed: {exc}", file=sys.stderr)
        return EXIT_VALIDATION
    except (SourceError, ConfigError, LakewatchError) as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except DELTA_CONFLICTS as exc:
        print(f"[lakewatch] error: {conflict_message(exc)}", file=sys.stderr)
        return EXIT_FAILED


def conflict_message(exc: Exception) -> str:
    """One line for a commit Delta refused because another job wrote the same table first (optimistic
    concurrency): which conflict, on what, and that nothing was half-written, so running the job again is safe."""
    first = str(getattr(exc, "desc", None) or exc).strip().splitlines()[0]
    return (f"a concurrent write conflicted with this job's ({type(exc).__name__}): {first[:400]} - Delta kept "
            "the other job's commit and refused this one (a table only ever holds whole commits); run the job again")
