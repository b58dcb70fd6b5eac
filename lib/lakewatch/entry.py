"""The ``lakewatch`` command of an installed wheel: ``lakewatch <job> [job options]`` runs one job.

Every job is a module of :mod:`lakewatch.jobs` with ``main(argv) -> int``; ``jobs/<job>.py`` in the repository
are the thin files spark-submit runs and call the same ``main``. The wheel also has one console script per job
(``lakewatch-<job>``, its module's ``main``), the entry points a Databricks ``python_wheel_task`` names.
Nothing here imports Spark until a job runs, so ``lakewatch --help`` answers at once.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
from collections.abc import Sequence

JOBS_PACKAGE = "lakewatch.jobs"


def job_names() -> list[str]:
    """Every job the package carries, sorted (the modules of lakewatch.jobs not starting with '_')."""
    package = importlib.import_module(JOBS_PACKAGE)
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_"))


def job_summary(name: str) -> str:
    """The first line of a job module's docstring, read from its source without importing it (no Spark)."""
    spec = importlib.util.find_spec(f"{JOBS_PACKAGE}.{name}")
    if spec is None or spec.origin is None:
        return ""
    with open(spec.origin, encoding="utf-8") as source:
        doc = ast.get_docstring(ast.parse(source.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def usage() -> str:
    """The command's help: its form and every job with its summary."""
    lines = ["usage: lakewatch <job> [job options]   (lakewatch <job> --help for a job's options)", "", "jobs:"]
    lines += [f"  {name:<14} {job_summary(name)}" for name in job_names()]
    return "\n".join(lines)


def run(name: str, argv: Sequence[str]) -> int:
    """Run job `name` with its own arguments `argv`; returns its exit status."""
    module = importlib.import_module(f"{JOBS_PACKAGE}.{name}")
    return int(module.main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """``lakewatch <job> [options]``: dispatch to the job, or print the jobs; exit status 2 for an unknown job."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = args[0], args[1:]
    if name not in job_names():
        print(usage(), file=sys.stderr)
        print(f"lakewatch: error: unknown job {name!r}; expected one of {job_names()}", file=sys.stderr)
        return 2
    return run(name, rest)


if __name__ == "__main__":
    sys.exit(main())
