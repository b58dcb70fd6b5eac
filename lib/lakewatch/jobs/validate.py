"""Validate silver.readings with the Great Expectations suite in conf/; exit 3 when it fails."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.pipeline import run_validation


def parse_args(argv: list[str] | None = None):
    """Parse and validate the validate job's arguments."""
    return cli.parse_job_args(cli.job_parser("validate", __doc__), argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the suite, record it in ops.validation_runs, print the Data Docs location."""
    argv = sys.argv[1:] if argv is None else argv
    _, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        result = run_validation(spark, config, record.run_id, progress)
        record.details = {"expectations": result.evaluated}
        print(f"lakewatch validate: suite '{result.suite}' passed ({result.evaluated} expectations)\n"
              f"  data docs: {result.data_docs}")
        return cli.EXIT_OK

    return cli.run_job("validate", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
