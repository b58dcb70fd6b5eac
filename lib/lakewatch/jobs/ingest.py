"""Land a source's raw rows in bronze.readings (append-only; the same file twice adds nothing)."""

from __future__ import annotations

import sys

from lakewatch import cli, report
from lakewatch.pipeline import run_ingest
from lakewatch.sources import build_source


def parse_args(argv: list[str] | None = None):
    """Parse and validate the ingest job's arguments."""
    parser = cli.job_parser("ingest", __doc__)
    cli.add_source_arguments(parser)
    return cli.parse_job_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: ingest one source and print what was added and rejected."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        result = run_ingest(spark, config, build_source(config, args.source, args.path), progress)
        record.rows_out = result.bronze_rows
        record.details = {"ingest_id": result.ingest_id, "rejected_files": len(result.rejected)}
        print("\n".join(["lakewatch ingest:", *report.format_ingest(result),
                         f"next: ./spark-submit.sh refine --ingest-id {result.ingest_id}"]))
        return cli.EXIT_OK

    return cli.run_job("ingest", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
