"""Set per-series alert thresholds from reviewers' verdicts and the alert budget into ops.thresholds."""

from __future__ import annotations

import sys

from lakewatch import cli
from lakewatch.thresholds.recalibrate import recalibrate
from lakewatch.thresholds.settings import threshold_settings


def parse_args(argv: list[str] | None = None):
    """Parse and validate the recalibrate job's arguments; returns (args, config, threshold settings)."""
    parser = cli.job_parser("recalibrate", __doc__)
    parser.add_argument("--budget", type=int, default=None, metavar="K",
                        help="alerts per series and week at most (default: thresholds.budget_per_week)")
    parser.add_argument("--set-by", default="", help="who is recorded as having set the thresholds "
                                                     "(default: thresholds.set_by, else the login name)")
    parser.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    args, config = cli.parse_job_args(parser, argv)
    if args.budget is not None:
        if args.budget < 0:
            parser.error(f"--budget {args.budget}: expected 0 or more alerts per series and week")
        args.overrides.append(f"thresholds.budget_per_week={args.budget}")
        config = cli.config_from_args(args, parser)
    settings = cli.checked_settings(parser, threshold_settings, config)
    return args, config, settings


def main(argv: list[str] | None = None) -> int:
    """Entry point: choose every series' threshold, append the changes, print them."""
    argv = sys.argv[1:] if argv is None else argv
    args, config, settings = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        report = recalibrate(spark, config, settings, record.run_id, args.set_by, args.dry_run)
        record.rows_in, record.rows_out = report.verdicts, 0 if args.dry_run else report.changed
        record.details = {"series": report.series, "changed": report.changed, "raised": report.raised,
                          "lowered": report.lowered, "dry_run": args.dry_run,
                          "budget_per_week": settings.budget_per_week}
        head = f"lakewatch recalibrate: run {record.run_id}" + (" (dry run: nothing written)" if args.dry_run else "")
        print("\n".join([head, *report.lines()]))
        return cli.EXIT_OK

    return cli.run_job("recalibrate", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
