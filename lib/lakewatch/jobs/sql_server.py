"""Serve the lakewatch catalog over JDBC/ODBC (Spark's Thrift server) for beeline and BI tools."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from lakewatch import catalog, cli
from lakewatch.config import LakewatchConfig
from lakewatch.errors import ConfigError, LakewatchError
from lakewatch.spark import local_jars, session_conf

THRIFT_SERVER = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"
DEFAULT_PORT = 10000


def parse_args(argv: list[str] | None = None):
    """Parse and validate the sql_server job's arguments."""
    parser = cli.job_parser("sql_server", __doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1: this machine only; see the README before "
                             "binding another, as there is no authentication unless --hiveconf turns one on)")
    parser.add_argument("--master", default=os.environ.get("LAKEWATCH_MASTER", "local[*]"),
                        help="Spark master (default $LAKEWATCH_MASTER or local[*])")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE",
                        help="a Spark setting for the server's session (repeatable)")
    parser.add_argument("--hiveconf", action="append", default=[], metavar="KEY=VALUE",
                        help="a HiveServer2 setting, e.g. hive.server2.authentication=LDAP (repeatable)")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port must be a TCP port (1-65535), got {args.port}")
    for option, values in (("--conf", args.conf), ("--hiveconf", args.hiveconf)):
        for value in values:
            if "=" not in value:
                parser.error(f"{option} {value!r} must look like KEY=VALUE")
    return args, cli.config_from_args(args, parser)


def submit_command(args, config: LakewatchConfig, catalog_conf: dict[str, str]) -> list[str]:
    """The spark-submit command line that runs the Thrift server on the lakehouse's catalog, Delta included."""
    import pyspark

    jars = local_jars()
    if not jars:
        raise ConfigError("the Thrift server needs the launcher's resolved jars: run ./spark-submit.sh setup")
    conf = session_conf(config, catalog_conf)
    conf.pop("spark.jars", None)
    # Thrift sessions load classes through the driver's own class path, where --jars may not reach: put Delta
    # (and the catalog's client) there too.
    conf["spark.driver.extraClassPath"] = ":".join(jars)
    command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--master", args.master,
               "--name", "lakewatch-sql_server", "--jars", ",".join(jars), "--class", THRIFT_SERVER]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    for setting in args.conf:
        command += ["--conf", setting]
    command += ["spark-internal", "--hiveconf", f"hive.server2.thrift.port={args.port}",
                "--hiveconf", f"hive.server2.thrift.bind.host={args.host}"]
    for setting in args.hiveconf:
        command += ["--hiveconf", setting]
    return command


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def main(argv: list[str] | None = None) -> int:
    """Entry point: start the catalog if needed, then run the Thrift server in place of this process."""
    argv = sys.argv[1:] if argv is None else argv
    args, config = parse_args(argv)
    try:
        with catalog.connecting(config, local_jars()) as catalog_conf:
            command = submit_command(args, config, catalog_conf)
    except LakewatchError as exc:
        print(f"[lakewatch] error: {exc}", file=sys.stderr)
        return cli.EXIT_FAILED
    authenticated = any(s.startswith("hive.server2.authentication=") and not s.endswith("=NONE")
                        for s in args.hiveconf)
    if not _loopback(args.host) and not authenticated:
        print(f"[lakewatch] warning: {args.host}:{args.port} has no authentication: anyone who reaches it can read "
              f"and change every table (see the README, 'SQL endpoint')", file=sys.stderr)
    print(f"[lakewatch] SQL endpoint jdbc:hive2://{args.host}:{args.port}/default on {catalog.describe(config)}; "
          f"stop it with Ctrl-C or kill {os.getpid()}", file=sys.stderr, flush=True)
    os.execv(command[0], command)  # the server's pid is this one: a signal to it stops the server
    return cli.EXIT_FAILED  # unreachable


if __name__ == "__main__":
    sys.exit(main())
