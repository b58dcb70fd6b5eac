"""Tune a detector's parameters on the NAB corpus with Hyperopt SparkTrials; log to MLflow, register the best."""

from __future__ import annotations

import sys

from lakewatch.jobs.tune import main

if __name__ == "__main__":
    sys.exit(main())
