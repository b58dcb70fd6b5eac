"""Check conf/workflows.yaml, print its schedules and tasks, or write databricks.yml from it (no Spark)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from lakewatch.config import project_root
from lakewatch.workflows import WorkflowError, WorkflowFile, load_workflows
from lakewatch.workflows.bundle import BUNDLE_FILE, render
from lakewatch.workflows.schedules import as_cron

EXIT_OK, EXIT_DIFFERS, EXIT_BAD = 0, 1, 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the workflows job's arguments: a command and, optionally, the definition file."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh workflows", description=__doc__)
    parser.add_argument("command", choices=("check", "show", "bundle"),
                        help="check: validate the definition; show: print every workflow's schedule, next run "
                             "and tasks in order; bundle: write databricks.yml from it")
    parser.add_argument("--file", default=None,
                        help="the definition (default $LAKEWATCH_WORKFLOWS, else conf/workflows.yaml)")
    parser.add_argument("--out", default=None, help=f"with bundle: where to write (default {BUNDLE_FILE} at the "
                                                    "project root; '-' prints it)")
    parser.add_argument("--check", action="store_true",
                        help="with bundle: write nothing, exit 1 when the file differs from what it would write")
    args = parser.parse_args(argv)
    if args.command != "bundle" and (args.out or args.check):
        parser.error(f"--out and --check go with 'bundle', not '{args.command}'")
    return args


def plan(definition: WorkflowFile, now: datetime | None = None) -> str:
    """The definition as text: per workflow its schedule and next run, then its tasks in run order, each with
    the command, the tasks it waits for and its retries and timeout."""
    now = now or datetime.now(UTC)
    lines = [f"{definition.path}: {len(definition.workflows)} workflows"]
    for workflow in definition.workflows:
        if workflow.schedule:
            nxt = croniter(as_cron(workflow.schedule), now).get_next(datetime)
            when = f"{workflow.schedule} (next {nxt:%Y-%m-%d %H:%M} UTC)"
        else:
            when = "by hand only"
        lines += ["", f"{workflow.name}: {when}" + (f" - {workflow.description}" if workflow.description else "")]
        for name in workflow.order():
            task = workflow.task(name)
            policy = task.policy
            what = " ".join(task.command()) if task.job else f"notebook {task.notebook} (Databricks only)"
            after = f" after {', '.join(task.depends_on)}" if task.depends_on else ""
            backoff = ", doubling" if policy.exponential_backoff else ""
            retries = (f"retries {policy.retries} from {policy.retry_delay_seconds}s{backoff}" if policy.retries
                       else "no retries")
            lines.append(f"  {name:<14} {what}{after}  [{retries}, timeout {policy.timeout_minutes} min, "
                         f"{'alert' if policy.alert_on_failure else 'log'} on failure]")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: 0 when the definition is sound (and, with bundle --check, databricks.yml matches it)."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        definition = load_workflows(args.file)
    except WorkflowError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return EXIT_BAD
    if args.command == "check":
        print(f"{definition.path}: {len(definition.workflows)} workflows, "
              f"{sum(len(w.tasks) for w in definition.workflows)} tasks, all sound")
        return EXIT_OK
    if args.command == "show":
        print(plan(definition))
        return EXIT_OK
    text = render(definition)
    if args.out == "-":
        print(text, end="")
        return EXIT_OK
    out = Path(args.out) if args.out else project_root() / BUNDLE_FILE
    if args.check:
        same = out.is_file() and out.read_text() == text
        print(f"{out}: {'matches' if same else 'differs from'} {definition.path}"
              + ("" if same else "; run ./spark-submit.sh workflows bundle"))
        return EXIT_OK if same else EXIT_DIFFERS
    out.write_text(text)
    print(f"wrote {out} from {definition.path}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
