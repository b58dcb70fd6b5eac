"""Recompute gold.features (causal rolling statistics, lags, time encodings) from silver.readings."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.pipeline import run_features


def parse_args(argv: list[str] | None = None):
    """Parse and validate the features job's arguments."""
    return cli.parse_job_args(cli.job_parser("features", __doc__), argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: write gold.features and print its row count."""
    argv = sys.argv[1:] if argv is None else argv
    _, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        record.rows_out = run_features(spark, config, progress)
        print(f"lakewatch features: {record.rows_out:,} rows in {config.tables.gold_features}")
        return cli.EXIT_OK

    return cli.run_job("features", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
