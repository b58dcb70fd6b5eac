"""``./spark-submit.sh catalog start|status|stop|env [--table-root ROOT]``: the lakehouse's catalog server by hand.

Jobs start the server themselves when they need it; ``stop`` shuts it down (the next job starts it again).
``env`` starts it if needed and prints the one environment setting that points a driver started elsewhere
(cluster deploy mode) at the same catalog: ``LAKEWATCH_METASTORE_URL=jdbc:derby://...`` or, with a Hive
metastore service, ``LAKEWATCH_METASTORE_URIS=thrift://...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lakewatch.catalog import (
    CONNECTION_URL,
    METASTORE_URIS_ENV,
    METASTORE_URL_ENV,
    connecting,
    derby,
    describe,
    metastore_uris,
)
from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import LakewatchError
from lakewatch.job_options import add_job_options, config_overrides


def main(argv: Sequence[str] | None = None) -> int:
    """Start, report or stop the catalog server of the lakehouse that the options select; returns the status."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh catalog", description=__doc__.splitlines()[0],
                                     allow_abbrev=False)
    parser.add_argument("action", choices=("start", "status", "stop", "env"))
    add_job_options(parser)
    # `env` is given a job's whole command line (spark-submit.sh in cluster deploy mode): it ignores the job's own.
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.action != "env":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        config = load_config(args.env, config_overrides(args))
        if args.action == "env":
            return _print_env(config)
        if metastore_uris(config):
            print(f"[lakewatch] {describe(config)} is a Hive metastore service: lakewatch neither starts nor stops it")
            return 0
        lakehouse = config.lakehouse
        if args.action == "start":
            from lakewatch.spark import local_jars

            with connecting(config, local_jars()):
                pass
        if args.action in ("start", "status"):
            server = derby.recorded_server(lakehouse)
            if server is None or not derby.answers(server):
                print(f"[lakewatch] no catalog server is running for table root {lakehouse.root}")
                return 3
            print(f"[lakewatch] {describe(config)}: Derby network server pid {server.pid}")
            return 0
        stopped = derby.stop_server(lakehouse)
        print(f"[lakewatch] stopped the catalog server pid {stopped.pid} on port {stopped.port} of table root "
              f"{lakehouse.root}" if stopped else f"[lakewatch] no catalog server was running for {lakehouse.root}")
        return 0
    except LakewatchError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return 1


def _print_env(config: LakewatchConfig) -> int:
    uris = metastore_uris(config)
    if uris:
        print(f"{METASTORE_URIS_ENV}={uris}")
        return 0
    from lakewatch.spark import local_jars

    with connecting(config, local_jars()) as settings:
        print(f"{METASTORE_URL_ENV}={settings[CONNECTION_URL]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
