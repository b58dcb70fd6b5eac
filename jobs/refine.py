"""Type, de-duplicate and MERGE one ingest's bronze rows into silver.readings; bad rows to silver.quarantine."""

from __future__ import annotations

import sys

from lakewatch.jobs.refine import main

if __name__ == "__main__":
    sys.exit(main())
