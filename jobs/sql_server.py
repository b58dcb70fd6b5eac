"""Serve the lakewatch catalog over JDBC/ODBC (Spark's Thrift server) for beeline and BI tools."""

import sys

from lakewatch.jobs.sql_server import main

if __name__ == "__main__":
    sys.exit(main())
