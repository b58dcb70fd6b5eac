"""ops.pipeline_runs: one row per job run, written when the run ends, whether it succeeded or not."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from lakewatch import schemas, tables
from lakewatch.config import LakewatchConfig
from lakewatch.provenance import git_commit, new_run_id


@dataclass
class RunRecord:
    """What a job reports about itself while it runs."""

    job: str
    args: Sequence[str]
    run_id: str = field(default_factory=new_run_id)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    rows_in: int = 0
    rows_out: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    #: The job's exit status (lakewatch.cli.run_job sets it); non-zero records the run as failed.
    exit_status: int = 0
    #: Why the job failed when it ends with a non-zero status rather than an exception.
    error: str | None = None


@contextmanager
def track_run(spark: SparkSession, config: LakewatchConfig, job: str, args: Sequence[str]) -> Iterator[RunRecord]:
    """Yield a RunRecord for the job to fill in, then append it to ops.pipeline_runs with its status.

    A failure is recorded with its error and re-raised; a job that ends with a non-zero `exit_status` is recorded
    as failed too, with its `error` (or the status), so a scheduler and ops.pipeline_runs agree.
    """
    record = RunRecord(job=job, args=list(args))
    try:
        yield record
    except BaseException as exc:
        try:
            _write(spark, config, record, "failed", f"{type(exc).__name__}: {exc}")
        except Exception as failed:  # the session itself is gone (the driver JVM died): keep the job's own error
            print(f"[lakewatch] could not record the failed run in {config.tables.ops_pipeline_runs}: "
                  f"{type(failed).__name__}", file=sys.stderr)
        raise
    if record.exit_status:
        _write(spark, config, record, "failed", record.error or f"exited with status {record.exit_status}")
    else:
        _write(spark, config, record, "succeeded", None)


def _write(spark: SparkSession, config: LakewatchConfig, record: RunRecord, status: str, error: str | None) -> None:
    row = (
        record.run_id, record.job, json.dumps(list(record.args)), record.started_at,
        datetime.now(UTC), int(record.rows_in), int(record.rows_out), status,
        (error or "")[:4000] or None, json.dumps(record.details, default=str), git_commit(), config.config_hash,
    )
    name = config.tables.ops_pipeline_runs
    tables.ensure_table(spark, config, name, schemas.OPS_PIPELINE_RUNS)
    tables.append(spark.createDataFrame([row], schemas.OPS_PIPELINE_RUNS), name)
