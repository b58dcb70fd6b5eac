"""Validate silver.readings with the Great Expectations suite in conf/; exit 3 when it fails."""

from __future__ import annotations

import sys

from lakewatch.jobs.validate import main

if __name__ == "__main__":
    sys.exit(main())
