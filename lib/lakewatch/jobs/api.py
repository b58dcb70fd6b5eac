"""Serve the REST API (FastAPI on uvicorn) and its Prometheus metrics from the lakehouse's Delta tables, no Spark."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lakewatch.api.settings import api_settings
from lakewatch.config import LakewatchConfig, load_config
from lakewatch.errors import ConfigError
from lakewatch.job_options import add_job_options, config_overrides


def parse_args(argv: Sequence[str] | None = None) -> tuple[argparse.Namespace, LakewatchConfig]:
    """Parse and check the API's options and load the config they select (a bad --env, --set or port is a usage
    error before the server starts); --port and --address override api.port and api.address."""
    parser = argparse.ArgumentParser(prog="./spark-submit.sh api", description=__doc__)
    add_job_options(parser)
    parser.add_argument("--port", type=int, default=None, help="port to serve on (default api.port: 8000)")
    parser.add_argument("--address", default=None,
                        help="address to bind (default api.address: 127.0.0.1, this machine only)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default info)")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port {args.port}: expected a port number from 1 to 65535")
    overrides = config_overrides(args)
    overrides += [f"api.port={args.port}"] if args.port is not None else []
    overrides += [f"api.address={args.address}"] if args.address else []
    try:
        config = load_config(args.env, overrides)
        api_settings(config)
    except ConfigError as exc:
        parser.error(str(exc))
    return args, config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: serve until interrupted (SIGINT/SIGTERM stop uvicorn gracefully)."""
    import uvicorn

    from lakewatch.api import create_app

    args, config = parse_args(sys.argv[1:] if argv is None else argv)
    settings = api_settings(config)
    app = create_app(config, settings=settings)
    keyed = "set" if settings.api_key() else f"NOT set (${settings.key_env}): /score and /feedback refuse requests"
    print(f"[lakewatch] API on http://{settings.address}:{settings.port} (docs at /docs, metrics at /metrics; "
          f"API key {keyed}; Ctrl-C stops it)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=settings.address, port=settings.port, log_level=args.log_level, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
