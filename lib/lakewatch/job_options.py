"""The options every job takes (--env, --set, --table-root) and the config overrides they make.

Kept free of Spark so that spark-submit.sh can read a job's lakehouse before starting it (``python -m
lakewatch.layout --derby-home``); :mod:`lakewatch.cli` builds every job's parser from them.
"""

from __future__ import annotations

import argparse


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """Add --env, --set (repeatable) and --table-root to `parser`."""
    parser.add_argument("--env", default=None, help="config environment: conf/<env>.yaml over conf/base.yaml "
                                                     "(default: $LAKEWATCH_ENV or local)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config value, e.g. --set synthetic.series=100 (repeatable)")
    parser.add_argument("--table-root", default=None, help="lakehouse root (default: delta_tables/ in the project)")


def config_overrides(args: argparse.Namespace) -> list[str]:
    """The ``key=value`` overrides parsed job options make: every --set, then --table-root (which wins)."""
    overrides = list(args.overrides)
    if args.table_root:
        overrides.append(f"table_root={args.table_root}")
    return overrides
