"""Check conf/workflows.yaml, print its schedules and tasks, or write databricks.yml from it (no Spark)."""

import sys

from lakewatch.jobs.workflows import main

if __name__ == "__main__":
    sys.exit(main())
