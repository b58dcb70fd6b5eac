"""Set per-series alert thresholds from reviewers' verdicts and the alert budget into ops.thresholds."""

from __future__ import annotations

import sys

from lakewatch.jobs.recalibrate import main

if __name__ == "__main__":
    sys.exit(main())
