"""Mark an anomaly event a true or false positive from the command line, appended to gold.feedback (no Spark)."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import ConfigError
from lakewatch.event_ids import is_event_id
from lakewatch.job_options import add_job_options, config_overrides

LABELS = {"true": True, "false": False}
EXIT_OK, EXIT_FAILED = 0, 1


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, LakewatchConfig]:
    """Parse and check the verdict's options and load the config they select (a malformed event id, a label other
    than true or false, or a bad --env/--set is a usage error naming it)."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh feedback", description=__doc__)
    add_job_options(parser)
    parser.add_argument("--event", required=True, metavar="ID",
                        help="the event's id (16 hex digits, as the API, the dashboard and alerts show it)")
    parser.add_argument("--label", required=True, type=str.lower, choices=sorted(LABELS),
                        help="true: a real anomaly (true positive); false: a false alarm (false positive)")
    parser.add_argument("--note", default=None, help="why, in a few words (optional)")
    parser.add_argument("--reviewer", default=None, help="who judged (default: the login name)")
    args = parser.parse_args(argv)
    if not is_event_id(args.event):
        parser.error(f"--event {args.event!r}: expected an event id of 16 hex digits, e.g. 3f9a0c12d4e5b678")
    try:
        config = load_config(args.env, config_overrides(args))
    except ConfigError as exc:
        parser.error(str(exc))
    return args, config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: find the event by its id, append the verdict, print it; exit 1 naming an unknown id."""
    from lakewatch.api.data import find_event
    from lakewatch.api.feedback import append_feedback, feedback_row
    from lakewatch.readers import LakeReader

    args, config = parse_args(sys.argv[1:] if argv is None else argv)
    with LakeReader(config) as reader:
        event = find_event(reader, args.event)
        if event is None:
            print(f"[lakewatch] error: --event {args.event}: no anomaly event with that id in "
                  f"{reader.tables['gold_anomalies']} (at {reader.location('gold_anomalies')})", file=sys.stderr)
            return EXIT_FAILED
        row = feedback_row(event, LABELS[args.label], args.note, args.reviewer or _login(), source="cli")
        append_feedback(reader, row)
    print(f"lakewatch feedback: {row['label']} recorded for event {row['event_id']} ({row['series_id']}/"
          f"{row['channel']}, start {row['event_start']}, peak {row['peak_score']}) by {row['reviewer']} in "
          f"{reader.tables['gold_feedback']} (feedback_id {row['feedback_id']})")
    return EXIT_OK


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


if __name__ == "__main__":
    sys.exit(main())
