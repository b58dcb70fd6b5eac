"""Mark an anomaly event a true or false positive from the command line, appended to gold.feedback (no Spark)."""

from __future__ import annotations

import sys

from lakewatch.jobs.feedback import main

if __name__ == "__main__":
    sys.exit(main())
