"""``./spark-submit.sh catalog start|status|stop [--table-root ROOT]``: the lakehouse's catalog server by hand.

Jobs start the server themselves when they need it; ``stop`` shuts it down (the next job starts it again).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lakewatch.catalog import connecting, derby, describe, metastore_uris
from lakewatch.config import load_config
from lakewatch.errors import LakewatchError
from lakewatch.job_options import add_job_options, config_overrides


def main(argv: Sequence[str] | None = None) -> int:
    """Start, report or stop the catalog server of the lakehouse that the options select; returns the status."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh catalog", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("start", "status", "stop"))
    add_job_options(parser)
    args = parser.parse_args(argv)
    try:
        config = load_config(args.env, config_overrides(args))
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


if __name__ == "__main__":
    sys.exit(main())
