"""Score the NAB corpus with a detector on Spark, NAB v1.1 scoring, and print the scoreboard."""

from __future__ import annotations

import sys

from lakewatch.jobs.evaluate_nab import main

if __name__ == "__main__":
    sys.exit(main())
