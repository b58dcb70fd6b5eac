"""Land a source's raw rows in bronze.readings (append-only; the same file twice adds nothing)."""

from __future__ import annotations

import sys

from lakewatch.jobs.ingest import main

if __name__ == "__main__":
    sys.exit(main())
