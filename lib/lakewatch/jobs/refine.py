"""Type, de-duplicate and MERGE one ingest's bronze rows into silver.readings; bad rows to silver.quarantine."""

from __future__ import annotations

import sys

from pyspark.sql import functions as F

from lakewatch import cli, report
from lakewatch.pipeline import run_refine


def parse_args(argv: list[str] | None = None):
    """Parse and validate the refine job's arguments."""
    parser = cli.job_parser("refine", __doc__)
    parser.add_argument("--ingest-id", default=None, help="the ingest to refine (default: the latest one in bronze)")
    return cli.parse_job_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: refine one ingest and print where its rows went."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        ingest_id = args.ingest_id or _latest_ingest(spark, config.tables.bronze_readings)
        if ingest_id is None:
            print(f"[lakewatch] nothing to refine: {config.tables.bronze_readings} is empty", file=sys.stderr)
            return cli.EXIT_FAILED
        result = run_refine(spark, config, ingest_id, progress)
        record.rows_in, record.rows_out = result.bronze_rows, result.silver_rows
        record.details = result.__dict__
        print("\n".join([f"lakewatch refine: ingest {ingest_id}", *report.format_refine(result)]))
        return cli.EXIT_OK

    return cli.run_job("refine", argv, config, body)


def _latest_ingest(spark, table: str) -> str | None:
    if not spark.catalog.tableExists(table):
        return None
    row = spark.table(table).orderBy(F.col("ingested_at").desc()).select("ingest_id").first()
    return row[0] if row else None


if __name__ == "__main__":
    sys.exit(main())
