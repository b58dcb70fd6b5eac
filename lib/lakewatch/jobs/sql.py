"""Run one SQL statement against the lakewatch catalog and print the result (e.g. SELECT * FROM gold.labels)."""

from __future__ import annotations

import sys

from lakewatch import cli


def parse_args(argv: list[str] | None = None):
    """Parse and validate the sql job's arguments."""
    parser = cli.job_parser("sql", __doc__)
    parser.add_argument("statement", help="the SQL statement, quoted")
    parser.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    args = parser.parse_args(argv)
    if args.limit <= 0:
        parser.error(f"--limit must be a positive number of rows, got {args.limit}")
    if not args.statement.strip():
        parser.error("the SQL statement is empty")
    return args, cli.config_from_args(args, parser)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the statement and show its rows."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        try:
            result = spark.sql(args.statement)
        except Exception as exc:
            record.error = f"SQL error: {str(exc).splitlines()[0]}"
            print(f"[lakewatch] {record.error}", file=sys.stderr)
            return cli.EXIT_FAILED
        result.show(args.limit, truncate=False)
        return cli.EXIT_OK

    return cli.run_job("sql", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
