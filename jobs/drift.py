"""Compare every series' recent window with its reference period into gold.drift_metrics; open retrain requests."""

from __future__ import annotations

import sys

from lakewatch.jobs.drift import main

if __name__ == "__main__":
    sys.exit(main())
