"""Recompute gold.features (causal rolling statistics, lags, time encodings) from silver.readings."""

from __future__ import annotations

import sys

from lakewatch.jobs.features import main

if __name__ == "__main__":
    sys.exit(main())
