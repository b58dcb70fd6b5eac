"""Run one SQL statement against the lakewatch catalog and print the result (e.g. SELECT * FROM gold.labels)."""

from __future__ import annotations

import sys

from lakewatch.jobs.sql import main

if __name__ == "__main__":
    sys.exit(main())
