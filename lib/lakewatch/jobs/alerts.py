"""Bring the alerts outbox (ops.alerts) up to date from gold.anomalies and deliver pending and retriable alerts."""

from __future__ import annotations

import sys
import time

from lakewatch import cli
from lakewatch.errors import ConfigError
from lakewatch.streaming.settings import parse_trigger


def parse_args(argv: list[str] | None = None):
    """Parse and validate the alerts job's arguments; returns (args, config, AlertsSettings, trigger text)."""
    from lakewatch.alerts.rules import alerts_settings

    parser = cli.job_parser("alerts", __doc__)
    parser.add_argument("--trigger", default=None,
                        help="availableNow (one pass, then stop) or processingTime=<interval> (a pass every "
                             "interval until SIGTERM); default alerts.trigger")
    args, config = cli.parse_job_args(parser, argv)
    settings = cli.checked_settings(parser, alerts_settings, config)
    trigger = args.trigger or settings.trigger
    try:
        parse_trigger(trigger)
    except ConfigError as exc:
        parser.error(f"--trigger: {exc}")
    if not settings.rules:
        parser.error("alerts.rules is empty: expected at least one rule in conf (README 'Alerts')")
    return args, config, settings, trigger


def main(argv: list[str] | None = None) -> int:
    """Entry point: one pass (availableNow) or a pass every interval until SIGTERM / Ctrl-C."""
    argv = sys.argv[1:] if argv is None else argv
    _, config, settings, trigger = parse_args(argv)
    stop = cli.stop_on_signals("alerts", "pass")

    def body(spark, config, record, progress) -> int:
        from lakewatch.alerts.job import run_alerts

        interval = parse_trigger(trigger).get("processingTime")
        seconds = None if interval is None else float(interval.split()[0]) / 1000
        report = run_alerts(spark, config, settings, progress, seconds, stop)
        record.rows_out = report.total(("sent",))
        record.details = {"passes": report.passes, "statuses": report.statuses}
        print(f"lakewatch alerts: {report.passes} passes; {report.line()}")
        return cli.EXIT_OK  # failed alerts are recorded with their errors; the job itself went on

    began = time.perf_counter()
    try:
        return cli.run_job("alerts", argv, config, body)
    finally:
        print(f"[alerts] done in {time.perf_counter() - began:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
