"""Compare every series' recent window with its reference period into gold.drift_metrics; open retrain requests."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from lakewatch import cli
from lakewatch.alerts.drift import notify_drift
from lakewatch.alerts.rules import alerts_settings
from lakewatch.drift.decisions import new_requests
from lakewatch.drift.run import format_report, run_drift
from lakewatch.drift.settings import drift_settings
from lakewatch.errors import ConfigError
from lakewatch.retrain.run import FAILED, run_retrain
from lakewatch.retrain.settings import retrain_settings


def parse_args(argv: list[str] | None = None):
    """Parse and validate the drift job's arguments; returns (args, config, drift settings); the alerts settings
    (for drift alerts) end up in ``args.alerts``."""
    parser = cli.job_parser("drift", __doc__)
    parser.add_argument("--reference", default=None,
                        help="length of the reference period before the window, e.g. 30d (default: drift.reference)")
    parser.add_argument("--window", default=None, help="length of the recent window, e.g. 24h (default: drift.window)")
    parser.add_argument("--now", default=None, metavar="TIMESTAMP",
                        help="the end of the window, ISO 8601 (UTC unless it says otherwise), e.g. "
                             "2026-01-07T00:00:00Z (default: the newest reading in silver.readings)")
    parser.add_argument("--auto-retrain", action="store_true",
                        help="then carry out every open retrain request (./spark-submit.sh retrain; settings in "
                             "the retrain: section)")
    args, config = cli.parse_job_args(parser, argv)
    try:
        settings = drift_settings(config).with_overrides(reference=args.reference, window=args.window)
        args.alerts = alerts_settings(config)
        args.retrain = retrain_settings(config) if args.auto_retrain else None
    except ConfigError as exc:
        parser.error(str(exc))
    args.now = _timestamp(args.now, parser) if args.now else None
    return args, config, settings


def _timestamp(text: str, parser) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        parser.error(f"--now {text!r}: expected an ISO 8601 timestamp, e.g. 2026-01-07T00:00:00Z")
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure drift for every series and print what was found."""
    argv = sys.argv[1:] if argv is None else argv
    args, config, settings = parse_args(argv)

    def body(spark, config, record, progress) -> int:
        report = run_drift(spark, config, settings, record.run_id, args.now)
        record.rows_in, record.rows_out = report.measured, report.inserted + report.updated
        record.details = {**{k: v for k, v in report.__dict__.items() if k not in ("periods", "examples")},
                          "window_end": report.periods.window_end.isoformat(), "reference": settings.reference,
                          "window": settings.window}
        print("\n".join([f"lakewatch drift: run {record.run_id}", *format_report(report, settings)]))
        if args.alerts.drift_channels:
            sent = notify_drift(spark, config, args.alerts,
                                new_requests(spark, config.tables.ops_retrain_requests, record.run_id))
            record.details["drift_alerts"] = sent.statuses
            counts = ", ".join(f"{n} {status}" for status, n in sorted(sent.statuses.items())) or "none new"
            print(f"  drift alerts         {counts} (channels {', '.join(args.alerts.drift_channels)})")
        if args.retrain is not None:
            retrained = run_retrain(spark, config, args.retrain, record.run_id, progress)
            record.details["retrain"] = {d.request.request_id: d.decision for d in retrained.decisions}
            print("\n".join(["  retrain (--auto-retrain)", *retrained.lines()]))
            return cli.EXIT_FAILED if retrained.count(FAILED) else cli.EXIT_OK
        return cli.EXIT_OK

    return cli.run_job("drift", argv, config, body)


if __name__ == "__main__":
    sys.exit(main())
