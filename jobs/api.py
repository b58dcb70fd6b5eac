"""Serve the REST API (FastAPI on uvicorn) and its Prometheus metrics from the lakehouse's Delta tables, no Spark."""

import sys

from lakewatch.jobs.api import main

if __name__ == "__main__":
    sys.exit(main())
