"""Serve the operator dashboard (Streamlit) on the lakehouse's Delta tables, read without Spark or a JVM."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lakewatch.config import load_config
from lakewatch.dashboard.settings import OPTIONS_ENV, app_path, encode_options
from lakewatch.errors import ConfigError
from lakewatch.job_options import add_job_options, config_overrides

DEFAULT_PORT = 8501
DEFAULT_ADDRESS = "127.0.0.1"


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    """Parse and check the dashboard's options; return them and the job options to pass on to the app.

    The config they select is loaded once here, so a bad --env or --set is a usage error before the server starts.
    """
    parser = argparse.ArgumentParser(prog="./spark-submit.sh dashboard", description=__doc__)
    add_job_options(parser)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument("--address", default=DEFAULT_ADDRESS,
                        help=f"address to bind (default {DEFAULT_ADDRESS}: this machine only)")
    parser.add_argument("--refresh", type=int, default=15, metavar="SECONDS",
                        help="how long a page's data is cached before it is read again (default 15)")
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected a port number from 1 to 65535")
    if args.refresh < 1:
        parser.error(f"--refresh {args.refresh}: expected at least 1 second")
    try:
        load_config(args.env, config_overrides(args))
    except ConfigError as exc:
        parser.error(str(exc))
    job_options = [*(["--env", args.env] if args.env else []),
                   *[item for o in args.overrides for item in ("--set", o)],
                   *(["--table-root", args.table_root] if args.table_root else [])]
    return args, job_options


def streamlit_command(args: argparse.Namespace) -> list[str]:
    """The `streamlit run` command line serving the app with `args`' port and address, headless, no telemetry."""
    return [sys.executable, "-m", "streamlit", "run", str(app_path()),
            "--server.port", str(args.port), "--server.address", args.address, "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--global.developmentMode", "false",
            "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer", "--runner.magicEnabled", "false"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: replace this process with the Streamlit server (so a signal to the job stops the server)."""
    argv = sys.argv[1:] if argv is None else argv
    args, job_options = parse_args(argv)
    env = {**os.environ, OPTIONS_ENV: encode_options(job_options, args.refresh)}
    command = streamlit_command(args)
    print(f"[lakewatch] dashboard on http://{args.address}:{args.port} (Ctrl-C stops it)", file=sys.stderr, flush=True)
    os.execve(command[0], command, env)
    return 0  # unreachable: execve does not return


if __name__ == "__main__":
    sys.exit(main())
