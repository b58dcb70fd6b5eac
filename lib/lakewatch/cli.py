"""What every spark-submit job shares: common options, config, session, run record and exit status."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

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
from lakewatch.sources.machine_source import SOURCE_NAME as MACHINES
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


T = TypeVar("T")


def checked_settings(parser: argparse.ArgumentParser, make: Callable[[LakewatchConfig], T],
                        config: LakewatchConfig) -> T:
    """A settings section read from `config` by `make`; a bad value is a usage error naming its key."""
    try:
        return make(config)
    except ConfigError as exc:
        parser.error(str(exc))
        raise  # unreachable: parser.error exits


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --source and --path, checked by parse_job_args."""
    parser.add_argument("--source", default=SYNTHETIC,
                        help="'synthetic' (built-in data, the default), 'machines' (generated multichannel machines, "
                             "conf machines:) or a source named in conf/ (e.g. nab)")
    parser.add_argument("--path", default=None, help="read the source from this path instead of its configured one")


def parse_job_args(parser: argparse.ArgumentParser,
                   argv: Sequence[str] | None) -> tuple[argparse.Namespace, LakewatchConfig]:
    """Parse `argv`, load the config they select, and check --source if the parser has it."""
    args = parser.parse_args(argv)
    config = config_from_args(args, parser)
    source = getattr(args, "source", None)
    if source is not None and source not in (SYNTHETIC, MACHINES) and source not in config.sources:
        parser.error(f"unknown source '{source}': expected 'synthetic', 'machines' or one of {sorted(config.sources)}")
    return args, config


def stop_on_signals(job: str, unit: str) -> threading.Event:
    """An event that SIGTERM or Ctrl-C sets (with a line saying the job stops after its running `unit`), for jobs
    that run until stopped and end cleanly at a unit's end."""
    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        print(f"[{job}] signal {signum}: stopping after the running {unit}", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


def run_job(job: str, argv: Sequence[str], config: LakewatchConfig, body: JobBody) -> int:
    """Build the session, run `body` inside a recorded run, report errors plainly; return the exit status."""
    try:
        spark = get_spark(f"lakewatch-{job}", config, job=job)
    except LakewatchError as exc:  # the catalog cannot be reached
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    progress = Progress(job, spark.sparkContext)
    heap = spark.sparkContext.getConf().get("spark.driver.memory", "1g")
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
    except Exception as exc:
        message = resource_message(job, progress.failed_stage, heap, exc)
        if message is None:
            raise
        print(f"[lakewatch] error: {message}", file=sys.stderr)
        return EXIT_FAILED


# What Spark says when a job ran out of a resource, and what lakewatch says of it.
_OUT_OF_MEMORY = ("java.lang.OutOfMemoryError",)
_EXECUTOR_LOST = ("ExecutorLostFailure", "Executor heartbeat timed out", "Container killed", "worker lost")
_DRIVER_GONE = ("SparkContext was shut down", "Answer from Java side is empty", "Error while sending or receiving",
                "Cannot call methods on a stopped SparkContext")


def resource_message(job: str, stage: str | None, heap: str, exc: BaseException) -> str | None:
    """One line for a job that ran out of memory or lost an executor or its driver JVM: the stage it was in and
    what to change; None for any other error (which then surfaces as it is)."""
    text = _chain_text(exc)
    where = f"{job}: stage '{stage}'" if stage else job
    if any(marker in text for marker in _OUT_OF_MEMORY):
        detail = text[text.index("java.lang.OutOfMemoryError"):].splitlines()[0][:160]
        return (f"{where} ran out of memory ({detail}) with a {heap} driver heap; nothing was half-written (Delta "
                "commits are whole). Give Spark more memory (--driver-memory 12g in local mode, --executor-memory on "
                "a cluster), or more, smaller tasks (--set spark.rows_per_partition=500000), and run it again")
    if any(marker in text for marker in _EXECUTOR_LOST):
        return (f"{where} lost an executor (a worker died or was killed, often for memory): see the worker's log; "
                "give executors more memory (--executor-memory) or use smaller tasks "
                "(--set spark.rows_per_partition=500000), and run it again")
    if any(marker in text for marker in _DRIVER_GONE):
        return (f"{where}: the Spark driver stopped under the job (with a {heap} heap; an OutOfMemoryError or a kill "
                "ends it): see the log above; give it more memory with --driver-memory 12g and run it again")
    return None


def _chain_text(exc: BaseException) -> str:
    """The messages of an exception and of those it was raised from (Py4J errors carry the Java trace)."""
    parts, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def conflict_message(exc: Exception) -> str:
    """One line for a commit Delta refused because another job wrote the same table first (optimistic
    concurrency): which conflict, on what, and that nothing was half-written, so running the job again is safe."""
    first = str(getattr(exc, "desc", None) or exc).strip().splitlines()[0]
    return (f"a concurrent write conflicted with this job's ({type(exc).__name__}): {first[:400]} - Delta kept "
            "the other job's commit and refused this one (a table only ever holds whole commits); run the job again")
