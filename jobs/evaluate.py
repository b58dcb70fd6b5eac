"""Score every entity of silver.readings against its labels: point-wise and NAB metrics per entity and overall."""

from __future__ import annotations

import sys

from lakewatch.jobs.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
