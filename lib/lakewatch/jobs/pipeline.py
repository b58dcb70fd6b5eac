"""Run the whole pipeline (ingest, refine, validate, features) from a source to gold; the main job."""

from __future__ import annotations

import sys

from lakewatch import cli, report
from lakewatch.pipeline import run_pipeline
from lakewatch.sources import build_source


def parse_args(argv: list[str] | None = None):
    """Parse and validate the pipeline job's arguments."""
    parser = cli.job_parser("pipeline", __doc__)
    cli.add_source_arguments(parser)
    return cli.parse_job_args(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run every stage and print where the tables are."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        source = build_source(config, args.source, args.path)
        result = run_pipeline(spark, config, source, record.run_id, progress)
        record.rows_in, record.rows_out = result.ingest.bronze_rows, result.feature_rows
        record.details = {"ingest_id": result.ingest.ingest_id, "refine": result.refine.__dict__}
        print(report.format_pipeline(result, config))
        return cli.EXIT_OK

    return cli.run_job("pipeline", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
