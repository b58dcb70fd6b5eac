"""Report on a period (HTML and PDF): readings, anomalies with charts and SHAP bars, precision, data quality, drift."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import ConfigError, LakewatchError
from lakewatch.job_options import add_job_options, config_overrides
from lakewatch.reporting.period import Period, parse_period

DEFAULT_SINCE = "7d"
DEFAULT_TOP = 5


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, LakewatchConfig, Period]:
    """Parse and check the report's options (a bad --since, --until, --top or config is a usage error naming it);
    return them, the config they select and the period."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh report", description=__doc__)
    add_job_options(parser)
    parser.add_argument("--out", required=True, type=Path, help="folder to write report.html and report.pdf to")
    parser.add_argument("--since", default=DEFAULT_SINCE,
                        help=f"start of the period: a duration back from its end (7d, 36h, 2w, 90m) or an ISO date "
                             f"or date-time, UTC unless it says otherwise (default {DEFAULT_SINCE})")
    parser.add_argument("--until", default=None, help="end of the period, an ISO date or date-time (default: now)")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP,
                        help=f"how many of the highest-scoring events get their own chart (default {DEFAULT_TOP})")
    args = parser.parse_args(argv)
    if not 0 <= args.top <= 50:
        parser.error(f"--top {args.top}: expected a number of events from 0 to 50")
    try:
        period = parse_period(args.since, args.until)
        config = load_config(args.env, config_overrides(args))
    except ConfigError as exc:
        parser.error(str(exc))
    return args, config, period


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: gather the period's report from the lakehouse (no Spark), write it, print where."""
    from lakewatch.dashboard.data import open_data
    from lakewatch.reporting import gather, write_report

    args, config, period = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        data = open_data(config)
        try:
            report = gather(data, period, top=args.top)
        finally:
            data.reader.close()
        written = write_report(report, args.out)
    except LakewatchError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return 1
    print(f"[lakewatch] report of {period}: {written.html} and {written.pdf} ({written.pages} pages, "
          f"{len(report.events)} events, {len(report.top)} charted)", file=sys.stderr)
    for section, why in report.notes.items():
        print(f"[lakewatch]   {section}: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
